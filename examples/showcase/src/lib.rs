//! The showcase's driver: starts the example services in this process on
//! loopback ports, each with its own tracer provider feeding one in-memory
//! capture, drives every scenario, prints each trace as a tree and checks
//! it against the shape the scenario expects.
//!
//! `src/main.rs` is the command line; `tests/` runs [`run`] in-process.

mod logs;
mod render;
mod scenarios;
mod shape;
mod shop;
mod stack;

use std::{io::Write, time::Instant};

pub use logs::Logs;
pub use render::{Palette, tree};
pub use scenarios::{SCENARIOS, Scenario};
pub use stack::{Stack, StartError};

/// What to run and how.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Only this scenario (`B3`, `c7`, ...); all when `None`.
    pub scenario: Option<String>,
    /// Also export every span over OTLP to this collector.
    pub otlp: Option<String>,
    /// The queue transport for the queue scenarios: `memory` (default),
    /// `redis`, `sqs` or `amqp`, against the local brokers.
    pub transport: Option<String>,
    /// Colour on (a terminal) or off.
    pub color: bool,
}

/// How the run went.
#[derive(Debug, Default)]
pub struct Report {
    /// The ids of the scenarios that matched their expected shape.
    pub passed: Vec<&'static str>,
    /// The ids that did not, with the reason.
    pub failed: Vec<(&'static str, String)>,
    /// The ids that could not run here, with what is missing.
    pub skipped: Vec<(&'static str, String)>,
}

/// The scenarios `options` selects, or an error naming the unknown id.
pub fn selected(options: &Options) -> Result<Vec<&'static Scenario>, String> {
    match &options.scenario {
        None => Ok(SCENARIOS.iter().collect()),
        Some(id) => SCENARIOS
            .iter()
            .find(|s| s.id.eq_ignore_ascii_case(id.trim()))
            .map(|s| vec![s])
            .ok_or_else(|| format!("no scenario {id:?}; `--list` shows them")),
    }
}

/// Starts the services, runs the selected scenarios, writes each tree and
/// verdict to `out`.
pub async fn run(options: &Options, out: &mut dyn Write) -> Result<Report, String> {
    let scenarios = selected(options)?;
    let logs = Logs::install();
    let palette = Palette::new(options.color);
    let stack = Stack::start(options).await.map_err(|e| e.to_string())?;
    let mut report = Report::default();
    let total = scenarios.len();
    let started = Instant::now();
    for (i, scenario) in scenarios.into_iter().enumerate() {
        let _ = writeln!(
            out,
            "{}",
            palette.heading(&format!(
                "[{}/{total}] {} {}: {}",
                i + 1,
                scenario.id,
                scenario.title,
                scenario.proves
            ))
        );
        let _ = out.flush();
        let outcome = (scenario.run)(&stack, logs).await;
        let _ = write!(out, "{}", tree(&outcome.shown, &palette));
        for note in &outcome.notes {
            let _ = writeln!(out, "  {note}");
        }
        if let Some(why) = outcome.skipped {
            let _ = writeln!(out, "{}\n", palette.skip(&format!("  SKIPPED: {why}")));
            report.skipped.push((scenario.id, why));
            continue;
        }
        match outcome.verdict {
            Ok(()) => {
                let _ = writeln!(out, "{}\n", palette.pass("  as expected"));
                report.passed.push(scenario.id);
            }
            Err(reason) => {
                let _ = writeln!(out, "{}\n", palette.fail(&format!("  WRONG: {reason}")));
                report.failed.push((scenario.id, reason));
            }
        }
    }
    stack.shutdown();
    let skipped = match report.skipped.len() {
        0 => String::new(),
        n => format!(" ({n} skipped)"),
    };
    let _ = writeln!(
        out,
        "{} of {total} scenarios as expected{skipped} in {:.1} s",
        report.passed.len(),
        started.elapsed().as_secs_f64()
    );
    for (id, reason) in &report.failed {
        let _ = writeln!(out, "{}", palette.fail(&format!("{id}: {reason}")));
    }
    Ok(report)
}
