//! Request times: read from the CPU's time-stamp counter, and turned into
//! span times through the system clock.
//!
//! A request reads [`now`] when it starts and when it ends: the duration
//! metric needs a clock that never steps. `now` is [`quanta`]'s clock: the
//! time-stamp counter, scaled to nanoseconds by a calibration made once per
//! process (about half a millisecond, done when a layer is built, see
//! [`calibrate`]), or the OS's monotonic clock on a CPU without an invariant
//! counter. Under load a `clock_gettime` cost 35 ns here and a counter read
//! 9 ns, and a request reads the clock twice.
//!
//! A span's start time is its request's start instant turned into wall-clock
//! time through an anchor (a (`SystemTime`, `Instant`) pair read together,
//! read again at most once a second), and its end time is the start time plus
//! the measured duration. So a request reads the clock twice instead of four
//! times, the span lasts exactly what the metric records, and span times stay
//! within a second's clock slew of the system clock. (OpenTelemetry Java's
//! SDK anchors span times to a monotonic clock in the same way.)

use std::{
    sync::{
        OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

pub(crate) use quanta::Instant;

/// The current instant.
#[inline]
pub(crate) fn now() -> Instant {
    Instant::now()
}

/// Calibrates the clock (once per process) and makes the wall-clock anchor,
/// so that no request pays for either.
pub(crate) fn calibrate() {
    let _ = anchor();
}

/// How long an anchor is used before the system clock is read again.
const RESYNC: Duration = Duration::from_secs(1);

struct Anchor {
    base: Instant,
    /// Nanoseconds since the Unix epoch at `base`, as of the last read.
    wall_at_base: AtomicU64,
    /// When the system clock was last read, in nanoseconds since `base`.
    read_at: AtomicU64,
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

fn read(base: Instant) -> (u64, u64) {
    let wall = nanos(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    );
    let since = nanos(base.elapsed());
    (wall.saturating_sub(since), since)
}

fn anchor() -> &'static Anchor {
    static ANCHOR: OnceLock<Anchor> = OnceLock::new();
    ANCHOR.get_or_init(|| {
        let base = Instant::now();
        let (wall_at_base, read_at) = read(base);
        Anchor {
            base,
            wall_at_base: AtomicU64::new(wall_at_base),
            read_at: AtomicU64::new(read_at),
        }
    })
}

/// The wall-clock time of `at`.
pub(crate) fn wall(at: Instant) -> SystemTime {
    let a = anchor();
    let since = nanos(at.saturating_duration_since(a.base));
    let read_at = a.read_at.load(Ordering::Relaxed);
    if since.saturating_sub(read_at) > nanos(RESYNC)
        && a.read_at
            .compare_exchange(read_at, since, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        // One thread reads the system clock again; the others keep the
        // anchor they saw.
        let (wall_at_base, _) = read(a.base);
        a.wall_at_base.store(wall_at_base, Ordering::Relaxed);
    }
    let wall_at_base = a.wall_at_base.load(Ordering::Relaxed);
    // An instant from before the anchor was made (the first request's).
    let before = nanos(a.base.saturating_duration_since(at));
    UNIX_EPOCH + Duration::from_nanos(wall_at_base.saturating_add(since).saturating_sub(before))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gap(a: SystemTime, b: SystemTime) -> Duration {
        a.duration_since(b).unwrap_or_else(|e| e.duration())
    }

    #[test]
    fn wall_times_follow_the_system_clock() {
        let before = SystemTime::now();
        let t = wall(Instant::now());
        let after = SystemTime::now();
        assert!(
            gap(t, before) < Duration::from_millis(50),
            "{t:?} vs {before:?}"
        );
        assert!(
            gap(after, t) < Duration::from_millis(50),
            "{t:?} vs {after:?}"
        );
    }

    #[test]
    fn durations_agree_with_the_os_clock() {
        calibrate();
        // Each read of our clock is bracketed by two of the OS's, so a
        // preemption anywhere widens the bracket instead of failing the test.
        let os_before = std::time::Instant::now();
        let ours = now();
        let os_after = std::time::Instant::now();
        // Spin (no sleep: what is checked is the scale, not the scheduler).
        while os_before.elapsed() < Duration::from_millis(20) {
            std::hint::spin_loop();
        }
        let shortest = os_after.elapsed();
        let measured = ours.elapsed();
        let longest = os_before.elapsed();
        // Calibration error: well under 1 %.
        let slack = shortest / 100;
        assert!(
            measured + slack >= shortest && measured <= longest + slack,
            "{measured:?} outside the OS clock's {shortest:?}..{longest:?}"
        );
    }

    #[test]
    fn later_instants_are_later_wall_times() {
        let a = Instant::now();
        let b = a + Duration::from_millis(3);
        // Equal to the instants' gap, but for a re-read of the system clock
        // between the two calls (by this or another thread).
        let gap = wall(b).duration_since(wall(a)).unwrap();
        assert!(
            gap.abs_diff(Duration::from_millis(3)) < Duration::from_millis(1),
            "{gap:?}"
        );
    }
}
