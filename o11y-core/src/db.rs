//! Database CLIENT spans with the OpenTelemetry database semantic
//! conventions, for any client library.
//!
//! A [`Db`] describes one database (system, name, server); each
//! [`Db::query`] wraps one call of your client in a CLIENT span named
//! `{operation} {collection}` with `db.system.name`, `db.namespace`,
//! `db.operation.name`, `db.collection.name`, `db.query.text`,
//! `server.address` and `server.port`. The call runs inside the span's
//! context, so anything it traces or logs belongs to the span. A failed call
//! sets the span's status to error, records the error as an `exception`
//! event and sets `error.type` (and `db.response.status_code` when the
//! error's code is given).
//!
//! `db.query.text` never holds a value: pass the parameterised statement
//! (`$1`, `?`), and any literal left in it (a quoted string, a number) is
//! replaced with `?` before it is recorded.
//!
//! ```no_run
//! # struct Client;
//! # impl Client {
//! #     async fn execute(&self, _: &str, _: &[&str]) -> Result<u64, std::io::Error> { Ok(1) }
//! # }
//! # async fn run(client: Client) -> Result<(), std::io::Error> {
//! use o11y_core::db::Db;
//!
//! let db = Db::new("postgresql").namespace("shop").server("127.0.0.1", 5432);
//! let sql = "INSERT INTO audit_log (action, trace_id) VALUES ($1, $2)";
//! let rows = db
//!     .query(sql)
//!     .operation("INSERT")
//!     .collection("audit_log")
//!     .run(client.execute(sql, &["payment.approved", "4bf92f3577b34da6a3ce929d0e0e4736"]))
//!     .await?;
//! # let _ = rows; Ok(()) }
//! ```

use std::{borrow::Cow, future::Future, sync::Arc};

use opentelemetry::{
    Context, InstrumentationScope, KeyValue,
    context::FutureExt as _,
    global::{BoxedTracer, ObjectSafeTracerProvider},
    trace::{SpanKind, Status, TraceContextExt as _, Tracer as _, TracerProvider},
};
use opentelemetry_semantic_conventions::attribute::{
    DB_COLLECTION_NAME, DB_NAMESPACE, DB_OPERATION_NAME, DB_QUERY_TEXT, DB_RESPONSE_STATUS_CODE,
    DB_SYSTEM_NAME, ERROR_TYPE, SERVER_ADDRESS, SERVER_PORT,
};

/// The instrumentation scope of database spans.
pub const SCOPE: &str = "o11y-db";

/// One database: what every span of its queries says about it. Cheap to
/// clone.
#[derive(Clone)]
pub struct Db {
    tracer: Arc<BoxedTracer>,
    system: Cow<'static, str>,
    namespace: Option<String>,
    server: Option<(String, u16)>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("system", &self.system)
            .field("namespace", &self.namespace)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// A database of `system` (`db.system.name`: `postgresql`, `mysql`,
    /// `sqlite`, `redis`, ...), traced with the global tracer provider.
    pub fn new(system: impl Into<Cow<'static, str>>) -> Self {
        let provider = opentelemetry::global::tracer_provider();
        Self {
            tracer: Arc::new(tracer_of(&provider)),
            system: system.into(),
            namespace: None,
            server: None,
        }
    }

    /// Makes spans with `provider` instead of the global one.
    pub fn tracer_provider<P>(mut self, provider: &P) -> Self
    where
        P: TracerProvider + ObjectSafeTracerProvider,
    {
        self.tracer = Arc::new(tracer_of(provider));
        self
    }

    /// `db.namespace`: the database (or schema) name.
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }

    /// `server.address` and `server.port`.
    pub fn server(mut self, address: impl Into<String>, port: u16) -> Self {
        self.server = Some((address.into(), port));
        self
    }

    /// A query with the parameterised statement `text`, to [`Query::run`].
    pub fn query(&self, text: &str) -> Query<'_> {
        Query {
            db: self,
            text: sanitize(text),
            operation: None,
            collection: None,
        }
    }
}

fn tracer_of<P: ObjectSafeTracerProvider + ?Sized>(provider: &P) -> BoxedTracer {
    let scope = InstrumentationScope::builder(SCOPE)
        .with_version(env!("CARGO_PKG_VERSION"))
        .build();
    BoxedTracer::new(provider.boxed_tracer(scope))
}

/// One call to a database, made by [`Db::query`].
#[derive(Debug)]
#[must_use = "a query does nothing until `run`"]
pub struct Query<'a> {
    db: &'a Db,
    text: String,
    operation: Option<String>,
    collection: Option<String>,
}

