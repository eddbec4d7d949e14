#[o11y::main]
fn main() {}
