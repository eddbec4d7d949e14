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
    thread::LocalKey,
};

/// Entries of a thread's cache (a power of two).
const WAYS: usize = 64;

/// The two entries of the set that `hash` goes to, in a two-way cache of
/// `ways` entries (a power of two, at least 2). A cache keeps the entry used
/// last in the first, so two keys sharing a set do not evict each other.
pub(crate) fn set(hash: u64, ways: usize) -> (usize, usize) {
    // Bits of the high word: hashbrown uses the low ones, and the multiply
    // in `WordHasher` mixes upwards.
    let first = (hash >> 32) as usize & (ways - 1) & !1;
    (first, first | 1)
}

/// `n` keys (`prefix-0`, `prefix-1`, ...) that `set_of` puts in one set.
#[cfg(test)]
pub(crate) fn keys_in_one_set(
    prefix: &str,
    n: usize,
    set_of: impl Fn(&str) -> (usize, usize),
) -> Vec<String> {
    let mut by_set: HashMap<(usize, usize), Vec<String>> = HashMap::new();
    for i in 0.. {
        let key = format!("{prefix}-{i}");
        let keys = by_set.entry(set_of(&key)).or_default();
        keys.push(key);
        if keys.len() == n {
            return keys.clone();
        }
    }
    unreachable!("the loop returns")
}

/// The most entries a table keeps.
pub(crate) const LIMIT: usize = 512;
/// The longest key a table keeps, in bytes.
pub(crate) const MAX_LEN: usize = 256;

/// The most tables sharing one thread cache.
const TABLES: usize = 16;

/// A cached entry: (hash, table id, key, value).
type Entry<V> = (u64, u8, &'static str, &'static V);

/// A thread's cache of the entries it looked up last: (hash, table id, key,
/// value), and for each table the entry it found last, kept apart from the
/// ways: a value that repeats from one request to the next is found there
/// without hashing, even when another table's value shares its way. Tables
/// with values of one type share one.
struct Cache<V: 'static> {
    ways: [Cell<Option<Entry<V>>>; WAYS],
    last: [Cell<Option<(&'static str, &'static V)>>; TABLES],
}

impl<V> Cache<V> {
    const fn new() -> Self {
        Self {
            ways: [const { Cell::new(None) }; WAYS],
            last: [const { Cell::new(None) }; TABLES],
        }
    }
}

thread_local! {
    static STRINGS: Cache<()> = const { Cache::new() };
    static ROUTES: Cache<Route> = const { Cache::new() };
}

/// A bounded, process-wide table from text to a value made once from it.
pub(crate) struct Table<V: 'static> {
    /// Tells this table's entries apart in the threads' shared cache.
    id: u8,
    cache: &'static LocalKey<Cache<V>>,
    map: OnceLock<RwLock<HashMap<&'static str, &'static V, Words>>>,
}

impl<V: Sync> Table<V> {
    /// A table; `id` must differ from that of every other table sharing
    /// `cache`, and be below [`TABLES`].
    const fn new(id: u8, cache: &'static LocalKey<Cache<V>>) -> Self {
        assert!((id as usize) < TABLES, "a table id below TABLES");
        Self {
            id,
            cache,
            map: OnceLock::new(),
        }
    }

