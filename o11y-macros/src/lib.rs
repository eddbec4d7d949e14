//! `#[o11y::main]` and `#[o11y::traced]` (work in progress).
