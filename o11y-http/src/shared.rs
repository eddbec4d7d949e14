//! A layer's settings, shared by every request with a reference count per
//! thread.
//!
//! A tower service is cloned for each request (axum clones the service a
//! `Router::layer` layer made on every call), and the request's state keeps
//! the settings until the response is done: four reference-count changes per
//! request. With one `Arc`, each of them writes the same cache line, which
//! then moves from core to core when requests are served on several threads
//! at once (about 0.3 us per request with two threads, see
//! docs/benchmarks.md). [`Shared`] gives each thread a handle of its own on
//! the settings (one per stripe, as `metrics::stripe` gives them out), whose
//! count only that thread's requests change.
//!
//! Each thread's handle holds a copy of the settings (their instruments and
//! tracer are shared handles themselves), next to its count. Lifetimes are
//! those of plain `Arc`s: the layer and the services `Layer::layer` made
//! hold every thread's handle, and a request holds the handle it was given,
//! so the settings (with the tracer and meter providers in them) are dropped
//! once all of those are.

use std::{
    ops::Deref,
    sync::{Arc, OnceLock},
};

use crate::metrics::{STRIPES, stripe};

/// `T`, shared by every request; cloning it gives the calling thread's
/// handle.
pub(crate) struct Shared<T> {
    handle: Handle<T>,
}

enum Handle<T> {
    /// What `Shared::new` made: holds the threads' handles.
    Origin(Arc<Origin<T>>),
    /// One thread's handle.
    Local(Arc<Local<T>>),
}

struct Origin<T> {
    value: Arc<T>,
    locals: [OnceLock<Arc<Local<T>>>; STRIPES],
}

/// A thread's handle, on cache lines of its own: its reference count is
/// changed by that thread's requests alone (by the threads of its stripe,
/// when there are more threads than stripes). It holds a copy of the value,
/// so that the count and the value's first fields share a line.
#[repr(align(64))]
struct Local<T> {
    value: T,
}

impl<T> Shared<T> {
    pub(crate) fn new(value: Arc<T>) -> Self {
        Self {
            handle: Handle::Origin(Arc::new(Origin {
                value,
                locals: [const { OnceLock::new() }; STRIPES],
            })),
        }
    }

    /// A handle that holds the threads' handles, as the layer's own does
    /// (for the services a layer makes). `clone` gives the calling thread's
    /// handle instead, for what a request holds.
    pub(crate) fn keeper(&self) -> Self {
        let handle = match &self.handle {
            Handle::Origin(o) => Handle::Origin(o.clone()),
            Handle::Local(l) => Handle::Local(l.clone()),
        };
        Self { handle }
    }
}

impl<T: Clone> Shared<T> {
    /// A new origin holding an edited copy of the value (for builders).
    pub(crate) fn edited(&self, edit: impl FnOnce(&mut T)) -> Self {
        let mut value = T::clone(self);
        edit(&mut value);
        Self::new(Arc::new(value))
    }
}

impl<T: Clone> Clone for Shared<T> {
    #[inline]
    fn clone(&self) -> Self {
        let local = match &self.handle {
            Handle::Origin(o) => o.local(stripe()),
            // A thread's handle stays that thread's: the clone of a service
            // a request was given is made on the same thread.
            Handle::Local(l) => l.clone(),
        };
        Self {
            handle: Handle::Local(local),
        }
    }
}

impl<T: Clone> Origin<T> {
    #[inline]
    fn local(&self, stripe: usize) -> Arc<Local<T>> {
        let new = || {
            Arc::new(Local {
                value: T::clone(&self.value),
            })
        };
        match self.locals.get(stripe) {
            Some(slot) => slot.get_or_init(new).clone(),
            None => new(),
        }
    }
}

impl<T> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.handle {
            Handle::Origin(o) => &o.value,
            Handle::Local(l) => &l.value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local_of<T>(s: &Shared<T>) -> Option<usize> {
        match &s.handle {
            Handle::Local(l) => Some(Arc::as_ptr(l) as usize),
            Handle::Origin(_) => None,
        }
    }

    #[test]
    fn clones_on_one_thread_share_its_handle_and_another_thread_has_its_own() {
        let origin = Shared::new(Arc::new(7_u32));
        let a = origin.clone();
        let b = origin.clone();
        let c = a.clone();
        assert_eq!((*a, *b, *c), (7, 7, 7));
        let here = local_of(&a).expect("a thread's handle");
        assert_eq!(local_of(&b), Some(here));
        assert_eq!(local_of(&c), Some(here));
        assert_eq!(local_of(&origin.keeper()), None, "a keeper is no thread's");
        let (value, there) = std::thread::scope(|s| {
            s.spawn(|| {
                let d = origin.clone();
                let e = origin.keeper().clone();
                assert_eq!(local_of(&d), local_of(&e));
                (*d, local_of(&d))
            })
            .join()
            .unwrap()
        });
        assert_eq!(value, 7);
        assert!(there.is_some());
        assert_ne!(there, Some(here), "another thread's own handle");
    }

    #[test]
    fn threads_handles_are_on_cache_lines_of_their_own() {
        let origin = Shared::new(Arc::new(0_u8));
        let Handle::Origin(o) = &origin.handle else {
            panic!("the origin");
        };
        let (a, b) = (o.local(0), o.local(1));
        let (a, b) = (Arc::as_ptr(&a) as usize, Arc::as_ptr(&b) as usize);
        assert_eq!(a % 64, 0);
        assert_eq!(b % 64, 0);
        assert!(a.abs_diff(b) >= 64);
    }

    #[test]
    fn the_value_is_dropped_with_the_layer_and_its_requests() {
        // The threads' handles hold copies of the value: here, of an `Arc`.
        let value = Arc::new(String::from("settings"));
        let origin = Shared::new(Arc::new(value.clone()));
        let request = origin.clone();
        let on_thread = std::thread::scope(|s| s.spawn(|| origin.clone()).join().unwrap());
        drop(origin);
        assert_eq!(
            request.as_str(),
            "settings",
            "a request keeps what it holds"
        );
        assert_eq!(on_thread.as_str(), "settings");
        drop((request, on_thread));
        assert_eq!(
            Arc::strong_count(&value),
            1,
            "nothing else keeps the settings"
        );
    }
}
