//! A Rust port of the public W3C Trace Context test harness: `test/test.py` of
//! w3c/trace-context at commit acab820be9db7b3433668baa5cdd43f57f4c4be0 (the
//! copy in `../shared/w3c-trace-context-harness`, see its SOURCE.md), run as
//! `STRICT_LEVEL=2 SPEC_LEVEL=2`: every test method of the harness, under its
//! name, with the harness's inputs and the harness's assertions, one for one.
//!
//! The harness's helpers are ported with it: `make_request` sends the header
//! list to the service's `/test` as the harness's aiohttp client does (in
//! order, a repeated name as separate header lines, names as written), with
//! one callback URL per argument on a callback server on 127.0.0.1;
//! `get_traceparent` and `get_tracestate` read the callbacks with the
//! harness's own `Traceparent` and `Tracestate` rules
//! (`tracecontext/traceparent.py`, `tracecontext/tracestate.py`).
//!
//! CI also runs the Python harness itself against the service.

use std::{
    collections::{HashMap, HashSet},
    fmt::{self, Write as _},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State},
    routing::post,
};
use http::{HeaderMap, StatusCode};
use o11y::{
    http::{ClientLayer, ServerLayer},
    testing::Capture,
};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The harness's `HARNESS_TIMEOUT` default: its call to the service gets 5 s.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Header name and value pairs, in the order they came.
type Headers = Vec<(String, String)>;

/// The callbacks the harness server recorded: scope id, then callback id.
type Scopes = Arc<Mutex<HashMap<String, HashMap<String, Headers>>>>;

/// The harness: its callback server and the service under test.
struct Harness {
    service: SocketAddr,
    server: SocketAddr,
    scopes: Scopes,
    _capture: Capture,
}

