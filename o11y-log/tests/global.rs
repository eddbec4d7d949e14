//! Ids under the global dispatcher (the other binaries use scoped ones).

mod support;

use tracing_subscriber::util::SubscriberInitExt as _;

#[tracing::instrument]
fn handle(order: u32) {
    tracing::info!(order, "handled");
}

#[test]
fn ids_under_the_global_dispatcher() {
    let (capture, provider, out) = support::setup();
    support::subscriber(&provider, &out).init();
    tracing::info!("before");
    handle(9);
    let spans = capture.wait_for(1);
    let span = spans.find("handle");
    let lines = out.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0].get("trace_id"), None);
    assert_eq!(lines[0].get("span_id"), None);
    assert_eq!(
        support::str_at(&lines[1], "trace_id"),
        Some(span.trace_id().to_string().as_str())
    );
    assert_eq!(
        support::str_at(&lines[1], "span_id"),
        Some(span.span_id().to_string().as_str())
    );
    assert_eq!(lines[1]["order"], 9);
}
