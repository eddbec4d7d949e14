#[o11y::traced(kind = sideways)]
fn f() {}

#[o11y::traced(kind = "Serverr")]
fn g() {}

fn main() {
    f();
    g();
}
