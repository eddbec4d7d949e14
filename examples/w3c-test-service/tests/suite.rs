//! Every case of the public W3C trace-context test harness (at its strictest
//! level, 2), replayed against this service: the harness's inputs and
//! expectations, driven through a real HTTP callback server on 127.0.0.1.

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use axum::{Router, body::Bytes, extract::State, routing::post};
use http::HeaderMap;
use o11y::{
    http::{ClientLayer, ServerLayer},
    propagation::Traceparent,
    testing::Capture,
};

const TID: &str = "12345678901234567890123456789012";
const TP00: &str = "00-12345678901234567890123456789012-1234567890123456-00";
const TP01: &str = "00-12345678901234567890123456789012-1234567890123456-01";

struct Suite {
    service: SocketAddr,
    harness: SocketAddr,
    calls: Arc<Mutex<Vec<HeaderMap>>>,
    _capture: Capture,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

async fn suite() -> Suite {
    let calls: Arc<Mutex<Vec<HeaderMap>>> = Arc::default();
    let router = Router::new()
        .route(
            "/callback/{id}",
            post(
                |State(calls): State<Arc<Mutex<Vec<HeaderMap>>>>,
                 headers: HeaderMap,
                 _body: Bytes| async move {
                    calls.lock().unwrap().push(headers);
                    "ok"
                },
            ),
        )
        .with_state(calls.clone());
    let harness = serve(router).await;
    let capture = Capture::new();
    let provider = capture.provider("w3c-test-service");
    let service = serve(w3c_test_service::router(
        ServerLayer::new().tracer_provider(&provider),
        ClientLayer::new().tracer_provider(&provider),
    ))
    .await;
    Suite {
        service,
        harness,
        calls,
        _capture: capture,
    }
}

/// What the service sent to the harness's callbacks.
struct Callback {
    traceparent: Traceparent,
    tracestate: Vec<(String, String)>,
}

impl Callback {
    fn trace_id(&self) -> String {
        self.traceparent.trace_id().to_string()
    }
    fn get(&self, key: &str) -> Option<&str> {
        self.tracestate
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    fn state(&self) -> String {
        self.tracestate
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",")
    }
}

impl Suite {
    /// Sends `headers` to the service and asks for `count` callbacks.
    async fn request(&self, headers: &[(&str, &str)], count: usize) -> Vec<Callback> {
        use http_body_util::Full;
        use hyper_util::{client::legacy::Client, rt::TokioExecutor};
        self.calls.lock().unwrap().clear();
        let calls: Vec<String> = (0..count)
            .map(|i| {
                format!(
                    r#"{{"url":"http://{}/callback/{i}","arguments":[]}}"#,
                    self.harness
                )
            })
            .collect();
        let body = format!("[{}]", calls.join(","));
        let mut req = http::Request::post(format!("http://{}/test", self.service))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap();
        for (k, v) in headers {
            req.headers_mut().append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                http::HeaderValue::from_bytes(v.as_bytes()).unwrap(),
            );
        }
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
        assert_eq!(
            client.request(req).await.unwrap().status(),
            200,
            "{headers:?}"
        );
        let calls = self.calls.lock().unwrap().clone();
        assert_eq!(
            calls.len(),
            count,
            "the service calls back before it answers"
        );
        calls.iter().map(callback).collect()
    }

    async fn one(&self, headers: &[(&str, &str)]) -> Callback {
        self.request(headers, 1).await.remove(0)
    }
}

