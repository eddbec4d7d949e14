//! The `tracestate` header: the key and value grammar of W3C Trace Context,
//! combination of repeated headers, and the size limits.
//!
//! ```
//! use o11y_core::propagation::parse_tracestate;
//!
//! let state = parse_tracestate(["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]).unwrap();
//! assert_eq!(state.header(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
//! assert!(parse_tracestate(["foo=1,foo=2"]).is_err()); // duplicate keys: the whole list is dropped
//! ```

use opentelemetry::trace::TraceState;

/// At most this many list members; a longer list is invalid and dropped.
pub const MAX_MEMBERS: usize = 32;
/// Combined length kept; longer lists are trimmed as the specification describes.
pub const MAX_LEN: usize = 512;
/// Members longer than this are the first to go when trimming.
const LARGE_MEMBER: usize = 128;

/// Why a `tracestate` list was dropped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TracestateError {
    /// A list member is not `key=value` with a valid key and value.
    #[error("tracestate member {0:?} is invalid")]
    Member(String),
    /// The same key appears twice.
    #[error("tracestate key {0:?} appears more than once")]
    DuplicateKey(String),
    /// More than 32 list members.
    #[error("tracestate has more than {MAX_MEMBERS} members")]
    TooManyMembers,
}

/// Parses and combines every `tracestate` header value, in order.
///
/// Empty values and empty list members are ignored. Any invalid member, any
/// duplicate key, or more than 32 members invalidates the whole list. A list
/// longer than 512 characters is trimmed: members over 128 characters go first,
/// then members from the end.
pub fn parse_tracestate<'a, I>(values: I) -> Result<TraceState, TracestateError>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut members: Vec<(&'a str, &'a str)> = Vec::new();
    for member in values.into_iter().flat_map(|v| v.split(',')) {
        let member = member.trim_matches(|c| c == ' ' || c == '\t');
        if member.is_empty() {
            continue;
        }
        let (key, value) =
            split_member(member).ok_or_else(|| TracestateError::Member(member.into()))?;
        if members.iter().any(|(k, _)| *k == key) {
            return Err(TracestateError::DuplicateKey(key.into()));
        }
        if members.len() == MAX_MEMBERS {
            return Err(TracestateError::TooManyMembers);
        }
        members.push((key, value));
    }
    trim_to_limit(&mut members);
    Ok(
        TraceState::from_key_value(members.iter().copied()).unwrap_or_else(|_| {
            // The SDK's own key check is off by one for a 14-character system id
            // after a 241-character tenant; such members cannot be represented, so
            // they alone are left out.
            let representable = members
                .iter()
                .filter(|m| TraceState::from_key_value([**m]).is_ok());
            TraceState::from_key_value(representable.copied()).unwrap_or_default()
        }),
    )
}

fn split_member(member: &str) -> Option<(&str, &str)> {
    let (key, value) = member.split_once('=')?;
    (valid_key(key) && valid_value(value)).then_some((key, value))
}

fn encoded_len(members: &[(&str, &str)]) -> usize {
    members
        .iter()
        .map(|(k, v)| k.len() + v.len() + 1)
        .sum::<usize>()
        + members.len().saturating_sub(1)
}

fn trim_to_limit(members: &mut Vec<(&str, &str)>) {
    while encoded_len(members) > MAX_LEN {
        let large = members
            .iter()
            .position(|(k, v)| k.len() + v.len() + 1 > LARGE_MEMBER);
        match large {
            Some(i) => {
                members.remove(i);
            }
            None => {
                members.pop();
            }
        }
    }
}

fn key_char(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'_' | b'-' | b'*' | b'/')
}

/// `simple-key` or `tenant-id@system-id`, per the specification's grammar.
pub(crate) fn valid_key(key: &str) -> bool {
    match key.split_once('@') {
        None => {
            let b = key.as_bytes();
            (1..=256).contains(&b.len())
                && b.first().is_some_and(u8::is_ascii_lowercase)
                && b.iter().all(|&c| key_char(c))
        }
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            (1..=241).contains(&t.len())
                && t.first()
                    .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
                && t.iter().all(|&c| key_char(c))
                && (1..=14).contains(&s.len())
                && s.first().is_some_and(u8::is_ascii_lowercase)
                && s.iter().all(|&c| key_char(c))
        }
    }
}