impl Query<'_> {
    /// `db.operation.name`: `SELECT`, `INSERT`, `findAndModify`, ...
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.operation = Some(operation.into());
        self
    }

    /// `db.collection.name`: the table or collection.
    pub fn collection(mut self, collection: impl Into<String>) -> Self {
        self.collection = Some(collection.into());
        self
    }

    /// The span's name: `{operation} {collection}`, or what of it is known,
    /// else the system's name (as the conventions say).
    pub fn span_name(&self) -> String {
        let target = self.collection.as_deref().or(self.db.namespace.as_deref());
        match (self.operation.as_deref(), target) {
            (Some(op), Some(target)) => format!("{op} {target}"),
            (Some(op), None) => op.to_owned(),
            (None, Some(target)) => target.to_owned(),
            (None, None) => self.db.system.to_string(),
        }
    }

    /// Runs `call` inside the query's CLIENT span, a child of the current
    /// context, and returns its result. An error marks the span.
    pub async fn run<T, E, F>(self, call: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: std::error::Error,
    {
        self.run_with_code(call, |_| None).await
    }

    /// Like [`run`](Self::run); `code` gives an error's status code (a
    /// PostgreSQL SQLSTATE, say), recorded as `db.response.status_code` and
    /// `error.type`.
    pub async fn run_with_code<T, E, F>(
        self,
        call: F,
        code: impl FnOnce(&E) -> Option<String>,
    ) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: std::error::Error,
    {
        let cx = self.start(&Context::current());
        let result = call.with_context(cx.clone()).await;
        let span = cx.span();
        if let Err(e) = &result {
            let kind = match code(e) {
                Some(code) => {
                    span.set_attribute(KeyValue::new(DB_RESPONSE_STATUS_CODE, code.clone()));
                    code
                }
                None => std::any::type_name::<E>().to_owned(),
            };
            span.set_attribute(KeyValue::new(ERROR_TYPE, kind));
            span.record_error(e);
            span.set_status(Status::error(e.to_string()));
        }
        span.end();
        result
    }

    fn start(&self, parent: &Context) -> Context {
        let mut attributes = vec![
            KeyValue::new(DB_SYSTEM_NAME, self.db.system.clone()),
            KeyValue::new(DB_QUERY_TEXT, self.text.clone()),
        ];
        let optional = [
            (DB_NAMESPACE, &self.db.namespace),
            (DB_OPERATION_NAME, &self.operation),
            (DB_COLLECTION_NAME, &self.collection),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                attributes.push(KeyValue::new(key, value.clone()));
            }
        }
        if let Some((address, port)) = &self.db.server {
            attributes.push(KeyValue::new(SERVER_ADDRESS, address.clone()));
            attributes.push(KeyValue::new(SERVER_PORT, i64::from(*port)));
        }
        let span = self
            .db
            .tracer
            .span_builder(self.span_name())
            .with_kind(SpanKind::Client)
            .with_attributes(attributes)
            .start_with_context(&*self.db.tracer, parent);
        parent.with_span(span)
    }
}

