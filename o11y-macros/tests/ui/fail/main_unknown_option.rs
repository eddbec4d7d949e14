#[o11y::main(service = "a", threads = 4)]
async fn main() {}
