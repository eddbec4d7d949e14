//! Every supported shape compiles without warnings, naming no crate but `o11y`
//! (`opentelemetry` is not a dependency of this test crate).
#![deny(warnings)]

use std::{fmt::Debug, future::Future, pin::Pin};

#[o11y::traced]
fn plain() {}

#[o11y::traced(kind = producer, fields(messaging.destination.name = "orders"))]
fn early_return(n: u32) -> Option<u32> {
    if n == 0 {
        return None;
    }
    Some(n)
}

#[o11y::traced]
fn generic<T: Debug + Clone, const N: usize>(items: [T; N]) -> Vec<T>
where
    T: PartialEq,
{
    items.to_vec()
}

#[o11y::traced(skip(f))]
fn impl_trait(f: impl Fn(u8) -> u8) -> impl Iterator<Item = u8> {
    (0..3).map(f)
}

#[o11y::traced]
#[allow(dead_code)]
fn diverges(code: i32) -> ! {
    std::process::exit(code)
}

#[o11y::traced]
fn raw_identifier(r#type: &str) -> usize {
    r#type.len()
}

#[o11y::traced]
fn destructured((a, b): (u8, u8), _ignored: u8) -> u8 {
    a + b
}

#[o11y::traced]
async fn asynchronous(name: String) -> Result<usize, std::io::Error> {
    Ok(name.len())
}

#[o11y::traced]
fn returns_future(n: u8) -> impl Future<Output = u8> {
    async move { n }
}

#[o11y::traced]
fn boxed(n: u8) -> Pin<Box<dyn Future<Output = u8> + Send>> {
    Box::pin(async move { n })
}

trait Shape {
    fn area(&self) -> f64;

    #[o11y::traced]
    fn describe(&self) -> String {
        format!("area {}", self.area())
    }
}

struct Square(f64);

impl Shape for Square {
    #[o11y::traced(name = "Square::area", kind = "internal")]
    fn area(&self) -> f64 {
        self.0 * self.0
    }
}

impl Square {
    #[o11y::traced]
    fn grow(&mut self, by: f64) -> &mut f64 {
        self.0 += by;
        &mut self.0
    }

    #[o11y::traced]
    fn unit() -> Self {
        Square(1.0)
    }

    #[o11y::traced]
    async fn side(&mut self) -> &mut f64 {
        &mut self.0
    }

    #[o11y::traced(skip_all)]
    async fn scale(self, by: f64) -> Self {
        Square(self.0 * by)
    }
}

#[async_trait::async_trait]
trait Store {
    async fn get(&self, key: &str) -> Option<String>;
}

#[async_trait::async_trait]
impl Store for Square {
    #[o11y::traced(kind = client)]
    async fn get(&self, key: &str) -> Option<String> {
        Some(format!("{key}={}", self.0))
    }
}

fn main() {
    plain();
    assert_eq!(early_return(0), None);
    assert_eq!(generic([1, 2]), [1, 2]);
    assert_eq!(impl_trait(|x| x * 2).sum::<u8>(), 6);
    assert_eq!(raw_identifier("t"), 1);
    assert_eq!(destructured((1, 2), 0), 3);
    let mut square = Square::unit();
    *square.grow(1.0) += 1.0;
    assert_eq!(square.describe(), "area 9");
    let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
    runtime.block_on(async {
        assert_eq!(asynchronous("ab".into()).await.unwrap(), 2);
        assert_eq!(returns_future(3).await, 3);
        assert_eq!(boxed(4).await, 4);
        assert_eq!(square.get("k").await.as_deref(), Some("k=3"));
        *square.side().await += 0.0;
        assert_eq!(square.scale(2.0).await.0, 6.0);
    });
}
