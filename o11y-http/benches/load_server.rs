//! One server variant of the benchmark, served on 127.0.0.1 for a load
//! generator: `load_server VARIANT PORT`. Used by `load.sh`.
#![allow(missing_docs)]

mod common;

fn main() {
    let mut args = std::env::args().skip(1);
    let variant = args.next().unwrap_or_else(|| "bare_axum".to_owned());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(18080);
    // One worker thread: CPU time per request is then the server's own cost.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let setup = common::setup_global();
        let Some((_, router, _)) = setup
            .variants
            .into_iter()
            .find(|(name, _, _)| *name == variant)
        else {
            eprintln!("unknown variant {variant}");
            std::process::exit(2);
        };
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        // With the peer address, as a service recording `client.address` runs.
        let app = router.into_make_service_with_connect_info::<std::net::SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
}