fn callback(headers: &HeaderMap) -> Callback {
    let values: Vec<_> = headers.get_all("traceparent").iter().collect();
    assert_eq!(values.len(), 1, "expect one traceparent header");
    let traceparent = Traceparent::parse(values[0].to_str().unwrap()).expect("a valid traceparent");
    let tracestate = headers
        .get_all("tracestate")
        .iter()
        .flat_map(|v| {
            v.to_str()
                .unwrap()
                .split(',')
                .map(str::trim)
                .filter(|m| !m.is_empty())
                .map(|m| {
                    let (k, v) = m.split_once('=').unwrap();
                    (k.to_owned(), v.to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    Callback {
        traceparent,
        tracestate,
    }
}

#[tokio::test]
async fn traceparent_cases() {
    let s = suite().await;
    // both missing; traceparent included: same trace, new parent.
    s.one(&[]).await;
    let c = s.one(&[("traceparent", TP01)]).await;
    assert_eq!(c.trace_id(), TID);
    assert_ne!(c.traceparent.span_id().to_string(), "1234567890123456");
    // duplicated with different trace ids: a new trace.
    let c = s
        .one(&[
            (
                "traceparent",
                "00-12345678901234567890123456789011-1234567890123456-01",
            ),
            ("traceparent", TP01),
        ])
        .await;
    assert!(c.trace_id() != TID && c.trace_id() != "12345678901234567890123456789011");
    // header names.
    for name in ["trace-parent", "trace.parent"] {
        assert_ne!(s.one(&[(name, TP01)]).await.trace_id(), TID, "{name}");
    }
    for name in ["TraceParent", "TrAcEpArEnT", "TRACEPARENT"] {
        assert_eq!(s.one(&[(name, TP01)]).await.trace_id(), TID, "{name}");
    }
    // values that keep the trace.
    let keep = [
        "cc-12345678901234567890123456789012-1234567890123456-01",
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ];
    for v in keep {
        assert_eq!(s.one(&[("traceparent", v)]).await.trace_id(), TID, "{v:?}");
    }
    // values that restart it.
    let restart = [
        "00-12345678901234567890123456789012-1234567890123456-01.",
        "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        "ff-12345678901234567890123456789012-1234567890123456-01",
        ".0-12345678901234567890123456789012-1234567890123456-01",
        "0.-12345678901234567890123456789012-1234567890123456-01",
        "000-12345678901234567890123456789012-1234567890123456-01",
        "0000-12345678901234567890123456789012-1234567890123456-01",
        "0-12345678901234567890123456789012-1234567890123456-01",
        "00-00000000000000000000000000000000-1234567890123456-01",
        "00-.2345678901234567890123456789012-1234567890123456-01",
        "00-1234567890123456789012345678901.-1234567890123456-01",
        "00-123456789012345678901234567890123-1234567890123456-01",
        "00-1234567890123456789012345678901-1234567890123456-01",
        "00-12345678901234567890123456789012-0000000000000000-01",
        "00-12345678901234567890123456789012-.234567890123456-01",
        "00-12345678901234567890123456789012-123456789012345.-01",
        "00-12345678901234567890123456789012-12345678901234567-01",
        "00-12345678901234567890123456789012-123456789012345-01",
        "00-12345678901234567890123456789012-1234567890123456-.0",
        "00-12345678901234567890123456789012-1234567890123456-0.",
        "00-12345678901234567890123456789012-1234567890123456-001",
        "00-12345678901234567890123456789012-1234567890123456-1",
    ];
    for v in restart {
        let id = s.one(&[("traceparent", v)]).await.trace_id();
        assert!(
            id != TID
                && id != "00000000000000000000000000000000"
                && id != "23456789012345678901234567890123",
            "{v:?} gave {id}"
        );
    }
}

#[tokio::test]
async fn tracestate_cases() {
    let s = suite().await;
    // without traceparent, tracestate is discarded.
    let a = s.one(&[("tracestate", "foo=1")]).await;
    let b = s.one(&[("tracestate", "foo=1,bar=2")]).await;
    assert_eq!(a.tracestate.len(), b.tracestate.len());
    assert!(b.get("bar").is_none());
    // inherited.
    let c = s
        .one(&[("traceparent", TP00), ("tracestate", "foo=1,bar=2")])
        .await;
    assert_eq!(c.trace_id(), TID);
    assert_eq!((c.get("foo"), c.get("bar")), (Some("1"), Some("2")));
    // header names.
    for name in ["trace-state", "trace.state"] {
        assert!(
            s.one(&[("traceparent", TP00), (name, "foo=1")])
                .await
                .get("foo")
                .is_none(),
            "{name}"
        );
    }
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        assert_eq!(
            s.one(&[("traceparent", TP00), (name, "foo=1")])
                .await
                .get("foo"),
            Some("1"),
            "{name}"
        );
    }
    // empty headers.
    let c = s.one(&[("traceparent", TP00), ("tracestate", "")]).await;
    assert_eq!((c.trace_id().as_str(), c.tracestate.len()), (TID, 0));
    for pair in [
        [("tracestate", "foo=1"), ("tracestate", "")],
        [("tracestate", ""), ("tracestate", "foo=1")],
    ] {
        let c = s.one(&[("traceparent", TP00), pair[0], pair[1]]).await;
        assert_eq!((c.trace_id().as_str(), c.get("foo")), (TID, Some("1")));
    }
    // several headers, combined in order.
    let c = s
        .one(&[
            ("traceparent", TP00),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ])
        .await;
    assert_eq!(c.state(), "foo=1,bar=2,rojo=1,congo=2,baz=3");
    // duplicated keys: dropped.
    for pair in [
        ["foo=1,foo=1", ""],
        ["foo=1,foo=2", ""],
        ["foo=1", "foo=1"],
        ["foo=1", "foo=2"],
    ] {
        let mut headers = vec![("traceparent", TP00), ("tracestate", pair[0])];
        if !pair[1].is_empty() {
            headers.push(("tracestate", pair[1]));
        }
        let c = s.one(&headers).await;
        assert_eq!(c.trace_id(), TID);
        assert!(c.get("foo").is_none(), "{pair:?}");
    }
    // all allowed characters.
    let key = "abcdefghijklmnopqrstuvwxyz0123456789_-*/";
    let value: String = (0x20u8..=0x2b)
        .chain(0x2d..=0x3c)
        .chain(0x3e..=0x7e)
        .map(char::from)
        .collect();
    for k in [key.to_owned(), format!("{key}@a-z0-9_-*/")] {
        let header = format!("{k}={value}");
        let c = s
            .one(&[("traceparent", TP00), ("tracestate", &header)])
            .await;
        assert_eq!(c.get(&k), Some(value.as_str()), "{k}");
    }
    // optional white space.
    for v in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        let c = s.one(&[("traceparent", TP00), ("tracestate", v)]).await;
        assert_eq!(
            (c.get("foo"), c.get("bar"), c.get("baz")),
            (Some("1"), Some("2"), Some("3")),
            "{v:?}"
        );
    }
    for v in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        let c = s.one(&[("traceparent", TP00), ("tracestate", v)]).await;
        assert_eq!(
            (c.trace_id().as_str(), c.get("foo")),
            (TID, Some("1")),
            "{v:?}"
        );
    }
    // illegal keys and vendor formats: the list is dropped.
    for (v, key) in [
        ("foo =1", "foo "),
        ("FOO=1", "FOO"),
        ("foo.bar=1", "foo.bar"),
    ] {
        assert!(
            s.one(&[("traceparent", TP00), ("tracestate", v)])
                .await
                .get(key)
                .is_none(),
            "{v}"
        );
    }
    for v in [
        "foo@=1,bar=2",
        "@foo=1,bar=2",
        "foo@@bar=1,bar=2",
        "foo@bar@baz=1,bar=2",
    ] {
        assert!(
            s.one(&[("traceparent", TP00), ("tracestate", v)])
                .await
                .get("bar")
                .is_none(),
            "{v}"
        );
    }
    // member count: 32 kept, 33 dropped.
    let first =
        "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10";
    let second =
        "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20";
    let third =
        "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30";
    let c = s
        .one(&[
            ("traceparent", TP00),
            ("tracestate", first),
            ("tracestate", second),
            ("tracestate", third),
            ("tracestate", "bar31=31,bar32=32"),
        ])
        .await;
    assert_eq!((c.get("bar01"), c.tracestate.len()), (Some("01"), 32));
    let c = s
        .one(&[
            ("traceparent", TP00),
            ("tracestate", first),
            ("tracestate", second),
            ("tracestate", third),
            ("tracestate", "bar31=31,bar32=32,bar33=33"),
        ])
        .await;
    assert!(c.get("bar01").is_none());
    // key length limits.
    for (k, keep) in [
        ("z".repeat(256), true),
        ("z".repeat(257), false),
        (format!("{}@{}", "t".repeat(241), "v".repeat(14)), true),
        (format!("{}@v", "t".repeat(242)), false),
        (format!("t@{}", "v".repeat(15)), false),
    ] {
        let member = format!("{k}=1");
        let c = s
            .one(&[
                ("traceparent", TP00),
                ("tracestate", "foo=1"),
                ("tracestate", &member),
            ])
            .await;
        assert_eq!(c.get("foo").is_some(), keep, "{} characters", k.len());
    }
    // illegal values.
    assert!(
        s.one(&[("traceparent", TP00), ("tracestate", "foo=bar=baz")])
            .await
            .get("foo")
            .is_none()
    );
    let c = s
        .one(&[("traceparent", TP00), ("tracestate", "foo=,bar=3")])
        .await;
    assert!(c.get("foo").is_none() && c.get("bar").is_none());
}

#[tokio::test]
async fn advanced_cases() {
    let s = suite().await;
    let distinct_parents = |calls: &[Callback]| {
        calls
            .iter()
            .map(|c| c.traceparent.span_id())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    let calls = s.request(&[("traceparent", TP01)], 3).await;
    assert!(calls.iter().all(|c| c.trace_id() == TID));
    assert_eq!(distinct_parents(&calls), 3);
    let calls = s.request(&[], 3).await;
    assert_eq!(distinct_parents(&calls), 3);
    let calls = s
        .request(
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-1234567890123456-01",
            )],
            3,
        )
        .await;
    assert!(
        calls
            .iter()
            .all(|c| c.trace_id() != "00000000000000000000000000000000")
    );
    assert_eq!(distinct_parents(&calls), 3);
}