async fn serve(router: Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

/// The callback half of the harness server's `scope_handler`: the request's
/// JSON is read first (a body that is not JSON fails the callback, unrecorded),
/// then its headers are recorded under `{scope}.{callback}`. test.py's
/// callbacks carry no further actions, so the answer is `null`.
async fn callback(
    State(scopes): State<Scopes>,
    Path(path): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, StatusCode> {
    serde_json::from_slice::<serde_json::Value>(&body)
        .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let (scope, callback) = path.split_once('.').ok_or(StatusCode::NOT_FOUND)?;
    let headers = headers
        .iter()
        .map(|(k, v)| {
            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
            (k.as_str().to_owned(), value)
        })
        .collect();
    let mut scopes = scopes.lock().unwrap();
    let scope = scopes.entry(scope.to_owned()).or_default();
    scope.insert(callback.to_owned(), headers);
    Ok(Json(serde_json::Value::Null))
}

/// What the harness's client got from the service: the raw response, or the
/// exception it met.
async fn send(service: SocketAddr, headers: &[(&str, &str)], body: &str) -> Result<String, String> {
    let mut request = format!("POST /test HTTP/1.1\r\nHost: {service}\r\n");
    // aiohttp's session headers: `Accept`, then the case's list as given.
    request.push_str("Accept: application/json\r\n");
    for (name, value) in headers {
        let _ = write!(request, "{name}: {value}\r\n");
    }
    let _ = write!(
        request,
        "Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = TcpStream::connect(service).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await?;
        Ok::<_, std::io::Error>(String::from_utf8_lossy(&response).into_owned())
    };
    match tokio::time::timeout(TIMEOUT, exchange).await {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err(format!("TimeoutError after {TIMEOUT:?}")),
    }
}

static NEXT_SCOPE: AtomicU64 = AtomicU64::new(0);

impl Harness {
    async fn start() -> Self {
        let scopes = Scopes::default();
        let server = serve(
            Router::new()
                .route("/{scope}", post(callback))
                .with_state(scopes.clone()),
        )
        .await;
        let capture = Capture::new();
        let provider = capture.provider("w3c-test-service");
        let service = serve(w3c_test_service::router(
            ServerLayer::new().tracer_provider(&provider),
            ClientLayer::new().tracer_provider(&provider),
        ))
        .await;
        Self {
            service,
            server,
            scopes,
            _capture: capture,
        }
    }

    /// `make_request`: the service is asked for `count` callbacks; each must
    /// have been made. Returns the headers of each callback.
    async fn make_request(&self, headers: &[(&str, &str)], count: usize) -> Vec<Headers> {
        let scope = format!("{:032x}", NEXT_SCOPE.fetch_add(1, Ordering::Relaxed));
        let arguments: Vec<serde_json::Value> = (0..count)
            .map(|idx| {
                let url = format!("http://{}/{scope}.{idx}", self.server);
                serde_json::json!({ "url": url, "arguments": [] })
            })
            .collect();
        let body = serde_json::to_string(&arguments).unwrap();
        let result = send(self.service, headers, &body).await;
        let mut callbacks = self
            .scopes
            .lock()
            .unwrap()
            .remove(&scope)
            .unwrap_or_default();
        let verbose = self.verbose(headers, &body, &result, &callbacks);
        if std::env::var_os("HARNESS_DEBUG").is_some() {
            println!("{verbose}");
        }
        (0..count)
            .map(|idx| {
                let Some(headers) = callbacks.remove(&idx.to_string()) else {
                    panic!(
                        "your test service failed to make a callback to the test harness {verbose}"
                    )
                };
                headers
            })
            .collect()
    }

    /// The harness's account of the exchange, for its failure message.
    fn verbose(
        &self,
        headers: &[(&str, &str)],
        body: &str,
        result: &Result<String, String>,
        callbacks: &HashMap<String, Headers>,
    ) -> String {
        let url = format!("http://{}/test", self.service);
        let mut verbose = format!(
            "\n\nHarness trying to send the following request to your service {url}\n\n\
             POST {url} HTTP/1.1\n"
        );
        for (key, value) in headers {
            let _ = writeln!(verbose, "{key}: {value}");
        }
        let _ = write!(verbose, "\n{body}\n\n");
        match result {
            Err(e) => {
                let _ = write!(verbose, "Harness got an exception {e}\n\n");
            }
            Ok(response) => {
                let _ = write!(
                    verbose,
                    "Your service {url} responded with\n\n{response}\n\n"
                );
            }
        }
        let mut received: Vec<_> = callbacks.iter().collect();
        received.sort();
        for (_, headers) in received {
            let _ = write!(
                verbose,
                "Your service {url} made the following callback to harness\n\n"
            );
            for (key, value) in headers {
                let _ = writeln!(verbose, "{key}: {value}");
            }
            verbose.push('\n');
        }
        verbose
    }

    async fn make_single_request_and_get_tracecontext(
        &self,
        headers: &[(&str, &str)],
    ) -> (Traceparent, Tracestate) {
        let headers = self.make_request(headers, 1).await.remove(0);
        (get_traceparent(&headers), get_tracestate(&headers))
    }
}

/// Python's `re.match(r'^name$', key, re.IGNORECASE)` for an ASCII header name.
fn name_matches(key: &str, name: &str) -> bool {
    py_end(key).eq_ignore_ascii_case(name)
}

/// What a Python pattern ending in `$` sees: `$` also matches before a final
/// `\n`, so one trailing newline is not part of the match.
fn py_end(s: &str) -> &str {
    s.strip_suffix('\n').unwrap_or(s)
}

/// test.py defines `traceparent_format` but never applies it: the one
/// traceparent value goes straight to `Traceparent.from_string`, as here.
fn get_traceparent(headers: &Headers) -> Traceparent {
    let retval: Vec<_> = headers
        .iter()
        .filter(|(key, _)| name_matches(key, "traceparent"))
        .collect();
    assert_eq!(
        retval.len(),
        1,
        "expect one traceparent header, got {} {retval:?}",
        if retval.is_empty() { "zero" } else { "more" }
    );
    Traceparent::from_string(&retval[0].1).unwrap_or_else(|e| panic!("{e}"))
}

fn get_tracestate(headers: &Headers) -> Tracestate {
    let mut tracestate = Tracestate::default();
    for (key, value) in headers {
        if name_matches(key, "tracestate") {
            tracestate
                .from_string(value)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    tracestate
}

/// `assert_bit_set`: n == 1 is the least significant bit, since Python's
/// `1 << n - 1` is `1 << (n - 1)` (the harness's docstring says n == 0; its
/// code, ported here, says n == 1).
fn assert_bit_set(value: u8, n: u32, message: &str) {
    let mut msg = format!("expected value 0x{value:02x} to have #{n}th bit set but it did not");
    if !message.is_empty() {
        msg += " : ";
        msg += message;
    }
    assert_eq!(u32::from(value) & (1 << (n - 1)), 1 << (n - 1), "{msg}");
}

/// The harness's `Traceparent` (`tracecontext/traceparent.py`). Its version
/// can only be 0, so it is not kept.
struct Traceparent {
    trace_id: Vec<u8>,
    parent_id: Vec<u8>,
    trace_flags: u8,
}

impl Traceparent {
    /// `Traceparent.from_string`: `Traceparent(*value.split('-'))`. More than
    /// four fields is a TypeError; a missing trace_id or parent_id is
    /// generated (`uuid1().hex`, `uuid4().hex[:16]`), missing trace_flags are 0.
    fn from_string(value: &str) -> Result<Self, String> {
        let fields: Vec<&str> = value.split('-').collect();
        if fields.len() > 4 {
            return Err(format!(
                "TypeError: Traceparent takes at most 4 fields, {value:?} has {}",
                fields.len()
            ));
        }
        // `set_version`: anything but '00' is an unsupported version.
        if fields[0] != "00" {
            return Err(format!("ValueError: unsupported version in {value:?}"));
        }
        let trace_id = match fields.get(1) {
            Some(field) => from_hex(field, 32, "trace_id")?,
            None => from_hex(&fresh_hex(32), 32, "trace_id")?,
        };
        if trace_id.iter().all(|b| *b == 0) {
            return Err("ValueError: all zero trace_id is not allowed".into());
        }
        let parent_id = match fields.get(2) {
            Some(field) => from_hex(field, 16, "parent_id")?,
            None => from_hex(&fresh_hex(16), 16, "parent_id")?,
        };
        if parent_id.iter().all(|b| *b == 0) {
            return Err("ValueError: all zero parent_id is not allowed".into());
        }
        let trace_flags = match fields.get(3) {
            Some(field) => from_hex(field, 2, "trace_flags")?[0],
            None => 0,
        };
        Ok(Self {
            trace_id,
            parent_id,
            trace_flags,
        })
    }
}

/// A field checked against `^[0-9a-f]{len}$`, then `bytes.fromhex`.
fn from_hex(field: &str, len: usize, name: &str) -> Result<Vec<u8>, String> {
    let digits = py_end(field);
    let lower_hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
    if digits.len() != len || !digits.bytes().all(lower_hex) {
        return Err(format!(
            "ValueError: {name} {field:?} does not match ^[0-9a-f]{{{len}}}$"
        ));
    }
    Ok((0..len)
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).unwrap())
        .collect())
}

/// A random id in lowercase hex, as uuid gives the harness.
fn fresh_hex(len: usize) -> String {
    use std::hash::BuildHasher;
    let mut hex = String::new();
    while hex.len() < len {
        let random = std::collections::hash_map::RandomState::new().hash_one(hex.len());
        let _ = write!(hex, "{random:016x}");
    }
    hex.truncate(len);
    hex
}

/// `bytes.hex()`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The harness's `Tracestate` (`tracecontext/tracestate.py`): an ordered map
/// that keeps the first of duplicated keys.
#[derive(Default)]
struct Tracestate {
    traits: Vec<(String, String)>,
}

impl Tracestate {
    /// `from_string`: members split on `[ \t]*,[ \t]*`, empty ones skipped;
    /// a member that is not `^(_KEY_FORMAT)(=)(_VALUE_FORMAT)$` is an error.
    #[expect(clippy::wrong_self_convention, reason = "the harness's name")]
    fn from_string(&mut self, string: &str) -> Result<(), String> {
        for member in split_members(string) {
            if member.is_empty() {
                continue;
            }
            let Some((key, value)) = parse_member(member) else {
                return Err(format!("ValueError: illegal key-value format {member:?}"));
            };
            if !self.contains(key) {
                self.traits.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(())
    }

    /// `key in tracestate`.
    fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.traits
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// `tracestate[key]`: a missing key raises KeyError.
    fn item(&self, key: &str) -> &str {
        self.get(key)
            .unwrap_or_else(|| panic!("KeyError: {key:?} in {self}"))
    }

    /// `len(tracestate)`.
    fn len(&self) -> usize {
        self.traits.len()
    }

    /// `not tracestate`.
    fn is_empty(&self) -> bool {
        self.traits.is_empty()
    }
}

/// `str(tracestate)`.
impl fmt::Display for Tracestate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (key, value)) in self.traits.iter().enumerate() {
            let sep = if i == 0 { "" } else { "," };
            write!(f, "{sep}{key}={value}")?;
        }
        Ok(())
    }
}

/// `re.split('[ \t]*,[ \t]*', string)`: the spaces and tabs next to each
/// comma go with it; those at either end of the string stay.
fn split_members(string: &str) -> Vec<&str> {
    let pieces: Vec<&str> = string.split(',').collect();
    let last = pieces.len() - 1;
    pieces
        .into_iter()
        .enumerate()
        .map(|(i, piece)| {
            let piece = if i > 0 {
                piece.trim_start_matches([' ', '\t'])
            } else {
                piece
            };
            if i < last {
                piece.trim_end_matches([' ', '\t'])
            } else {
                piece
            }
        })
        .collect()
}

/// `^([0-9a-z][_0-9a-z\-\*\/@]{0,255})(=)([\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e])$`.
/// Neither the key nor the value may hold `=`, so the first `=` splits them.
fn parse_member(member: &str) -> Option<(&str, &str)> {
    let (key, value) = py_end(member).split_once('=')?;
    (is_key(key) && is_value(value)).then_some((key, value))
}

/// `[0-9a-z][_0-9a-z\-\*\/@]{0,255}`.
fn is_key(key: &str) -> bool {
    let first = |b: u8| b.is_ascii_digit() || b.is_ascii_lowercase();
    let rest = |b: u8| first(b) || b"_-*/@".contains(&b);
    match key.as_bytes() {
        [head, tail @ ..] => first(*head) && tail.len() <= 255 && tail.iter().all(|b| rest(*b)),
        [] => false,
    }
}

/// `[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]`.
fn is_value(value: &str) -> bool {
    let chr = |b: u8| (0x20..=0x7e).contains(&b) && b != 0x2c && b != 0x3d;
    match value.as_bytes() {
        [init @ .., last] => {
            init.len() <= 255 && init.iter().all(|b| chr(*b)) && chr(*last) && *last != 0x20
        }
        [] => false,
    }
}

/// `assertIn(key, tracestate)`.
fn assert_in(key: &str, tracestate: &Tracestate) {
    assert!(
        tracestate.contains(key),
        "{key:?} not found in Tracestate({:?})",
        tracestate.to_string()
    );
}

/// `assertRaises(KeyError, lambda: tracestate[key])`.
fn assert_raises_key_error(tracestate: &Tracestate, key: &str) {
    assert!(
        tracestate.get(key).is_none(),
        "KeyError not raised: Tracestate({:?}) holds {key:?}",
        tracestate.to_string()
    );
}

/// `str.index`: a missing substring raises ValueError.
fn index(s: &str, sub: &str) -> usize {
    s.find(sub)
        .unwrap_or_else(|| panic!("ValueError: substring {sub:?} not found in {s:?}"))
}

// class TraceContextTest

#[tokio::test]
async fn test_both_traceparent_and_tracestate_missing() {
    let h = Harness::start().await;
    let (_traceparent, _tracestate) = h.make_single_request_and_get_tracecontext(&[]).await;
}

#[tokio::test]
async fn test_traceparent_included_tracestate_missing() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    assert_ne!(hex(&traceparent.parent_id), "1234567890123456");
}

