#[o11y::traced(name = "a", kind = client, name = "b")]
fn f() {}

fn main() {
    f();
}
