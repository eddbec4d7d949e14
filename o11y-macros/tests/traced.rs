//! Runs `#[o11y::traced]` functions and asserts on the spans they made.
//! One binary: the global tracer provider is set once (see `support`).

mod support;

use std::{fmt, future::Future, pin::Pin};

use o11y::{
    opentelemetry::{
        Context, Value,
        trace::{SpanKind, Status, TraceContextExt as _},
    },
    testing::CapturedSpan,
    traced,
};
use support::case;

fn current_span_id() -> o11y::opentelemetry::trace::SpanId {
    Context::current().span().span_context().span_id()
}

fn event_attr(span: &CapturedSpan, event: &str, key: &str) -> Option<String> {
    span.event(event)?
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.as_str().into_owned())
}

mod shop {
    use super::*;

    #[traced]
    pub fn add(count: i64, item: &str, price: f64, gift: bool) -> i64 {
        count + item.len() as i64 + price as i64 + i64::from(gift)
    }

    #[derive(Debug)]
    pub struct Sku(#[allow(dead_code)] pub u32);

    #[traced(name = "charge card", kind = client, skip(card), fields(payment.attempt = 1 + 1, "payment.currency" = "EUR"))]
    pub fn charge(card: &str, sku: Sku, cents: u64) {
        let _ = (card, sku, cents);
    }

    #[traced(kind = "consumer", skip_all)]
    pub fn consume(message: &str) -> usize {
        message.len()
    }

    #[traced]
    pub fn whoami() -> o11y::opentelemetry::trace::SpanId {
        current_span_id()
    }
}

#[test]
fn default_name_is_the_module_path_and_arguments_become_typed_attributes() {
    let case = case();
    assert_eq!(shop::add(1, "ab", 2.5, true), 6);
    let spans = case.capture.spans();
    let span = spans.find("traced::shop::add");
    assert_eq!(span.kind(), SpanKind::Internal);
    assert_eq!(span.attr("count"), Some(&Value::I64(1)));
    assert_eq!(span.attr("item"), Some(&Value::from("ab")));
    assert_eq!(span.attr("price"), Some(&Value::F64(2.5)));
    assert_eq!(span.attr("gift"), Some(&Value::Bool(true)));
    assert_eq!(span.status(), &Status::Unset);
    assert!(span.event_names().is_empty());
}

#[test]
fn name_kind_skip_and_fields_options() {
    let case = case();
    shop::charge("4111-1111", shop::Sku(7), 1250);
    assert_eq!(shop::consume("hello"), 5);
    let spans = case.capture.spans();
    let charge = spans.find("charge card");
    assert_eq!(charge.kind(), SpanKind::Client);
    assert_eq!(charge.attr("card"), None, "skipped");
    assert_eq!(
        charge.attr_str("sku").as_deref(),
        Some("Sku(7)"),
        "Debug text"
    );
    assert_eq!(charge.attr("cents"), Some(&Value::I64(1250)));
    assert_eq!(charge.attr("payment.attempt"), Some(&Value::I64(2)));
    assert_eq!(charge.attr_str("payment.currency").as_deref(), Some("EUR"));
    let consume = spans.find("traced::shop::consume");
    assert_eq!(consume.kind(), SpanKind::Consumer);
    assert!(consume.data.attributes.is_empty(), "skip_all");
}

#[test]
fn the_span_is_current_while_the_body_runs() {
    let case = case();
    let inside = shop::whoami();
    assert_ne!(current_span_id(), inside, "detached afterwards");
    assert_eq!(
        case.capture.spans().find("traced::shop::whoami").span_id(),
        inside
    );
}

#[derive(Debug, PartialEq)]
struct OutOfStock {
    sku: u32,
}

impl fmt::Display for OutOfStock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sku {} is out of stock", self.sku)
    }
}

impl std::error::Error for OutOfStock {}

#[traced]
fn reserve(sku: u32) -> Result<u32, OutOfStock> {
    if sku == 0 {
        return Err(OutOfStock { sku });
    }
    Ok(sku)
}

#[traced]
fn reserve_twice(sku: u32) -> Result<u32, OutOfStock> {
    let first = reserve(sku)?; // the `?` leaves early: the error is still recorded
    Ok(first + reserve(sku)?)
}

#[test]
fn an_err_sets_error_status_error_type_and_an_exception_event() {
    let case = case();
    assert_eq!(reserve_twice(0), Err(OutOfStock { sku: 0 }));
    let spans = case.capture.spans();
    spans.assert_parent("traced::reserve", "traced::reserve_twice");
    for name in ["traced::reserve", "traced::reserve_twice"] {
        let span = spans.find(name);
        assert_eq!(
            span.status(),
            &Status::error("sku 0 is out of stock"),
            "{name}"
        );
        assert_eq!(
            span.attr_str("error.type").as_deref(),
            Some("traced::OutOfStock")
        );
        assert_eq!(span.event_names(), ["exception"]);
        assert_eq!(
            event_attr(span, "exception", "exception.type").as_deref(),
            Some("traced::OutOfStock")
        );
        assert_eq!(
            event_attr(span, "exception", "exception.message").as_deref(),
            Some("sku 0 is out of stock")
        );
    }
}