#[tokio::test]
async fn test_traceparent_duplicated() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789011-1234567890123456-01",
            ),
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01",
            ),
        ])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789011"
    );
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_header_name() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "trace-parent",
            "00-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "trace.parent",
            "00-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_header_name_valid_casing() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "TraceParent",
            "00-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "TrAcEpArEnT",
            "00-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "TRACEPARENT",
            "00-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_version_0x00() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-01.",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_version_0xcc() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "cc-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_version_0xff() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "ff-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_version_illegal_characters() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            ".0-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "0.-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_version_too_long() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "000-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "0000-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_version_too_short() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "0-12345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_trace_id_all_zero() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-00000000000000000000000000000000-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "00000000000000000000000000000000"
    );
}

#[tokio::test]
async fn test_traceparent_trace_id_illegal_characters() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-.2345678901234567890123456789012-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        ".2345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-1234567890123456789012345678901.-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "1234567890123456789012345678901."
    );
}

#[tokio::test]
async fn test_traceparent_trace_id_too_long() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-123456789012345678901234567890123-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "123456789012345678901234567890123"
    );
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    assert_ne!(
        hex(&traceparent.trace_id),
        "23456789012345678901234567890123"
    );
}

#[tokio::test]
async fn test_traceparent_trace_id_too_short() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-1234567890123456789012345678901-1234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "1234567890123456789012345678901"
    );
}

