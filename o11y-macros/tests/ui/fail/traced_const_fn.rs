#[o11y::traced]
const fn f() -> u8 {
    1
}

fn main() {
    f();
}