#[test]
fn an_ok_leaves_the_status_unset() {
    let case = case();
    assert_eq!(reserve_twice(3), Ok(6));
    let spans = case.capture.spans();
    assert_eq!(spans.len(), 3);
    assert!(
        spans
            .iter()
            .all(|s| s.status() == &Status::Unset && s.event_names().is_empty())
    );
}

#[derive(Debug)]
struct DebugOnly(#[allow(dead_code)] u8);
struct Opaque;

#[traced]
fn debug_error() -> std::result::Result<(), DebugOnly> {
    Err(DebugOnly(9))
}

#[traced]
fn opaque_error() -> Result<(), Opaque> {
    Err(Opaque)
}

type IoResult<T> = std::io::Result<T>;

#[traced]
fn aliased_error() -> IoResult<()> {
    Err(std::io::Error::other("disk full"))
}

#[test]
fn errors_without_display_use_debug_then_the_type_name_and_aliases_work() {
    let case = case();
    let _ = debug_error();
    let _ = opaque_error();
    let _ = aliased_error();
    let spans = case.capture.spans();
    assert_eq!(
        spans.find("traced::debug_error").status(),
        &Status::error("DebugOnly(9)")
    );
    assert_eq!(
        spans.find("traced::opaque_error").status(),
        &Status::error("traced::Opaque")
    );
    let io = spans.find("traced::aliased_error");
    assert_eq!(io.status(), &Status::error("disk full"));
    assert_eq!(
        io.attr_str("error.type").as_deref(),
        Some("std::io::error::Error")
    );
}

#[traced]
async fn fetch(id: u32) -> Result<u32, OutOfStock> {
    tokio::task::yield_now().await;
    let parent = current_span_id();
    lookup(id, parent)
}

#[traced(skip(parent))]
fn lookup(id: u32, parent: o11y::opentelemetry::trace::SpanId) -> Result<u32, OutOfStock> {
    assert_ne!(parent, current_span_id());
    reserve(id)
}

#[traced(kind = server)]
async fn handle(ids: Vec<u32>) -> usize {
    let mut ok = 0;
    for id in ids {
        tokio::task::yield_now().await;
        if fetch(id).await.is_ok() {
            ok += 1;
        }
    }
    tokio::spawn(async {}).await.expect("joined");
    ok
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_spans_nest_across_awaits_and_record_errors() {
    let case = case();
    assert_eq!(handle(vec![1, 0]).await, 1);
    let spans = case.capture.spans();
    spans.assert_single_trace();
    assert_eq!(spans.find("traced::handle").kind(), SpanKind::Server);
    assert_eq!(
        spans.find("traced::handle").attr_str("ids").as_deref(),
        Some("[1, 0]")
    );
    let handle = spans.find("traced::handle");
    let fetches = spans.children(handle);
    assert_eq!(fetches.len(), 2);
    assert!(fetches.iter().all(|s| s.name() == "traced::fetch"));
    assert_eq!(fetches[0].attr("id"), Some(&Value::I64(1)));
    assert_eq!(fetches[0].status(), &Status::Unset);
    assert_eq!(fetches[1].status(), &Status::error("sku 0 is out of stock"));
    for fetch in fetches {
        let lookups = spans.children(fetch);
        assert_eq!(lookups.len(), 1);
        assert_eq!(lookups[0].name(), "traced::lookup");
        assert_eq!(spans.children(lookups[0])[0].name(), "traced::reserve");
    }
}

#[test]
fn tracing_spans_inside_become_children() {
    let case = case();
    #[traced]
    fn query() {
        tracing::info_span!("SELECT orders").in_scope(|| {});
    }
    query();
    let spans = case.capture.spans();
    spans.assert_parent("SELECT orders", "traced::query"); // a nested fn: `module_path!()` has no fn names
}

#[test]
fn a_panic_ends_the_span_with_error_status() {
    let case = case();
    #[traced]
    fn explode(really: bool) -> u8 {
        assert!(!really, "boom");
        1
    }
    let result = std::panic::catch_unwind(|| explode(true));
    assert!(result.is_err());
    let spans = case.capture.spans();
    let span = spans.find("traced::explode");
    assert_eq!(span.status(), &Status::error("panicked"));
}

#[derive(Debug, Default)]
struct Cart {
    items: Vec<String>,
}

impl Cart {
    #[traced]
    fn len(&self) -> usize {
        self.items.len()
    }

    #[traced]
    fn push(&mut self, item: String) -> &mut String {
        self.items.push(item);
        self.items.last_mut().expect("just pushed")
    }

    #[traced]
    fn into_items(self) -> Vec<String> {
        self.items
    }

    #[traced]
    fn new_with(item: &str) -> Self {
        Self {
            items: vec![item.to_owned()],
        }
    }

    #[traced]
    fn longest<'a>(&'a self, other: &'a str) -> &'a str {
        self.items
            .iter()
            .map(String::as_str)
            .chain([other])
            .max_by_key(|s| s.len())
            .unwrap_or(other)
    }
}

struct Wrapper<T>(T);

impl<T: Clone + fmt::Debug> Wrapper<T> {
    #[traced]
    fn get(&self) -> T {
        self.0.clone()
    }
}

#[test]
fn methods_are_named_type_method_and_take_any_receiver() {
    let case = case();
    let mut cart = Cart::new_with("apple");
    cart.push("pear".into()).push('s');
    assert_eq!(cart.len(), 2);
    assert_eq!(cart.longest("fig"), "pears");
    assert_eq!(cart.into_items(), ["apple", "pears"]);
    assert_eq!(Wrapper(5_u8).get(), 5);
    assert_eq!(Wrapper("x").get(), "x");
    let spans = case.capture.spans();
    for name in [
        "Cart::new_with",
        "Cart::push",
        "Cart::len",
        "Cart::longest",
        "Cart::into_items",
    ] {
        spans.find(name);
    }
    assert_eq!(
        spans.find("Cart::push").attr_str("item").as_deref(),
        Some("pear")
    );
    assert_eq!(spans.named("Wrapper::get").len(), 2);
}

#[traced(skip(f))]
fn largest<T: PartialOrd + Copy + fmt::Debug>(items: &[T], f: impl Fn(T) -> T) -> Option<T> {
    items
        .iter()
        .copied()
        .map(f)
        .reduce(|a, b| if b > a { b } else { a })
}

#[traced]
fn evens(limit: u32) -> impl Iterator<Item = u32> {
    (0..limit).filter(|n| n % 2 == 0)
}

#[traced]
fn parse_all(text: &str) -> Result<impl Iterator<Item = u32>, std::num::ParseIntError> {
    let numbers = text
        .split(',')
        .map(str::parse)
        .collect::<Result<Vec<u32>, _>>()?;
    Ok(numbers.into_iter())
}

#[test]
fn generics_and_impl_trait_arguments_and_returns() {
    let case = case();
    assert_eq!(largest(&[3, 9, 4], |x| x * 2), Some(18));
    assert_eq!(evens(5).collect::<Vec<_>>(), [0, 2, 4]);
    assert_eq!(parse_all("1,2").map(Iterator::sum::<u32>), Ok(3));
    assert!(parse_all("1,x").is_err());
    let spans = case.capture.spans();
    assert_eq!(
        spans.find("traced::largest").attr_str("items").as_deref(),
        Some("[3, 9, 4]")
    );
    assert_eq!(
        spans.find("traced::evens").attr("limit"),
        Some(&Value::I64(5))
    );
    let parsed = spans.named("traced::parse_all");
    assert_eq!(parsed.len(), 2);
    assert!(!parsed[0].is_error());
    assert_eq!(
        parsed[1].status(),
        &Status::error("invalid digit found in string")
    );
}

#[async_trait::async_trait]
trait Repo {
    async fn find(&self, id: u32) -> Result<String, OutOfStock>;
    async fn count(&self) -> usize;
}

struct MemoryRepo;

#[async_trait::async_trait]
impl Repo for MemoryRepo {
    #[traced(kind = client)]
    async fn find(&self, id: u32) -> Result<String, OutOfStock> {
        tokio::task::yield_now().await;
        reserve(id).map(|n| format!("item {n}"))
    }

    #[traced]
    async fn count(&self) -> usize {
        self.find(1).await.map_or(0, |_| 1)
    }
}

#[traced]
fn boxed(n: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        n + 1
    })
}