/// `text` with every quoted string and every number that is not part of a
/// name or a placeholder (`$1`, `:name1`) replaced with `?`.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    // Whether the previous character continues a name or a placeholder.
    let mut in_word = false;
    while let Some(c) = chars.next() {
        if c == '"' {
            // A quoted name, kept as it is.
            out.push(c);
            for c in chars.by_ref() {
                out.push(c);
                if c == '"' {
                    break;
                }
            }
            in_word = false;
        } else if c == '\'' {
            // A string literal; `''` inside it is an escaped quote.
            while let Some(c) = chars.next() {
                if c == '\'' && chars.next_if_eq(&'\'').is_none() {
                    break;
                }
            }
            out.push('?');
            in_word = false;
        } else if c.is_ascii_digit() && !in_word {
            while chars
                .next_if(|c| c.is_ascii_alphanumeric() || *c == '.')
                .is_some()
            {}
            out.push('?');
        } else {
            out.push(c);
            in_word = c.is_alphanumeric() || matches!(c, '_' | '$' | ':' | '@');
        }
    }
    out
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;
    use crate::testing::Capture;
    use opentelemetry::trace::{Tracer, TracerProvider};

    #[derive(Debug, thiserror::Error)]
    #[error("duplicate key")]
    struct Duplicate;

    fn attr(spans: &crate::testing::Spans, key: &str) -> Option<String> {
        spans.find("INSERT audit_log").attr_str(key)
    }

    #[tokio::test]
    async fn a_query_is_a_client_span_with_the_conventions() {
        let capture = Capture::new();
        let provider = capture.provider("audit");
        let db = Db::new("postgresql")
            .namespace("shop")
            .server("db.internal", 5432)
            .tracer_provider(&provider);
        let tracer = provider.tracer("test");
        let parent = tracer.start("POST /audit");
        let cx = Context::current_with_span(parent);
        let sql = "INSERT INTO audit_log (action, amount) VALUES ($1, $2)";
        let seen = db
            .query(sql)
            .operation("INSERT")
            .collection("audit_log")
            .run(async { Ok::<_, Duplicate>(Context::current().span().span_context().clone()) })
            .with_context(cx.clone())
            .await
            .unwrap();
        cx.span().end();
        let spans = capture.spans();
        let span = spans.find("INSERT audit_log");
        assert_eq!(span.kind(), SpanKind::Client);
        assert_eq!(seen.span_id(), span.span_id(), "the call runs in the span");
        spans.assert_parent("INSERT audit_log", "POST /audit");
        assert_eq!(attr(&spans, DB_SYSTEM_NAME).as_deref(), Some("postgresql"));
        assert_eq!(attr(&spans, DB_NAMESPACE).as_deref(), Some("shop"));
        assert_eq!(attr(&spans, DB_OPERATION_NAME).as_deref(), Some("INSERT"));
        assert_eq!(
            attr(&spans, DB_COLLECTION_NAME).as_deref(),
            Some("audit_log")
        );
        assert_eq!(attr(&spans, DB_QUERY_TEXT).as_deref(), Some(sql));
        assert_eq!(attr(&spans, SERVER_ADDRESS).as_deref(), Some("db.internal"));
        assert_eq!(
            span.attr(SERVER_PORT),
            Some(&opentelemetry::Value::I64(5432))
        );
        assert!(!span.is_error());
        assert_eq!(span.attr(ERROR_TYPE), None);
    }

    #[tokio::test]
    async fn a_failed_query_marks_the_span_with_its_code() {
        let capture = Capture::new();
        let db = Db::new("postgresql").tracer_provider(&capture.provider("audit"));
        let result = db
            .query("INSERT INTO audit_log VALUES ($1)")
            .operation("INSERT")
            .collection("audit_log")
            .run_with_code(async { Err::<(), _>(Duplicate) }, |_| {
                Some("23505".to_owned())
            })
            .await;
        assert!(result.is_err());
        let spans = capture.spans();
        let span = spans.find("INSERT audit_log");
        assert!(span.is_error());
        assert_eq!(attr(&spans, ERROR_TYPE).as_deref(), Some("23505"));
        assert_eq!(
            attr(&spans, DB_RESPONSE_STATUS_CODE).as_deref(),
            Some("23505")
        );
        assert!(span.event_names().contains(&"exception"));
    }

    #[tokio::test]
    async fn without_a_code_the_error_type_is_the_type_name() {
        let capture = Capture::new();
        let db = Db::new("sqlite").tracer_provider(&capture.provider("svc"));
        let _ = db
            .query("DELETE FROM t")
            .run(async { Err::<(), _>(Duplicate) })
            .await;
        let spans = capture.spans();
        let span = spans.find("sqlite");
        assert!(span.attr_str(ERROR_TYPE).unwrap().ends_with("Duplicate"));
        assert_eq!(span.attr(DB_RESPONSE_STATUS_CODE), None);
    }

    #[test]
    fn span_names_follow_the_conventions() {
        let db = Db::new("postgresql");
        let q = |op: Option<&str>, coll: Option<&str>, db: &Db| {
            let mut q = db.query("x");
            if let Some(op) = op {
                q = q.operation(op);
            }
            if let Some(c) = coll {
                q = q.collection(c);
            }
            q.span_name()
        };
        assert_eq!(q(Some("SELECT"), Some("users"), &db), "SELECT users");
        assert_eq!(q(Some("SELECT"), None, &db), "SELECT");
        assert_eq!(q(None, None, &db), "postgresql");
        let named = db.clone().namespace("shop");
        assert_eq!(q(Some("SELECT"), None, &named), "SELECT shop");
        assert_eq!(q(None, None, &named), "shop");
    }

    #[test]
    fn literals_never_reach_the_query_text() {
        let cases = [
            (
                "SELECT * FROM users WHERE id = $1 AND name = $2",
                "SELECT * FROM users WHERE id = $1 AND name = $2",
            ),
            (
                "SELECT * FROM users WHERE email = 'ada@example.com' AND age > 36",
                "SELECT * FROM users WHERE email = ? AND age > ?",
            ),
            (
                "UPDATE t SET s = 'it''s', x = -1.5e3",
                "UPDATE t SET s = ?, x = -?",
            ),
            (
                "SELECT col1, t2.c3 FROM t2 WHERE a=:p1",
                "SELECT col1, t2.c3 FROM t2 WHERE a=:p1",
            ),
            (
                "INSERT INTO t VALUES (0x1F, 'open",
                "INSERT INTO t VALUES (?, ?",
            ),
            (
                "SELECT \"col 1\" FROM t LIMIT 10",
                "SELECT \"col 1\" FROM t LIMIT ?",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(sanitize(input), expected, "{input}");
        }
    }

    #[test]
    fn the_recorded_text_is_sanitized() {
        let db = Db::new("postgresql");
        let q = db.query("SELECT * FROM t WHERE secret = 'hunter2'");
        assert_eq!(q.text, "SELECT * FROM t WHERE secret = ?");
    }
}
