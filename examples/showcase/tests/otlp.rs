//! `--otlp URL`: every service also exports its spans to a collector (here
//! the in-process OTLP/gRPC receiver of o11y-core's tests), flushed when the
//! showcase ends.

#[path = "../../../o11y-core/tests/support/receiver.rs"]
mod receiver;

use std::time::Duration;

use receiver::Receiver;
use showcase::{Options, run};

#[test]
fn otlp_sends_every_services_spans_to_the_collector() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let (receiver, endpoint) = Receiver::start(&rt);
    let options = Options {
        scenario: Some("B1".into()),
        otlp: Some(endpoint),
        ..Options::default()
    };
    let mut out = Vec::new();
    let report = rt.block_on(run(&options, &mut out)).unwrap();
    let text = String::from_utf8_lossy(&out);
    assert_eq!(report.passed, ["B1"], "{text}");
    // B1's seven spans, all of one trace, from four services.
    let received = receiver.wait_for(Duration::from_secs(10), |spans| {
        spans.iter().filter(|s| s.name == "GET /process").count() >= 4
    });
    assert!(
        received,
        "spans received: {:?}",
        receiver.spans().iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    let spans = receiver.spans();
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    for name in ["GET /a/{*path}", "GET", "GET /parallel"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    // All seven in the trace of A's span (startup, such as the audit
    // table's creation, has traces of its own).
    let a = spans.iter().find(|s| s.name == "GET /parallel").unwrap();
    let b1 = spans.iter().filter(|s| s.trace_id == a.trace_id).count();
    assert_eq!(b1, 7, "{names:?}");
    assert!(text.contains("as expected"), "{text}");
}