    /// The interned `key` and its value (made by `make` the first time);
    /// `None` when the table is full or `key` too long.
    pub(crate) fn get(
        &self,
        key: &str,
        make: impl FnOnce(&'static str) -> V,
    ) -> Option<(&'static str, &'static V)> {
        let table = usize::from(self.id);
        // This table's last entry on this thread: no hash.
        let last = self
            .cache
            .try_with(|cache| {
                let (k, v) = cache.last.get(table)?.get()?;
                (k == key).then_some((k, v))
            })
            .ok()
            .flatten();
        if last.is_some() {
            return last;
        }
        let hash = Words::default().hash_one(key);
        let (first, second) = set(hash, WAYS);
        let remember = |cache: &Cache<V>, found: (&'static str, &'static V)| {
            if let Some(last) = cache.last.get(table) {
                last.set(Some(found));
            }
        };
        let cached = self
            .cache
            .try_with(|cache| {
                let (a, b) = (cache.ways.get(first)?, cache.ways.get(second)?);
                let is = |e: Option<Entry<V>>| {
                    e.filter(|&(h, id, k, _)| h == hash && id == self.id && k == key)
                        .map(|(_, _, k, v)| (k, v))
                };
                let hit = match is(a.get()) {
                    Some(hit) => hit,
                    None => {
                        let hit = is(b.get())?;
                        a.swap(b);
                        hit
                    }
                };
                remember(cache, hit);
                Some(hit)
            })
            .ok()
            .flatten();
        if cached.is_some() {
            return cached;
        }
        let (k, v) = self.lookup(key, make)?;
        let _ = self.cache.try_with(|cache| {
            if let (Some(a), Some(b)) = (cache.ways.get(first), cache.ways.get(second)) {
                // The set's other entry goes; the one used last moves over.
                b.set(a.replace(Some((hash, self.id, k, v))));
            }
            remember(cache, (k, v));
        });
        Some((k, v))
    }

    fn lookup(
        &self,
        key: &str,
        make: impl FnOnce(&'static str) -> V,
    ) -> Option<(&'static str, &'static V)> {
        let map = self.map.get_or_init(Default::default);
        {
            let read = map.read().unwrap_or_else(PoisonError::into_inner);
            if let Some((k, v)) = read.get_key_value(key) {
                return Some((k, v));
            }
            if read.len() >= LIMIT || key.len() > MAX_LEN {
                return None;
            }
        }
        let mut write = map.write().unwrap_or_else(PoisonError::into_inner);
        if let Some((k, v)) = write.get_key_value(key) {
            return Some((k, v));
        }
        if write.len() >= LIMIT {
            return None;
        }
        // Leaked on purpose, at most LIMIT times per table.
        let k: &'static str = Box::leak(key.to_owned().into_boxed_str());
        let v: &'static V = Box::leak(Box::new(make(k)));
        write.insert(k, v);
        Some((k, v))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.get().map_or(0, |m| {
            m.read().unwrap_or_else(PoisonError::into_inner).len()
        })
    }
}

/// A bounded, process-wide set of strings.
pub(crate) struct Strings(Table<()>);

impl Strings {
    /// A set; `id` must differ from every other set's.
    pub(crate) const fn new(id: u8) -> Self {
        Self(Table::new(id, &STRINGS))
    }

    /// `value`, interned; `None` when the set is full or `value` too long.
    pub(crate) fn get(&self, value: &str) -> Option<&'static str> {
        self.0.get(value, |_| ()).map(|(k, ())| k)
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

/// The interned route `template`; `None` when the table is full or the
/// template too long.
pub(crate) fn route(template: &str) -> Option<&'static Route> {
    static TABLE: Table<Route> = Table::new(0, &ROUTES);
    let make = |template| Route {
        template,
        names: Default::default(),
    };
    TABLE.get(template, make).map(|(_, route)| route)
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

/// The 1-7 bytes of `rest` in one word, read with fixed-size (overlapping)
/// loads rather than a copy of variable length, which is a call to `memcpy`.
/// Equal bytes give equal words; the caller mixes the length in.
fn tail(rest: &[u8]) -> u64 {
    let u32_at = |b: Option<&[u8; 4]>| b.map_or(0, |b| u64::from(u32::from_le_bytes(*b)));
    match rest {
        [] => 0,
        [a] => u64::from(*a),
        [a, b] => u64::from(*a) | u64::from(*b) << 8,
        [a, b, c] => u64::from(*a) | u64::from(*b) << 8 | u64::from(*c) << 16,
        _ => u32_at(rest.first_chunk()) | u32_at(rest.last_chunk()) << 32,
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
            self.add(tail(rest) ^ (rest.len() as u64) << 56);
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
        static T: Strings = Strings::new(6);
        let a = T.get("GET /users/{id}").unwrap();
        let b = T.get(&String::from("GET /users/{id}")).unwrap();
        assert!(std::ptr::eq(a, b), "the same copy");
        assert_eq!(T.get(&"x".repeat(MAX_LEN + 1)), None, "too long");
        for i in 0..LIMIT * 2 {
            let _ = T.get(&format!("v{i}"));
        }
        assert_eq!(T.0.len(), LIMIT);
        assert_eq!(T.get("not yet seen"), None, "full");
        // Another table holding the same text hands out its own copy.
        static U: Strings = Strings::new(7);
        let c = U.get("GET /users/{id}").unwrap();
        assert!(!std::ptr::eq(a, c));
        assert!(std::ptr::eq(U.get("GET /users/{id}").unwrap(), c));
        assert!(std::ptr::eq(T.get("GET /users/{id}").unwrap(), a), "kept");
    }

    #[test]
    fn repeated_and_alternating_keys_find_their_own_entries() {
        // Two tables sharing the thread's cache, keys repeated (the last
        // entry path) and interleaved past the cache's size (entries
        // replaced under each table's last entry).
        static A: Strings = Strings::new(4);
        static B: Strings = Strings::new(5);
        let first: Vec<(&str, &str)> = (0..8)
            .map(|i| {
                let k = format!("key-{i}");
                (A.get(&k).unwrap(), B.get(&k).unwrap())
            })
            .collect();
        for round in 0..3 {
            for i in 0..WAYS * 2 {
                let k = format!("key-{}", i % (WAYS + 3));
                for _ in 0..2 {
                    let (a, b) = (A.get(&k).unwrap(), B.get(&k).unwrap());
                    assert_eq!((a, b), (k.as_str(), k.as_str()), "round {round}");
                    assert!(!std::ptr::eq(a, b), "each table its own copy");
                }
            }
            for (i, (a, b)) in first.iter().enumerate() {
                let k = format!("key-{i}");
                assert!(std::ptr::eq(A.get(&k).unwrap(), *a));
                assert!(std::ptr::eq(B.get(&k).unwrap(), *b));
            }
        }
    }

    /// `n` keys that this process's hash puts in one set of the cache.
    fn keys_in_one_set(prefix: &str, n: usize) -> Vec<String> {
        super::keys_in_one_set(prefix, n, |k| set(Words::default().hash_one(k), WAYS))
    }

    #[test]
    fn values_of_tables_sharing_a_set_are_all_found() {
        // Three tables' values in one two-way set: they evict each other
        // from the ways, and each table's last entry still holds its own.
        let keys = keys_in_one_set("shared", 3);
        static C: Strings = Strings::new(8);
        static D: Strings = Strings::new(9);
        static F: Strings = Strings::new(11);
        let tables = [&C, &D, &F];
        let first: Vec<&str> = tables
            .iter()
            .zip(&keys)
            .map(|(t, k)| t.get(k).unwrap())
            .collect();
        for _ in 0..3 {
            for ((t, k), v) in tables.iter().zip(&keys).zip(&first) {
                assert!(std::ptr::eq(t.get(k).unwrap(), *v));
            }
        }
        for (k, v) in keys.iter().zip(&first) {
            assert_eq!(k, v);
        }
        for (id, v) in [8, 9, 11].into_iter().zip(&first) {
            let last = STRINGS.with(|c| c.last.get(id).and_then(Cell::get));
            assert!(
                last.is_some_and(|(k, ())| std::ptr::eq(k, *v)),
                "table {id}"
            );
        }
    }

    #[test]
    fn two_keys_of_one_set_both_stay_in_the_ways() {
        let keys = keys_in_one_set("set", 2);
        let [a, b] = keys.as_slice() else {
            unreachable!("two keys")
        };
        static E: Strings = Strings::new(10);
        for _ in 0..3 {
            assert_eq!(E.get(a), Some(a.as_str()));
            assert_eq!(E.get(b), Some(b.as_str()));
        }
        let in_ways = |k: &str| {
            STRINGS.with(|c| {
                c.ways
                    .iter()
                    .any(|w| w.get().is_some_and(|(_, id, key, _)| id == 10 && key == k))
            })
        };
        assert!(in_ways(a) && in_ways(b), "both entries of the set kept");
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

    #[test]
    fn every_byte_of_a_key_counts() {
        let h = |s: &[u8]| {
            let mut hasher = Words(1).build_hasher();
            hasher.write(s);
            hasher.finish()
        };
        for len in 1..=17 {
            let key: Vec<u8> = (0..len).map(|i| b'a' + i as u8).collect();
            for at in 0..len {
                let mut other = key.clone();
                other[at] = b'#';
                assert_ne!(h(&key), h(&other), "length {len}, byte {at}");
            }
            assert_ne!(
                h(&key),
                h(&key[..len - 1]),
                "length {len} against {}",
                len - 1
            );
        }
    }
}
