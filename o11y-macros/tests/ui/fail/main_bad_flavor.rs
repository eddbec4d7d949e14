#[o11y::main(flavor = "single_thread")]
async fn main() {}