#[tokio::test]
async fn async_trait_methods_and_boxed_futures_are_traced_over_their_whole_run() {
    let case = case();
    let repo: &dyn Repo = &MemoryRepo;
    assert_eq!(repo.count().await, 1);
    assert!(repo.find(0).await.is_err());
    assert_eq!(boxed(1).await, 2);
    let spans = case.capture.spans();
    let finds = spans.named("MemoryRepo::find");
    assert_eq!(finds.len(), 2);
    assert_eq!(finds[0].kind(), SpanKind::Client);
    assert_eq!(finds[0].attr("id"), Some(&Value::I64(1)));
    let count = spans.find("MemoryRepo::count");
    assert_eq!(finds[0].parent_id(), count.span_id());
    assert_eq!(spans.children(finds[0])[0].name(), "traced::reserve");
    assert_eq!(finds[1].status(), &Status::error("sku 0 is out of stock"));
    assert_eq!(spans.find("traced::boxed").attr("n"), Some(&Value::I64(1)));
}

#[traced]
fn upload(name: String, body: Vec<u8>) -> usize {
    name.len() + body.len()
}

#[test]
fn recorded_arguments_are_bounded() {
    let case = case();
    assert_eq!(upload("n".repeat(10_000), vec![1; 10_000]), 20_000);
    let spans = case.capture.spans();
    let span = spans.find("traced::upload");
    for key in ["name", "body"] {
        let text = span.attr(key).expect(key).as_str().into_owned();
        assert!(
            text.len() <= 256 + '…'.len_utf8(),
            "{key}: {} bytes",
            text.len()
        );
        assert!(text.ends_with('…'), "{key}");
    }
}