#[tokio::test]
async fn test_traceparent_parent_id_all_zero() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-0000000000000000-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_parent_id_illegal_characters() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-.234567890123456-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-123456789012345.-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_parent_id_too_long() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-12345678901234567-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_parent_id_too_short() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-123456789012345-01",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_trace_flags_illegal_characters() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-.0",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-0.",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_trace_flags_too_long() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-001",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_trace_flags_too_short() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-1",
        )])
        .await;
    assert_ne!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
}

#[tokio::test]
async fn test_traceparent_ows_handling() {
    let h = Harness::start().await;
    for value in [
        " 00-12345678901234567890123456789012-1234567890123456-01",
        "\t00-12345678901234567890123456789012-1234567890123456-01",
        "00-12345678901234567890123456789012-1234567890123456-01 ",
        "00-12345678901234567890123456789012-1234567890123456-01\t",
        "\t 00-12345678901234567890123456789012-1234567890123456-01 \t",
    ] {
        let (traceparent, _tracestate) = h
            .make_single_request_and_get_tracecontext(&[("traceparent", value)])
            .await;
        assert_eq!(
            hex(&traceparent.trace_id),
            "12345678901234567890123456789012",
            "{value:?}"
        );
    }
}

#[tokio::test]
async fn test_tracestate_included_traceparent_missing() {
    let h = Harness::start().await;
    let (_traceparent, tracestate1) = h
        .make_single_request_and_get_tracecontext(&[("tracestate", "foo=1")])
        .await;
    let (_traceparent, tracestate2) = h
        .make_single_request_and_get_tracecontext(&[("tracestate", "foo=1,bar=2")])
        .await;
    assert_eq!(tracestate1.len(), tracestate2.len());
}

