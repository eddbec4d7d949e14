//! Lowercase hex for trace and span ids, in registers (SWAR): 16 digits
//! encoded, or checked and decoded, at once in one 128-bit word. No table:
//! a random id would touch most lines of one, and under load those lines
//! are cold (the kernel's network path runs between two requests).

const ONES: u128 = u128::from_be_bytes([1; 16]);

/// The 16 lowercase hex digits of `v`, most significant first.
pub(crate) fn encode_u64(v: u64) -> [u8; 16] {
    // Spread each nibble into a byte of its own, in order.
    let mut x = u128::from(v);
    x = (x | (x << 32)) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    x = (x | (x << 16)) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    x = (x | (x << 8)) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    x = (x | (x << 4)) & (ONES * 0x0f);
    // Digits 10-15 jump from past '9' to 'a': 39 more.
    let letters = ((x + ONES * 6) >> 4) & ONES;
    (x + ONES * u128::from(b'0') + letters * u128::from(b'a' - b'9' - 1)).to_be_bytes()
}

/// The 32 lowercase hex digits of `v`, most significant first.
pub(crate) fn encode_u128(v: u128) -> [u8; 32] {
    let mut out = [0u8; 32];
    let (hi, lo) = out.split_at_mut(16);
    hi.copy_from_slice(&encode_u64((v >> 64) as u64));
    lo.copy_from_slice(&encode_u64(v as u64));
    out
}

/// The value of 16 lowercase hex digits; `None` for anything but `0-9a-f`
/// (uppercase included).
pub(crate) fn decode_u64(digits: &[u8; 16]) -> Option<u64> {
    const HIGH: u128 = ONES * 0x80;
    let x = u128::from_be_bytes(*digits);
    if x & HIGH != 0 {
        return None;
    }
    // The high bit of each byte that is at least `k` (every byte is below
    // 0x80, so the subtraction borrows across no byte).
    let at_least = |k: u8| ((x | HIGH) - ONES * u128::from(k)) & HIGH;
    let digit = at_least(b'0') & !at_least(b'9' + 1);
    let letter = at_least(b'a') & !at_least(b'f' + 1);
    if digit | letter != HIGH {
        return None;
    }
    // '0'-'9' are 0x30-0x39 and 'a'-'f' 0x61-0x66: the low nibble, plus 9
    // for a letter.
    let mut n = (x & (ONES * 0x0f)) + (letter >> 7) * 9;
    // Pairs of nibbles into bytes, then the bytes together.
    n = (n | (n >> 4)) & 0x00ff_00ff_00ff_00ff_00ff_00ff_00ff_00ff;
    n = (n | (n >> 8)) & 0x0000_ffff_0000_ffff_0000_ffff_0000_ffff;
    n = (n | (n >> 16)) & 0x0000_0000_ffff_ffff_0000_0000_ffff_ffff;
    n = (n | (n >> 32)) & 0x0000_0000_0000_0000_ffff_ffff_ffff_ffff;
    u64::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The obvious decoder: lowercase hex digits only, then `from_str_radix`.
    fn reference(digits: &[u8; 16]) -> Option<u64> {
        let lower = |c: &u8| c.is_ascii_digit() || (b'a'..=b'f').contains(c);
        let text = std::str::from_utf8(digits).ok()?;
        digits
            .iter()
            .all(lower)
            .then(|| u64::from_str_radix(text, 16).ok())
            .flatten()
    }

    #[test]
    fn encoding_is_lowercase_hex_for_every_byte_at_every_place() {
        for at in 0..8 {
            for v in 0..=255u64 {
                let x = 0x0123_4567_89ab_cdef_u64 ^ (v << (8 * at));
                assert_eq!(encode_u64(x), *format!("{x:016x}").as_bytes());
                let wide = u128::from(x) << 64 | u128::from(!x);
                assert_eq!(encode_u128(wide), *format!("{wide:032x}").as_bytes());
            }
        }
    }

    #[test]
    fn decoding_agrees_with_the_obvious_decoder_for_every_byte_at_every_place() {
        for base in [
            *b"0123456789abcdef",
            *b"fedcba9876543210",
            *b"00000000ffffffff",
        ] {
            assert_eq!(decode_u64(&base), reference(&base));
            assert!(decode_u64(&base).is_some());
            for at in 0..16 {
                for v in 0..=255u8 {
                    let mut digits = base;
                    digits[at] = v;
                    assert_eq!(decode_u64(&digits), reference(&digits), "{digits:?}");
                }
            }
        }
    }

    #[test]
    fn decoding_inverts_encoding() {
        for x in [0, 1, u64::MAX, 0x0af7_6519_16cd_43dd, 0x8448_eb21_1c80_319c] {
            assert_eq!(decode_u64(&encode_u64(x)), Some(x));
        }
    }
}
