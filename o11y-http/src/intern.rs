//! Interned strings: values that repeat from request to request (route
//! templates, span names, host names, user agents) are copied once and then
//! recorded as `&'static str`, so that a request neither allocates nor frees
//! them, and no reference count is shared between cores.
//!
//! Every table is bounded: past [`LIMIT`] entries, or for a value longer than
//! [`MAX_LEN`] bytes, callers copy the value as before. What is interned is
//! leaked on purpose and lives as long as the process: at most
//! `LIMIT * MAX_LEN` bytes per table.
//!
//! Lookups go first to a small cache of the calling thread (hash, then the
//! bytes compared), which takes no lock and touches no shared cache line;
//! only a miss reads the process-wide table under its lock.

use std::{
    cell::Cell,
    collections::HashMap,
    hash::{BuildHasher, Hasher},
    sync::{OnceLock, PoisonError, RwLock},
};

/// Entries of a thread's cache (a power of two).
const WAYS: usize = 64;

fn slot(hash: u64) -> usize {
    // The top bits: the multiply in `WordHasher` mixes upwards.
    (hash >> 58) as usize % WAYS
}

/// The hash every cache and table uses for `value`.
fn hash_of(value: &str) -> u64 {
    Words::default().hash_one(value)
}

/// The most entries a table keeps.
pub(crate) const LIMIT: usize = 512;
/// The longest value a table keeps, in bytes.
pub(crate) const MAX_LEN: usize = 256;

/// A bounded, process-wide set of strings.
pub(crate) struct Strings {
    /// Tells this table's entries apart in the threads' shared cache.
    id: u8,
    map: OnceLock<RwLock<HashMap<&'static str, (), Words>>>,
}

thread_local! {
    static STRINGS: [Cell<(u64, u8, &'static str)>; WAYS] =
        const { [const { Cell::new((0, 0, "")) }; WAYS] };
}

impl Strings {
    /// A table; `id` must differ from every other table's.
    pub(crate) const fn new(id: u8) -> Self {
        Self {
            id,
            map: OnceLock::new(),
        }
    }

    /// `value`, interned; `None` when the table is full or `value` too long.
    pub(crate) fn get(&self, value: &str) -> Option<&'static str> {
        let hash = hash_of(value);
        let cached = STRINGS
            .try_with(|cache| {
                let (h, id, s) = cache.get(slot(hash))?.get();
                (h == hash && id == self.id && s == value).then_some(s)
            })
            .ok()
            .flatten();
        if cached.is_some() {
            return cached;
        }
        let found = self.lookup(value)?;
        let _ = STRINGS.try_with(|cache| {
            if let Some(c) = cache.get(slot(hash)) {
                c.set((hash, self.id, found));
            }
        });
        Some(found)
    }

    fn lookup(&self, value: &str) -> Option<&'static str> {
        let map = self.map.get_or_init(Default::default);
        {
            let read = map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((k, _)) = read.get_key_value(value) {
                return Some(k);
            }
            if read.len() >= LIMIT || value.len() > MAX_LEN {
                return None;
            }
        }
        let mut write = map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((k, _)) = write.get_key_value(value) {
            return Some(k);
        }
        if write.len() >= LIMIT {
            return None;
        }
        let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
        write.insert(leaked, ());
        Some(leaked)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.get().map_or(0, |m| {
            m.read().unwrap_or_else(PoisonError::into_inner).len()
        })
    }
}

/// A route template and the span names made from it, one per method slot.
pub(crate) struct Route {
    pub(crate) template: &'static str,
    names: [OnceLock<&'static str>; crate::metrics::METHODS.len()],
}

impl Route {
    /// `{method} {template}`, made once per method.
    pub(crate) fn span_name(&'static self, method: &'static str) -> Option<&'static str> {
        let cell = self.names.get(crate::metrics::method_slot(method))?;
        Some(cell.get_or_init(|| {
            Box::leak(crate::semconv::span_name(method, Some(self.template)).into_boxed_str())
        }))
    }
}