#[tokio::test]
async fn test_tracestate_included_traceparent_included() {
    let h = Harness::start().await;
    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1,bar=2"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    assert_in("foo", &tracestate);
    assert_in("bar", &tracestate);
    assert_eq!(tracestate.item("foo"), "1");
    assert_eq!(tracestate.item("bar"), "2");
}

#[tokio::test]
async fn test_tracestate_header_name() {
    let h = Harness::start().await;
    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("trace-state", "foo=1"),
        ])
        .await;
    assert_raises_key_error(&tracestate, "foo");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("trace.state", "foo=1"),
        ])
        .await;
    assert_raises_key_error(&tracestate, "foo");
}

#[tokio::test]
async fn test_tracestate_header_name_valid_casing() {
    let h = Harness::start().await;
    for name in ["TraceState", "TrAcEsTaTe", "TRACESTATE"] {
        let (_traceparent, tracestate) = h
            .make_single_request_and_get_tracecontext(&[
                (
                    "traceparent",
                    "00-12345678901234567890123456789012-1234567890123456-00",
                ),
                (name, "foo=1"),
            ])
            .await;
        assert_in("foo", &tracestate);
        assert_eq!(tracestate.item("foo"), "1", "{name}");
    }
}

#[tokio::test]
async fn test_tracestate_empty_header() {
    let h = Harness::start().await;
    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", ""),
        ])
        .await;
    // `not tracestate or tracestate != ''`: Tracestate defines no __eq__, so
    // it never equals the string '' and the harness's assertion always holds.
    let differs_from_empty_string = true;
    assert!(tracestate.is_empty() || differs_from_empty_string);
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );

    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1"),
            ("tracestate", ""),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    assert_in("foo", &tracestate);
    assert_eq!(tracestate.item("foo"), "1");

    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", ""),
            ("tracestate", "foo=1"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    assert_in("foo", &tracestate);
    assert_eq!(tracestate.item("foo"), "1");
}

