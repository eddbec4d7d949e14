//! The `tracestate` header: the key and value grammar of W3C Trace Context
//! Level 2, combination of repeated headers, duplicates, and the size limits.
//!
//! ```
//! use o11y_core::propagation::parse_tracestate;
//!
//! let state = parse_tracestate(["congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7"]).unwrap();
//! assert_eq!(state.header(), "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
//! // A repeated key keeps its first (left-most, most recent) member.
//! assert_eq!(parse_tracestate(["foo=1,foo=2"]).unwrap().header(), "foo=1");
//! // An invalid member drops the whole list.
//! assert!(parse_tracestate(["@foo=1,bar=2"]).is_err());
//! ```
//!
//! Level 2's key grammar (`key = ( lcalpha / DIGIT ) 0*255 ( keychar )`, where
//! `keychar` includes `@`) admits keys that the SDK's [`TraceState`] rejects
//! under Level 1's `tenant@system` limits (`foo@@bar`, a 241-character tenant
//! with a 14-character system, a 15-character system). Such members are not
//! dropped: the propagator keeps the whole list in the context next to the
//! SDK's state and sends it on unchanged (see the crate's `propagation` module).

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
    /// More than 32 list members.
    #[error("tracestate has more than {MAX_MEMBERS} members")]
    TooManyMembers,
}

/// Parses and combines every `tracestate` header value, in order, into the
/// SDK's [`TraceState`].
///
/// Empty values and empty list members are ignored. A key that appears again
/// keeps its first member (the specification allows keeping or discarding
/// duplicates; the left-most member is the most recent vendor's). Any invalid
/// member or more than 32 distinct members invalidates the whole list. A list
/// longer than 512 characters is trimmed: members over 128 characters go
/// first, then members from the end.
///
/// The SDK's type cannot hold every key Level 2 allows; such members are left
/// out of the result here. [`Propagator`](super::Propagator) carries them on.
pub fn parse_tracestate<'a, I>(values: I) -> Result<TraceState, TracestateError>
where
    I: IntoIterator<Item = &'a str>,
{
    parse_members(values).map(|members| to_sdk(&members).0)
}

/// The valid, combined, de-duplicated and trimmed members of `values`.
pub(crate) fn parse_members<'a, I>(values: I) -> Result<Vec<(&'a str, &'a str)>, TracestateError>
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
            continue;
        }
        if members.len() == MAX_MEMBERS {
            return Err(TracestateError::TooManyMembers);
        }
        members.push((key, value));
    }
    trim_to_limit(&mut members);
    Ok(members)
}

/// The SDK's state for `members`, and the members it cannot hold (none
/// for a list valid under the SDK's own rules).
pub(crate) fn to_sdk<'a>(members: &[(&'a str, &'a str)]) -> (TraceState, Vec<(&'a str, &'a str)>) {
    if let Ok(state) = TraceState::from_key_value(members.iter().copied()) {
        return (state, Vec::new());
    }
    let (held, extras): (Vec<_>, Vec<_>) = members
        .iter()
        .partition(|m| TraceState::from_key_value([**m]).is_ok());
    let state = TraceState::from_key_value(held).unwrap_or_default();
    (state, extras)
}

/// `members` as one header value.
pub(crate) fn join(members: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(encoded_len(members));
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// The members of a header this crate wrote (`key=value` joined by `,`).
pub(crate) fn split_header(header: &str) -> Vec<(&str, &str)> {
    header
        .split(',')
        .filter_map(|m| m.split_once('='))
        .collect()
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

/// Applies the limits to a list: at most 32 members (the first kept), then
/// at most 512 characters.
pub(crate) fn trim_to_limit(members: &mut Vec<(&str, &str)>) {
    members.truncate(MAX_MEMBERS);
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

/// Level 2: `key = ( lcalpha / DIGIT ) 0*255 ( keychar )` with
/// `keychar = lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@"`.
pub(crate) fn valid_key(key: &str) -> bool {
    let b = key.as_bytes();
    (1..=256).contains(&b.len())
        && b.first()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && b.iter().all(|&c| {
            c.is_ascii_lowercase()
                || c.is_ascii_digit()
                || matches!(c, b'_' | b'-' | b'*' | b'/' | b'@')
        })
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

    fn members(values: &[&str]) -> Result<String, TracestateError> {
        parse_members(values.iter().copied()).map(|m| join(&m))
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
    fn a_repeated_key_keeps_its_first_member() {
        for (case, expected) in [
            (&["foo=1,foo=1"][..], "foo=1"),
            (&["foo=1,foo=2"], "foo=1"),
            (&["foo=1", "foo=1"], "foo=1"),
            (&["foo=2", "foo=1"], "foo=2"),
            (&["foo=1,bar=2", "foo=3,baz=4"], "foo=1,bar=2,baz=4"),
        ] {
            assert_eq!(members(case).unwrap(), expected, "{case:?}");
            assert_eq!(
                keys(&parse_tracestate(case.iter().copied()).unwrap()),
                expected
            );
        }
    }

    #[test]
    fn duplicates_do_not_count_towards_the_member_limit() {
        let mut list: Vec<String> = (1..=32).map(|i| format!("k{i}=v")).collect();
        list.push("k1=again".into());
        assert_eq!(members(&[&list.join(",")]).unwrap().split(',').count(), 32);
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
    fn level_2_keys_with_at_signs_and_leading_digits_are_valid() {
        for key in ["foo@", "foo@@bar", "foo@bar@baz", "1abc", "0", "a@"] {
            let header = format!("{key}=1,bar=2");
            assert_eq!(members(&[&header]).unwrap(), header, "{key:?}");
        }
    }

    #[test]
    fn illegal_keys_drop_the_list() {
        for key in ["foo ", "FOO", "foo.bar", "@foo", "_foo", "-", "é", ""] {
            let header = format!("{key}=1,bar=2");
            assert!(parse_members([header.as_str()]).is_err(), "{key:?}");
            assert!(parse_tracestate([header.as_str()]).is_err(), "{key:?}");
        }
    }

    #[test]
    fn key_length_limit_is_256_characters_whatever_the_at_signs() {
        for key in [
            "z".repeat(256),
            format!("{}@{}", "t".repeat(241), "v".repeat(14)),
            format!("{}@v", "t".repeat(242)),
            format!("t@{}", "v".repeat(15)),
        ] {
            let list = members(&["foo=1", &format!("{key}=1")]).unwrap();
            assert_eq!(list, format!("foo=1,{key}=1"), "{}", key.len());
        }
        assert!(parse_members(["foo=1", &format!("{}=1", "z".repeat(257))]).is_err());
        assert!(parse_members(["foo=1", &format!("{}@v=1", "t".repeat(255))]).is_err());
    }

    #[test]
    fn keys_the_sdk_cannot_hold_are_reported_as_incomplete() {
        let vendor = format!("{}@{}", "t".repeat(241), "v".repeat(14));
        let list = [("foo", "1"), (vendor.as_str(), "1"), ("bar", "2")];
        let (state, extras) = to_sdk(&list);
        assert_eq!(extras, [(vendor.as_str(), "1")]);
        assert_eq!(state.header(), "foo=1,bar=2");
        let (state, extras) = to_sdk(&[("foo", "1"), ("bar", "2")]);
        assert!(extras.is_empty());
        assert_eq!(state.header(), "foo=1,bar=2");
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