/// 1 to 256 printable ASCII characters except `,` and `=`, not ending in a space.
pub(crate) fn valid_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|&c| (0x20..=0x7e).contains(&c) && c != b',' && c != b'=')
        && b.last() != Some(&b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(state: &TraceState) -> String {
        state.header()
    }

    #[test]
    fn repeated_headers_are_combined_in_order() {
        let s = parse_tracestate(["foo=1,bar=2", "rojo=1,congo=2", "baz=3"]).unwrap();
        assert_eq!(keys(&s), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    }

    #[test]
    fn empty_values_and_members_are_ignored() {
        assert_eq!(parse_tracestate([""]).unwrap(), TraceState::NONE);
        assert_eq!(keys(&parse_tracestate(["", "foo=1"]).unwrap()), "foo=1");
        assert_eq!(
            keys(&parse_tracestate(["foo=1,, ,\t,bar=2"]).unwrap()),
            "foo=1,bar=2"
        );
    }

    #[test]
    fn optional_whitespace_around_members_is_ignored() {
        let s = parse_tracestate(["foo=1 \t , \t bar=2, \t baz=3"]).unwrap();
        assert_eq!(keys(&s), "foo=1,bar=2,baz=3");
        assert_eq!(keys(&parse_tracestate(["\t foo=1 \t"]).unwrap()), "foo=1");
    }

    #[test]
    fn duplicate_keys_drop_the_list() {
        for case in [
            &["foo=1,foo=1"][..],
            &["foo=1,foo=2"],
            &["foo=1", "foo=1"],
            &["foo=1", "foo=2"],
        ] {
            assert!(matches!(
                parse_tracestate(case.iter().copied()),
                Err(TracestateError::DuplicateKey(_))
            ));
        }
    }

    #[test]
    fn all_allowed_characters_are_kept() {
        let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
        let value: String = (0x20u8..=0x7e)
            .filter(|c| *c != b',' && *c != b'=')
            .map(char::from)
            .collect();
        let s = parse_tracestate([format!("{key}={value}").as_str()]).unwrap();
        assert_eq!(s.get(key), Some(value.as_str()));
        let vendor = format!("{key}@a-z0-9_-*/");
        let s = parse_tracestate([format!("{vendor}={value}").as_str()]).unwrap();
        assert_eq!(s.get(&vendor), Some(value.as_str()));
    }

    #[test]
    fn illegal_keys_drop_the_list() {
        for key in [
            "foo ",
            "FOO",
            "foo.bar",
            "foo@",
            "@foo",
            "foo@@bar",
            "foo@bar@baz",
            "1abc",
            "",
        ] {
            let header = format!("{key}=1,bar=2");
            assert!(parse_tracestate([header.as_str()]).is_err(), "{key:?}");
        }
    }

    #[test]
    fn key_length_limits() {
        assert!(parse_tracestate(["foo=1", &format!("{}=1", "z".repeat(256))]).is_ok());
        assert!(parse_tracestate(["foo=1", &format!("{}=1", "z".repeat(257))]).is_err());
        let longest_vendor_key = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        assert!(valid_key(&longest_vendor_key));
        assert_eq!(
            parse_tracestate(["foo=1", &format!("{longest_vendor_key}=1")])
                .unwrap()
                .get("foo"),
            Some("1")
        );
        assert!(parse_tracestate(["foo=1", &format!("{}@v=1", "t".repeat(242))]).is_err());
        assert!(parse_tracestate(["foo=1", &format!("t@{}=1", "v".repeat(15))]).is_err());
    }

    #[test]
    fn illegal_values_drop_the_list() {
        for header in [
            "foo=bar=baz",
            "foo=,bar=3",
            "foo=a\u{7f}",
            "foo=\u{e9}",
            "foo=x y\u{1}",
            "foo",
        ] {
            assert!(parse_tracestate([header]).is_err(), "{header:?}");
        }
        assert!(parse_tracestate([format!("foo={}", "v".repeat(257)).as_str()]).is_err());
    }

    #[test]
    fn thirty_two_members_pass_thirty_three_drop() {
        let members = |n: usize| {
            (1..=n)
                .map(|i| format!("bar{i:02}={i:02}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let s = parse_tracestate([members(32).as_str()]).unwrap();
        assert_eq!(s.header().split(',').count(), 32);
        assert_eq!(
            parse_tracestate([members(33).as_str()]),
            Err(TracestateError::TooManyMembers)
        );
    }

    #[test]
    fn long_lists_are_trimmed_large_members_first() {
        let big = format!("big={}", "x".repeat(200));
        let small: Vec<String> = (0..20)
            .map(|i| format!("k{i:02}={}", "y".repeat(20)))
            .collect();
        let mut all = vec![small[0].clone(), big.clone()];
        all.extend(small[1..].iter().cloned());
        let header = all.join(",");
        let s = parse_tracestate([header.as_str()]).unwrap();
        let out = s.header();
        assert!(out.len() <= MAX_LEN, "{}", out.len());
        assert!(s.get("big").is_none(), "the large member goes first");
        assert!(out.starts_with("k00="));
        // 20 members of 24 characters plus separators: 499 characters fit.
        assert_eq!(out.split(',').count(), 20);
    }

    #[test]
    fn trimming_from_the_end_when_no_member_is_large() {
        let small: Vec<String> = (0..30)
            .map(|i| format!("k{i:02}={}", "y".repeat(20)))
            .collect();
        let s = parse_tracestate([small.join(",").as_str()]).unwrap();
        assert!(s.header().len() <= MAX_LEN);
        assert!(s.get("k00").is_some());
        assert!(s.get("k29").is_none());
    }
}