#[tokio::test]
async fn test_tracestate_multiple_headers_different_keys() {
    let h = Harness::start().await;
    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1,bar=2"),
            ("tracestate", "rojo=1,congo=2"),
            ("tracestate", "baz=3"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    let s = tracestate.to_string();
    for member in ["foo=1", "bar=2", "rojo=1", "congo=2", "baz=3"] {
        assert!(s.contains(member), "{member} in {s:?}");
    }
    assert!(index(&s, "foo=1") < index(&s, "bar=2"), "{s:?}");
    assert!(index(&s, "bar=2") < index(&s, "rojo=1"), "{s:?}");
    assert!(index(&s, "rojo=1") < index(&s, "congo=2"), "{s:?}");
    assert!(index(&s, "congo=2") < index(&s, "baz=3"), "{s:?}");
}

#[tokio::test]
async fn test_tracestate_duplicated_keys() {
    let h = Harness::start().await;
    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1,foo=1"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    let s = tracestate.to_string();
    assert!(s.contains("foo=1"), "'foo=1' in {s:?}");

    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1,foo=2"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    let s = tracestate.to_string();
    assert!(s.contains("foo=1") || s.contains("foo=2"), "{s:?}");

    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1"),
            ("tracestate", "foo=1"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    let s = tracestate.to_string();
    assert!(s.contains("foo=1"), "'foo=1' in {s:?}");

    let (traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=1"),
            ("tracestate", "foo=2"),
        ])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    let s = tracestate.to_string();
    assert!(s.contains("foo=1") || s.contains("foo=2"), "{s:?}");
}

#[tokio::test]
async fn test_tracestate_all_allowed_characters() {
    let h = Harness::start().await;
    let key_without_vendor: String = (0x61u8..=0x7a)
        .map(char::from)
        .chain("0123456789".chars())
        .chain("_-*/".chars())
        .collect();
    let key_with_vendor = format!("{key_without_vendor}@a-z0-9_-*/");
    let value: String = (0x20u8..=0x2b)
        .chain(0x2d..=0x3c)
        .chain(0x3e..=0x7e)
        .map(char::from)
        .collect();

    for key in [key_without_vendor, key_with_vendor] {
        let (_traceparent, tracestate) = h
            .make_single_request_and_get_tracecontext(&[
                (
                    "traceparent",
                    "00-12345678901234567890123456789012-1234567890123456-00",
                ),
                ("tracestate", &format!("{key}={value}")),
            ])
            .await;
        assert_in(&key, &tracestate);
        assert_eq!(tracestate.item(&key), value);
    }
}

#[tokio::test]
async fn test_tracestate_ows_handling() {
    let h = Harness::start().await;
    for header in [
        "foo=1 \t , \t bar=2, \t baz=3",
        "foo=1\t \t,\t \tbar=2,\t \tbaz=3",
    ] {
        let (_traceparent, tracestate) = h
            .make_single_request_and_get_tracecontext(&[
                (
                    "traceparent",
                    "00-12345678901234567890123456789012-1234567890123456-00",
                ),
                ("tracestate", header),
            ])
            .await;
        assert_in("foo", &tracestate);
        assert_in("bar", &tracestate);
        assert_in("baz", &tracestate);
        assert_eq!(tracestate.item("foo"), "1");
        assert_eq!(tracestate.item("bar"), "2");
        assert_eq!(tracestate.item("baz"), "3");
    }

    for header in [" foo=1", "\tfoo=1", "foo=1 ", "foo=1\t", "\t foo=1 \t"] {
        let (traceparent, tracestate) = h
            .make_single_request_and_get_tracecontext(&[
                (
                    "traceparent",
                    "00-12345678901234567890123456789012-1234567890123456-00",
                ),
                ("tracestate", header),
            ])
            .await;
        assert_eq!(
            hex(&traceparent.trace_id),
            "12345678901234567890123456789012",
            "{header:?}"
        );
        assert_in("foo", &tracestate);
        assert_eq!(tracestate.item("foo"), "1");
    }
}

#[tokio::test]
async fn test_tracestate_key_illegal_characters() {
    let h = Harness::start().await;
    for (header, key) in [
        ("foo =1", "foo "),
        ("FOO=1", "FOO"),
        ("foo.bar=1", "foo.bar"),
    ] {
        let (_traceparent, tracestate) = h
            .make_single_request_and_get_tracecontext(&[
                (
                    "traceparent",
                    "00-12345678901234567890123456789012-1234567890123456-00",
                ),
                ("tracestate", header),
            ])
            .await;
        assert_raises_key_error(&tracestate, key);
    }
}

#[tokio::test]
async fn test_tracestate_key_illegal_vendor_format() {
    let h = Harness::start().await;
    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo@=1,bar=2"),
        ])
        .await;
    assert_in("foo@", &tracestate);
    assert_eq!(tracestate.item("foo@"), "1");
    assert_in("bar", &tracestate);
    assert_eq!(tracestate.item("bar"), "2");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "@foo=1,bar=2"),
        ])
        .await;
    assert_raises_key_error(&tracestate, "bar");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo@@bar=1,bar=2"),
        ])
        .await;
    assert_in("foo@@bar", &tracestate);
    assert_eq!(tracestate.item("foo@@bar"), "1");
    assert_in("bar", &tracestate);
    assert_eq!(tracestate.item("bar"), "2");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo@bar@baz=1,bar=2"),
        ])
        .await;
    assert_in("foo@bar@baz", &tracestate);
    assert_eq!(tracestate.item("foo@bar@baz"), "1");
    assert_in("bar", &tracestate);
    assert_eq!(tracestate.item("bar"), "2");
}

