//! Run: `cargo run -p showcase` (options: `--list`, `--scenario B3`,
//! `--otlp http://127.0.0.1:4317`, `--transport redis|sqs|amqp`)
//!
//! Starts the example services in this process on loopback ports, drives
//! every scenario, prints each trace as a tree and checks its shape. Exits
//! non-zero when any scenario is wrong. `--transport sqs` talks to moto's
//! SQS on 127.0.0.1:5000 and needs `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`
//! (any values, `test`); `QUEUE_URL` overrides a broker's local default.

use std::{io::IsTerminal, process::ExitCode};

use showcase::{Options, SCENARIOS};

const USAGE: &str =
    "usage: showcase [--list] [--scenario ID] [--otlp URL] [--transport memory|redis|sqs|amqp]";

fn options() -> Result<Option<Options>, String> {
    let mut options = Options {
        color: std::io::stdout().is_terminal(),
        ..Options::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--list" => return Ok(None),
            "--scenario" => options.scenario = Some(value("--scenario")?),
            "--otlp" => options.otlp = Some(value("--otlp")?),
            "--transport" => options.transport = Some(value("--transport")?),
            "-h" | "--help" => return Err(USAGE.to_owned()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(Some(options))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() -> ExitCode {
    let options = match options() {
        Ok(Some(options)) => options,
        Ok(None) => {
            for s in SCENARIOS {
                println!("{:<4} {}: {}", s.id, s.title, s.proves);
            }
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match showcase::run(&options, &mut std::io::stdout()).await {
        Ok(report) if report.failed.is_empty() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("showcase: {message}");
            ExitCode::FAILURE
        }
    }
}
