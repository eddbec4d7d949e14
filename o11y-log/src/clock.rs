//! Where the layer's timestamps come from, and their RFC 3339 form.
//!
//! The clock is a small trait so tests can fix it:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use o11y_log::JsonLayer;
//!
//! let fixed = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
//! let layer = JsonLayer::new().with_clock(move || fixed);
//! # drop(layer);
//! ```

use std::{
    cell::Cell,
    time::{SystemTime, UNIX_EPOCH},
};

/// Gives the time of an event. Implemented for [`SystemClock`] and for any
/// `Fn() -> SystemTime` closure.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync + 'static,
{
    fn now(&self) -> SystemTime {
        self()
    }
}

/// Appends `time` as `"YYYY-MM-DDTHH:MM:SS.ffffffZ"` (UTC, microseconds).
/// Times before 1970 are written as the epoch.
pub(crate) fn rfc3339(out: &mut Vec<u8>, time: SystemTime) {
    thread_local! {
        // The date and time of the last second formatted on this thread.
        static LAST: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (cached, mut text) = LAST.get();
    if cached != secs {
        text = seconds(secs);
        LAST.set((secs, text));
    }
    out.push(b'"');
    out.extend_from_slice(&text);
    out.push(b'.');
    digits(out, u64::from(since.subsec_micros()), 6);
    out.extend_from_slice(b"Z\"");
}

/// `YYYY-MM-DDTHH:MM:SS` for `secs` after the epoch (years past 9999 are
/// written as 9999-12-31T23:59:59).
fn seconds(secs: u64) -> [u8; 19] {
    let (year, month, day) = civil(secs / 86_400);
    let rem = secs % 86_400;
    let mut text = *b"9999-12-31T23:59:59";
    if year <= 9999 {
        let mut out = Vec::with_capacity(19);
        digits(&mut out, year, 4);
        out.push(b'-');
        digits(&mut out, month, 2);
        out.push(b'-');
        digits(&mut out, day, 2);
        out.push(b'T');
        digits(&mut out, rem / 3600, 2);
        out.push(b':');
        digits(&mut out, rem / 60 % 60, 2);
        out.push(b':');
        digits(&mut out, rem % 60, 2);
        text.copy_from_slice(&out);
    }
    text
}

/// Year, month, day of the `days`-th day after 1970-01-01 (proleptic
/// Gregorian calendar, "days from civil" inverted).
fn civil(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// Appends `n` zero-padded to at least `width` digits.
fn digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut tmp = [b'0'; 20];
    let mut i = tmp.len();
    let mut n = n;
    while n > 0 || tmp.len() - i < width {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    out.extend_from_slice(&tmp[i..]);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn fmt(secs: u64, micros: u32) -> String {
        let mut out = Vec::new();
        let t = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros.into());
        rfc3339(&mut out, t);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formats_utc_with_microseconds() {
        assert_eq!(fmt(0, 0), "\"1970-01-01T00:00:00.000000Z\"");
        assert_eq!(fmt(1_700_000_000, 42), "\"2023-11-14T22:13:20.000042Z\"");
        // a leap day, and the last second of a leap year
        assert_eq!(fmt(951_782_400, 999_999), "\"2000-02-29T00:00:00.999999Z\"");
        assert_eq!(fmt(1_735_689_599, 0), "\"2024-12-31T23:59:59.000000Z\"");
        assert_eq!(fmt(4_102_444_800, 0), "\"2100-01-01T00:00:00.000000Z\"");
        assert_eq!(fmt(4_102_444_800, 1), "\"2100-01-01T00:00:00.000001Z\""); // cached second
        assert_eq!(fmt(u64::MAX / 2, 0), "\"9999-12-31T23:59:59.000000Z\"");
    }

    #[test]
    fn times_before_the_epoch_clamp() {
        let mut out = Vec::new();
        rfc3339(&mut out, UNIX_EPOCH - Duration::from_secs(5));
        assert_eq!(out, b"\"1970-01-01T00:00:00.000000Z\"");
    }
}