#[tokio::test]
async fn test_tracestate_member_count_limit() {
    let h = Harness::start().await;
    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            (
                "tracestate",
                "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10",
            ),
            (
                "tracestate",
                "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20",
            ),
            (
                "tracestate",
                "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30",
            ),
            ("tracestate", "bar31=31,bar32=32"),
        ])
        .await;
    assert_in("bar01", &tracestate);
    assert_eq!(tracestate.item("bar01"), "01");
    assert_eq!(tracestate.len(), 32, "{tracestate}");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            (
                "tracestate",
                "bar01=01,bar02=02,bar03=03,bar04=04,bar05=05,bar06=06,bar07=07,bar08=08,bar09=09,bar10=10",
            ),
            (
                "tracestate",
                "bar11=11,bar12=12,bar13=13,bar14=14,bar15=15,bar16=16,bar17=17,bar18=18,bar19=19,bar20=20",
            ),
            (
                "tracestate",
                "bar21=21,bar22=22,bar23=23,bar24=24,bar25=25,bar26=26,bar27=27,bar28=28,bar29=29,bar30=30",
            ),
            ("tracestate", "bar31=31,bar32=32,bar33=33"),
        ])
        .await;
    assert_raises_key_error(&tracestate, "bar01");
}

#[tokio::test]
async fn test_tracestate_key_length_limit() {
    let h = Harness::start().await;
    let traceparent = (
        "traceparent",
        "00-12345678901234567890123456789012-1234567890123456-00",
    );

    let key = "z".repeat(256);
    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            traceparent,
            ("tracestate", "foo=1"),
            ("tracestate", &format!("{key}=1")),
        ])
        .await;
    assert_in("foo", &tracestate);
    assert_eq!(tracestate.item("foo"), "1");
    assert_in(&key, &tracestate);
    assert_eq!(tracestate.item(&key), "1");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            traceparent,
            ("tracestate", "foo=1"),
            ("tracestate", &format!("{}=1", "z".repeat(257))),
        ])
        .await;
    assert_raises_key_error(&tracestate, "foo");

    for key in [
        format!("{}@{}", "t".repeat(241), "v".repeat(14)),
        format!("{}@v", "t".repeat(242)),
        format!("t@{}", "v".repeat(15)),
    ] {
        let (_traceparent, tracestate) = h
            .make_single_request_and_get_tracecontext(&[
                traceparent,
                ("tracestate", "foo=1"),
                ("tracestate", &format!("{key}=1")),
            ])
            .await;
        assert_in("foo", &tracestate);
        assert_eq!(tracestate.item("foo"), "1");
        assert_in(&key, &tracestate);
        assert_eq!(tracestate.item(&key), "1");
    }
}

