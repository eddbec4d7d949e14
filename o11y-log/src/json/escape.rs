//! JSON string escaping under a length budget: every byte that JSON forbids
//! inside a string is escaped, and a value longer than the budget is cut on a
//! character boundary and marked with [`TRUNCATED`].

use std::fmt;

/// Appended (inside the string) to a value that was cut.
pub const TRUNCATED: &str = "...[truncated]";

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends `s` to `out`, escaped for a JSON string (without the quotes).
pub(crate) fn escape(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
    }
    out.extend_from_slice(&bytes[start..]);
}

/// A [`fmt::Write`] that escapes what it is given and stops after `left`
/// bytes of input, cutting on a character boundary.
pub(crate) struct Limited<'a> {
    out: &'a mut Vec<u8>,
    left: usize,
    truncated: bool,
}

impl<'a> Limited<'a> {
    pub(crate) fn new(out: &'a mut Vec<u8>, limit: usize) -> Self {
        Self {
            out,
            left: limit,
            truncated: false,
        }
    }

    /// Writes the truncation marker if the budget ran out.
    pub(crate) fn finish(self) {
        if self.truncated {
            self.out.extend_from_slice(TRUNCATED.as_bytes());
        }
    }
}

impl fmt::Write for Limited<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.len() <= self.left {
            self.left -= s.len();
            escape(self.out, s);
            return Ok(());
        }
        let mut cut = self.left;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        escape(self.out, s.get(..cut).unwrap_or_default());
        self.left = 0;
        self.truncated = true;
        // Stops the formatter early: nothing more would be written anyway.
        Err(fmt::Error)
    }
}

/// Appends `"s"`, escaped and limited to `limit` bytes of input.
pub(crate) fn string(out: &mut Vec<u8>, s: &str, limit: usize) {
    out.push(b'"');
    let mut w = Limited::new(out, limit);
    let _ = fmt::Write::write_str(&mut w, s);
    w.finish();
    out.push(b'"');
}

/// Appends `"<value formatted with Debug>"`, escaped and limited.
pub(crate) fn debug(out: &mut Vec<u8>, value: &dyn fmt::Debug, limit: usize) {
    out.push(b'"');
    let mut w = Limited::new(out, limit);
    let _ = fmt::write(&mut w, format_args!("{value:?}"));
    w.finish();
    out.push(b'"');
}

/// Appends bytes as a string, replacing invalid UTF-8 with U+FFFD.
pub(crate) fn bytes(out: &mut Vec<u8>, value: &[u8], limit: usize) {
    out.push(b'"');
    let mut w = Limited::new(out, limit);
    for chunk in value.utf8_chunks() {
        let valid = fmt::Write::write_str(&mut w, chunk.valid());
        let invalid = if chunk.invalid().is_empty() {
            Ok(())
        } else {
            fmt::Write::write_str(&mut w, "\u{fffd}")
        };
        if valid.is_err() || invalid.is_err() {
            break;
        }
    }
    w.finish();
    out.push(b'"');
}

/// Appends a float: finite values as JSON numbers, others as strings
/// (`"NaN"`, `"inf"`, `"-inf"`), since JSON has no literal for them.
pub(crate) fn float(out: &mut Vec<u8>, value: f64) {
    use std::io::Write as _;
    if value.is_finite() {
        let _ = write!(out, "{value:?}");
    } else {
        let _ = write!(out, "\"{value}\"");
    }
}

/// Appends `n` in decimal, without the formatting machinery.
pub(crate) fn uint(out: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&tmp[i..]);
}

/// Appends `n` in decimal.
pub(crate) fn int(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    uint(out, n.unsigned_abs());
}

/// Appends 16 or 8 id bytes as lowercase hex.
pub(crate) fn hex(out: &mut Vec<u8>, id: &[u8]) {
    for &b in id {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_what_json_forbids() {
        let out = s(|o| string(o, "a\"b\\c\nd\r\te\u{0}\u{1f}\u{7f}é", 100));
        assert_eq!(out, "\"a\\\"b\\\\c\\nd\\r\\te\\u0000\\u001f\u{7f}é\"");
        assert_eq!(
            serde_json::from_str::<String>(&out).unwrap(),
            "a\"b\\c\nd\r\te\u{0}\u{1f}\u{7f}é"
        );
    }

    #[test]
    fn truncates_on_a_char_boundary_with_a_marker() {
        let out = s(|o| string(o, "ééé", 3));
        assert_eq!(out, format!("\"é{TRUNCATED}\""));
        let out = s(|o| debug(o, &"x".repeat(100), 10));
        assert_eq!(out, format!("\"\\\"xxxxxxxxx{TRUNCATED}\""));
    }

    #[test]
    fn bytes_are_lossy_utf8() {
        assert_eq!(s(|o| bytes(o, b"a\xffb\n", 100)), "\"a\u{fffd}b\\n\"");
    }

    #[test]
    fn integers() {
        for n in [0, 7, -7, 10, i64::MAX, i64::MIN] {
            assert_eq!(s(|o| int(o, n)), n.to_string());
        }
        assert_eq!(s(|o| uint(o, u64::MAX)), u64::MAX.to_string());
    }

    #[test]
    fn non_finite_floats_are_strings() {
        assert_eq!(s(|o| float(o, f64::NAN)), "\"NaN\"");
        assert_eq!(s(|o| float(o, f64::NEG_INFINITY)), "\"-inf\"");
        assert_eq!(s(|o| float(o, 1e300)), "1e300");
        assert_eq!(s(|o| float(o, -0.5)), "-0.5");
    }
}
