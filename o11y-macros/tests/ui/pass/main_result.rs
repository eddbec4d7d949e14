//! `?` in the body, options, and an early `return`.
#![deny(warnings)]

fn quiet(builder: o11y::Builder) -> o11y::Builder {
    builder.install_subscriber(false)
}

#[o11y::main(service = "ui-pass", version = env!("CARGO_PKG_VERSION"), builder = quiet, flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u32 = "7".parse()?;
    if n == 7 {
        return Ok(());
    }
    Err("unreachable".into())
}