#[tokio::test]
async fn test_tracestate_value_illegal_characters() {
    let h = Harness::start().await;
    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=bar=baz"),
        ])
        .await;
    assert_raises_key_error(&tracestate, "foo");

    let (_traceparent, tracestate) = h
        .make_single_request_and_get_tracecontext(&[
            (
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-00",
            ),
            ("tracestate", "foo=,bar=3"),
        ])
        .await;
    assert_raises_key_error(&tracestate, "foo");
    assert_raises_key_error(&tracestate, "bar");
}

// class AdvancedTest

#[tokio::test]
async fn test_multiple_requests_with_valid_traceparent() {
    let h = Harness::start().await;
    let mut trace_ids = HashSet::new();
    let mut parent_ids = HashSet::new();
    for response in h
        .make_request(
            &[(
                "traceparent",
                "00-12345678901234567890123456789012-1234567890123456-01",
            )],
            3,
        )
        .await
    {
        let traceparent = get_traceparent(&response);
        trace_ids.insert(hex(&traceparent.trace_id));
        parent_ids.insert(hex(&traceparent.parent_id));
    }
    assert_eq!(trace_ids.len(), 1, "{trace_ids:?}");
    assert!(
        trace_ids.contains("12345678901234567890123456789012"),
        "{trace_ids:?}"
    );
    assert_eq!(parent_ids.len(), 3, "{parent_ids:?}");
}

#[tokio::test]
async fn test_multiple_requests_without_traceparent() {
    let h = Harness::start().await;
    let mut trace_ids = HashSet::new();
    let mut parent_ids = HashSet::new();
    for response in h.make_request(&[], 3).await {
        let traceparent = get_traceparent(&response);
        trace_ids.insert(hex(&traceparent.trace_id));
        parent_ids.insert(hex(&traceparent.parent_id));
    }
    assert_eq!(parent_ids.len(), 3, "{parent_ids:?}");
}

#[tokio::test]
async fn test_multiple_requests_with_illegal_traceparent() {
    let h = Harness::start().await;
    let mut trace_ids = HashSet::new();
    let mut parent_ids = HashSet::new();
    for response in h
        .make_request(
            &[(
                "traceparent",
                "00-00000000000000000000000000000000-1234567890123456-01",
            )],
            3,
        )
        .await
    {
        let traceparent = get_traceparent(&response);
        trace_ids.insert(hex(&traceparent.trace_id));
        parent_ids.insert(hex(&traceparent.parent_id));
    }
    assert!(
        !trace_ids.contains("00000000000000000000000000000000"),
        "{trace_ids:?}"
    );
    assert_eq!(parent_ids.len(), 3, "{parent_ids:?}");
}

// class TraceContext2Test (SPEC_LEVEL 2)

#[tokio::test]
async fn test_propagates_random_flag() {
    let h = Harness::start().await;
    let (traceparent, _tracestate) = h
        .make_single_request_and_get_tracecontext(&[(
            "traceparent",
            "00-12345678901234567890123456789012-1234567890123456-02",
        )])
        .await;
    assert_eq!(
        hex(&traceparent.trace_id),
        "12345678901234567890123456789012"
    );
    assert_ne!(hex(&traceparent.parent_id), "1234567890123456");
    assert_bit_set(traceparent.trace_flags, 2, "random flag not set");
}
