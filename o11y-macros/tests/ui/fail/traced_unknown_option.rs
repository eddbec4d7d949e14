#[o11y::traced(nmae = "typo")]
fn f() {}

fn main() {
    f();
}
