//! Run: `cargo run -p w3c-test-service -- 5000`, then point the W3C harness at
//! `http://127.0.0.1:5000/test`.

use std::{net::SocketAddr, process::ExitCode};

use o11y::http::{ClientLayer, ServerLayer};

#[tokio::main]
async fn main() -> ExitCode {
    let port = std::env::args().nth(1).unwrap_or_else(|| "5000".to_owned());
    let Ok(port) = port.parse::<u16>() else {
        eprintln!("usage: w3c-test-service PORT (got {port:?})");
        return ExitCode::FAILURE;
    };
    let _guard = match o11y::init("w3c-test-service") {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("telemetry setup failed: {e}");
            return ExitCode::FAILURE;
        }
    };
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    eprintln!("listening on http://{addr}/test");
    match w3c_test_service::serve(addr, ServerLayer::new(), ClientLayer::new()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("server failed: {e}");
            ExitCode::FAILURE
        }
    }
}
