#[o11y::traced(name = 42)]
fn f() {}

fn main() {
    f();
}
