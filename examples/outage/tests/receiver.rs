//! `outage-receiver` as the benchmark uses it: in `healthy` mode it counts
//! exactly what a real exporter sent, over gRPC and over OTLP/HTTP, and
//! reports it on SIGTERM; in `black-hole` mode a connection is accepted and
//! never answered.
#![cfg(unix)]

use std::{
    io::{BufRead as _, BufReader, ErrorKind, Read as _, Write as _},
    net::TcpStream,
    process::{Child, Command, Stdio},
    time::Duration,
};

use opentelemetry::{
    logs::{LogRecord as _, Logger as _, LoggerProvider as _},
    metrics::MeterProvider as _,
    trace::{Tracer as _, TracerProvider as _},
};

/// The receiver in `mode` on a free port, and its address.
fn start(mode: &str) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_outage-receiver"))
        .args([mode, "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("outage-receiver starts");
    let mut line = String::new();
    let stderr = child.stderr.take().expect("piped");
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(
        line.contains(" on 127.0.0.1:"),
        "unexpected first line {line:?}"
    );
    (child, addr)
}

/// SIGTERM, then the report line it printed.
fn stop(child: Child) -> String {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "receiver failed: {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn healthy_counts_what_an_exporter_sent_over_grpc_and_http() {
    for protocol in ["grpc", "http/protobuf"] {
        let (receiver, addr) = start("healthy");
        let vars = [
            ("OTEL_EXPORTER_OTLP_PROTOCOL", protocol.to_owned()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}")),
            ("OTEL_TRACES_EXPORTER", "otlp".to_owned()),
            ("OTEL_METRICS_EXPORTER", "otlp".to_owned()),
            ("OTEL_LOGS_EXPORTER", "otlp".to_owned()),
        ];
        let guard = o11y_core::builder("outage-test")
            .install_subscriber(false)
            .env_lookup(move |n| vars.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone()))
            .build()
            .unwrap();
        let tracer = guard.tracer_provider().unwrap().tracer("t");
        (0..7).for_each(|_| tracer.in_span("sent", |_| {}));
        let logger = guard.logger_provider().unwrap().logger("l");
        for _ in 0..3 {
            let mut record = logger.create_log_record();
            record.set_body("sent".into());
            logger.emit(record);
        }
        let meter = guard.meter_provider().unwrap().meter("m");
        meter.u64_counter("sent").build().add(1, &[]);
        guard
            .shutdown()
            .expect("every signal flushed to a healthy receiver");

        let report = stop(receiver);
        assert!(report.contains(r#""spans":7,"#), "{protocol}: {report}");
        assert!(
            report.contains(r#""log_records":3}"#),
            "{protocol}: {report}"
        );
        assert!(!report.contains(r#""metrics":0,"#), "{protocol}: {report}");
    }
}

#[test]
fn a_black_hole_accepts_and_never_answers() {
    let (receiver, addr) = start("black-hole");
    let mut stream = TcpStream::connect(&addr).expect("the connection is accepted");
    stream
        .write_all(b"POST /v1/traces HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n")
        .unwrap();
    // A bound on the check, not a timing: neither an answer nor a close comes.
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let read = stream.read(&mut [0; 64]);
    let kind = read.as_ref().map_err(std::io::Error::kind);
    assert!(
        matches!(kind, Err(ErrorKind::WouldBlock | ErrorKind::TimedOut)),
        "the black hole answered or closed: {read:?}"
    );
    assert!(stop(receiver).contains(r#""mode":"black-hole""#));
}
