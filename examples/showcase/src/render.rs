//! A trace as a tree: service, span name, kind, duration, status, and a bar
//! for the span's place on the trace's timeline.

use std::{collections::HashMap, fmt::Write as _, time::SystemTime};

use o11y::testing::{CapturedSpan, Spans};

/// Width of the timeline bar.
const BAR: usize = 32;

/// Colours on a terminal, plain text otherwise.
#[derive(Clone, Debug)]
pub struct Palette {
    color: bool,
}

const SERVICE_COLOURS: [&str; 6] = ["36", "35", "33", "34", "32", "96"];

impl Palette {
    /// With ANSI colours or without.
    pub fn new(color: bool) -> Self {
        Self { color }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        match self.color {
            true => format!("\x1b[{code}m{text}\x1b[0m"),
            false => text.to_owned(),
        }
    }

    /// A scenario's title line.
    pub fn heading(&self, text: &str) -> String {
        self.paint("1", text)
    }

    /// A success line.
    pub fn pass(&self, text: &str) -> String {
        self.paint("32", text)
    }

    /// A skip line.
    pub fn skip(&self, text: &str) -> String {
        self.paint("1;33", text)
    }

    /// A failure line.
    pub fn fail(&self, text: &str) -> String {
        self.paint("1;31", text)
    }
}

fn duration(span: &CapturedSpan) -> String {
    let micros = span.duration().as_micros();
    match micros {
        0..1_000 => format!("{micros}µs"),
        1_000..1_000_000 => format!("{:.1}ms", micros as f64 / 1e3),
        _ => format!("{:.2}s", micros as f64 / 1e6),
    }
}

fn offset(from: SystemTime, to: SystemTime) -> f64 {
    to.duration_since(from).unwrap_or_default().as_secs_f64()
}

/// Every trace of `spans` as a tree.
pub fn tree(spans: &Spans, palette: &Palette) -> String {
    let mut colours: HashMap<&str, &str> = HashMap::new();
    for span in spans.iter() {
        let next = SERVICE_COLOURS[colours.len() % SERVICE_COLOURS.len()];
        colours.entry(span.service()).or_insert(next);
    }
    let mut out = String::new();
    for id in spans.trace_ids() {
        let mut rows = Vec::new();
        for root in spans.roots().into_iter().filter(|r| r.trace_id() == id) {
            walk(spans, root, 0, &mut rows);
        }
        let start = rows.iter().map(|(_, s)| s.data.start_time).min();
        let end = rows.iter().map(|(_, s)| s.data.end_time).max();
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        let total = offset(start, end).max(1e-9);
        let width = rows
            .iter()
            .map(|(depth, s)| depth * 2 + label(s).chars().count())
            .max()
            .unwrap_or(0);
        let _ = writeln!(out, "  trace {id}");
        for (depth, span) in rows {
            let text = label(span);
            let pad = width - depth * 2 - text.chars().count();
            let from = (offset(start, span.data.start_time) / total * BAR as f64) as usize;
            let to = (offset(start, span.data.end_time) / total * BAR as f64).ceil() as usize;
            let to = to.clamp(from + 1, BAR).max(from + 1);
            let from = from.min(BAR - 1);
            let bar = format!(
                "{}{}{}",
                " ".repeat(from),
                "█".repeat(to - from),
                " ".repeat(BAR.saturating_sub(to))
            );
            let colour = colours.get(span.service()).copied().unwrap_or("0");
            let (status, status_colour) = match span.is_error() {
                true => ("ERROR", "31"),
                false => ("ok", "32"),
            };
            let _ = writeln!(
                out,
                "    {}{}{} {:>8} {} |{}|",
                "  ".repeat(depth),
                palette.paint(colour, &text),
                " ".repeat(pad),
                duration(span),
                palette.paint(status_colour, &format!("{status:<5}")),
                palette.paint(colour, &bar),
            );
        }
    }
    out
}

fn label(span: &CapturedSpan) -> String {
    let kind = format!("{:?}", span.kind()).to_uppercase();
    format!("{} {} {kind}", span.service(), span.name())
}

fn walk<'s>(
    spans: &'s Spans,
    span: &'s CapturedSpan,
    depth: usize,
    rows: &mut Vec<(usize, &'s CapturedSpan)>,
) {
    rows.push((depth, span));
    for child in spans.children(span) {
        walk(spans, child, depth + 1, rows);
    }
}
