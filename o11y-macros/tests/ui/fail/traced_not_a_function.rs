#[o11y::traced]
struct Orders;

fn main() {
    let _ = Orders;
}