thread_local! {
    static ROUTES: [Cell<(u64, Option<&'static Route>)>; WAYS] =
        const { [const { Cell::new((0, None)) }; WAYS] };
}

/// The interned route `template`; `None` when the table is full or the
/// template too long.
pub(crate) fn route(template: &str) -> Option<&'static Route> {
    let hash = hash_of(template);
    let cached = ROUTES
        .try_with(|cache| {
            let (h, route) = cache.get(slot(hash))?.get();
            route.filter(|r| h == hash && r.template == template)
        })
        .ok()
        .flatten();
    if cached.is_some() {
        return cached;
    }
    let found = lookup_route(template)?;
    let _ = ROUTES.try_with(|cache| {
        if let Some(c) = cache.get(slot(hash)) {
            c.set((hash, Some(found)));
        }
    });
    Some(found)
}

fn lookup_route(template: &str) -> Option<&'static Route> {
    type Table = RwLock<HashMap<&'static str, &'static Route, Words>>;
    static TABLE: OnceLock<Table> = OnceLock::new();
    let table = TABLE.get_or_init(Default::default);
    {
        let read = table.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(route) = read.get(template) {
            return Some(route);
        }
        if read.len() >= LIMIT || template.len() > MAX_LEN {
            return None;
        }
    }
    let mut write = table.write().unwrap_or_else(PoisonError::into_inner);
    if let Some(route) = write.get(template) {
        return Some(route);
    }
    if write.len() >= LIMIT {
        return None;
    }
    let route: &'static Route = Box::leak(Box::new(Route {
        template: Box::leak(template.to_owned().into_boxed_str()),
        names: Default::default(),
    }));
    write.insert(route.template, route);
    Some(route)
}

/// A word-at-a-time hash (8 bytes per multiply): the keys are short strings
/// and are looked up on every request. The seed differs per process.
#[derive(Clone, Copy)]
pub(crate) struct Words(u64);

impl Default for Words {
    fn default() -> Self {
        static SEED: OnceLock<u64> = OnceLock::new();
        Self(*SEED.get_or_init(|| {
            std::collections::hash_map::RandomState::new().hash_one(0x006f_1179_u64) | 1
        }))
    }
}

impl BuildHasher for Words {
    type Hasher = WordHasher;
    fn build_hasher(&self) -> WordHasher {
        WordHasher(self.0)
    }
}

pub(crate) struct WordHasher(u64);

impl WordHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for WordHasher {
    fn finish(&self) -> u64 {
        // Fold the high bits down: hashbrown takes its buckets from the low
        // bits and its tags from the top seven.
        self.0 ^ (self.0 >> 29)
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            if let Some(dst) = word.get_mut(..rest.len()) {
                dst.copy_from_slice(rest);
            }
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_once_and_stops_at_the_limit() {
        static T: Strings = Strings::new(200);
        let a = T.get("GET /users/{id}").unwrap();
        let b = T.get(&String::from("GET /users/{id}")).unwrap();
        assert!(std::ptr::eq(a, b), "the same copy");
        assert_eq!(T.get(&"x".repeat(MAX_LEN + 1)), None, "too long");
        for i in 0..LIMIT * 2 {
            let _ = T.get(&format!("v{i}"));
        }
        assert_eq!(T.len(), LIMIT);
        assert_eq!(T.get("not yet seen"), None, "full");
        // Another table holding the same text hands out its own copy.
        static U: Strings = Strings::new(201);
        let c = U.get("GET /users/{id}").unwrap();
        assert!(!std::ptr::eq(a, c));
        assert!(std::ptr::eq(U.get("GET /users/{id}").unwrap(), c));
        assert!(std::ptr::eq(T.get("GET /users/{id}").unwrap(), a), "kept");
    }

    #[test]
    fn routes_and_their_span_names_are_made_once() {
        let a = route("/orders/{id}").unwrap();
        let b = route("/orders/{id}").unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!(a.template, "/orders/{id}");
        let get = a.span_name("GET").unwrap();
        assert_eq!(get, "GET /orders/{id}");
        assert!(std::ptr::eq(get, b.span_name("GET").unwrap()));
        assert_eq!(a.span_name("_OTHER"), Some("_OTHER /orders/{id}"));
    }

    #[test]
    fn the_hash_tells_short_keys_apart() {
        let h = |s: &str| Words(1).hash_one(s);
        let keys = [
            "",
            "a",
            "b",
            "ab",
            "ba",
            "abcdefgh",
            "abcdefghi",
            "abcdefgi",
        ];
        let hashes: std::collections::HashSet<u64> = keys.iter().map(|k| h(k)).collect();
        assert_eq!(hashes.len(), keys.len());
    }
}
