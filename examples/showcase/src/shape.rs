//! A trace's shape: its tree of `service KIND name` lines, `!` marking an
//! error, siblings in a canonical order (parallel calls end in any order).
//! Scenarios write the shape they expect; the check compares the two.

use o11y::testing::{CapturedSpan, Spans};

/// The canonical shape of every trace of `spans`, one after the other.
pub fn of(spans: &Spans) -> String {
    let mut roots: Vec<String> = spans
        .roots()
        .into_iter()
        .map(|r| subtree(spans, r, 0))
        .collect();
    roots.sort();
    roots.concat()
}

fn subtree(spans: &Spans, span: &CapturedSpan, depth: usize) -> String {
    let kind = format!("{:?}", span.kind()).to_uppercase();
    let error = if span.is_error() { " !" } else { "" };
    let mut children: Vec<String> = spans
        .children(span)
        .into_iter()
        .map(|c| subtree(spans, c, depth + 1))
        .collect();
    children.sort();
    format!(
        "{}{} {kind} {}{error}\n{}",
        "  ".repeat(depth),
        span.service(),
        span.name(),
        children.concat()
    )
}

/// `expected` (indented by two spaces a level), in the canonical order.
pub fn canonical(expected: &str) -> String {
    let lines: Vec<(usize, &str)> = expected
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| ((l.len() - l.trim_start().len()) / 2, l.trim()))
        .collect();
    let base = lines.iter().map(|(d, _)| *d).min().unwrap_or(0);
    let lines: Vec<(usize, &str)> = lines.into_iter().map(|(d, l)| (d - base, l)).collect();
    let mut roots = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        roots.push(node(&lines, &mut i));
    }
    roots.sort();
    roots.concat()
}

/// The subtree starting at `lines[*i]`, advancing `i` past it.
fn node(lines: &[(usize, &str)], i: &mut usize) -> String {
    let (depth, text) = lines[*i];
    *i += 1;
    let mut children = Vec::new();
    while *i < lines.len() && lines[*i].0 > depth {
        children.push(node(lines, i));
    }
    children.sort();
    format!("{}{text}\n{}", "  ".repeat(depth), children.concat())
}

/// `Ok` when `spans` has the `expected` shape, else both shapes.
pub fn check(spans: &Spans, expected: &str) -> Result<(), String> {
    let (actual, expected) = (of(spans), canonical(expected));
    match actual == expected {
        true => Ok(()),
        false => Err(format!(
            "shape differs\nexpected:\n{expected}actual:\n{actual}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn siblings_in_any_order_compare_equal() {
        let a = "x SERVER a\n  y CLIENT b\n  y CLIENT c !\n";
        let b = "x SERVER a\n  y CLIENT c !\n  y CLIENT b\n";
        assert_eq!(canonical(a), canonical(b));
        assert_ne!(
            canonical(a),
            canonical("x SERVER a\n  y CLIENT b\n  y CLIENT c\n")
        );
        assert_ne!(
            canonical(a),
            canonical("x SERVER a\n  y CLIENT b\n    y CLIENT c !\n")
        );
    }
}
