//! The shop's services (`examples/shop`), started in this process next to
//! the call-pattern ones: the gateway, users, orders and notifications over
//! the selected queue transport, the validator function, and a second
//! order/notification pair whose webhook fails twice (A7). Payments and
//! audit need PostgreSQL and are left to `cargo test -p shop` (A4).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use axum::{Router, http::StatusCode, routing::post};
use o11y::{queue::AnyTransport, testing::Capture};
use shop::{gateway, notifications, orders, users, validator};

use crate::stack::{StartError, telemetry, unique};

/// Base URLs and queue names of the running shop.
pub struct Shop {
    /// `api-gateway`.
    pub gateway: String,
    /// `user-service`.
    pub users: String,
    /// The `order-service` whose notifier's webhook fails twice.
    pub flaky_orders: String,
    /// The queue of the gateway's order-service.
    pub queue: String,
    /// The queue of the flaky pair.
    pub flaky_queue: String,
}

async fn serve(router: Router) -> Result<String, StartError> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| StartError::new(format!("binding a loopback port: {e}")))?;
    let addr: SocketAddr = listener
        .local_addr()
        .map_err(|e| StartError::new(e.to_string()))?;
    tokio::spawn(shop::serve(listener, router, std::future::pending()));
    Ok(format!("http://{addr}"))
}

/// A webhook answering 503 to its first two calls, then 200.
fn flaky_webhook() -> Router {
    let calls = Arc::new(AtomicU32::new(0));
    Router::new().route(
        "/hook",
        post(move || {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                match n <= 2 {
                    true => StatusCode::SERVICE_UNAVAILABLE,
                    false => StatusCode::OK,
                }
            }
        }),
    )
}

impl Shop {
    /// Starts the shop's services on `transport`, spans into `capture`.
    pub async fn start(
        capture: &Capture,
        otlp: Option<&str>,
        transport: &AnyTransport,
        guards: &mut Vec<o11y::Guard>,
    ) -> Result<Self, StartError> {
        let guard = |name: &str| telemetry(name, capture, otlp);
        let (queue, flaky_queue) = (unique("orders"), unique("orders-a7"));
        let users_guard = guard("user-service")?;
        let users = serve(users::router(&users_guard)).await?;
        let validator_guard = guard("order-validator")?;
        let function = serve(validator::router(&validator_guard)).await?;
        let orders_guard = guard("order-service")?;
        let order_config = orders::Config {
            user_service: users.clone(),
            payment_service: None,
            queue: queue.clone(),
        };
        let orders = serve(orders::router(
            order_config,
            transport.clone(),
            &orders_guard,
        ))
        .await?;
        let gateway_guard = guard("api-gateway")?;
        let gateway_config = gateway::Config {
            user_service: users.clone(),
            order_service: orders,
            validator: function,
        };
        let gateway = serve(gateway::router(gateway_config, &gateway_guard)).await?;
        let notifier_guard = guard("notification-service")?;
        let notifier_config = notifications::Config {
            queue: queue.clone(),
            webhook: None,
            max_attempts: 5,
            retry_base: Duration::from_millis(50),
        };
        let notifier = notifications::Notifier::new(notifier_config, &notifier_guard);
        consume(notifier, transport, notifier_guard);

        let hook = serve(flaky_webhook()).await?;
        let flaky_guard = guard("order-service")?;
        let flaky_config = orders::Config {
            user_service: users.clone(),
            payment_service: None,
            queue: flaky_queue.clone(),
        };
        let flaky_orders = serve(orders::router(
            flaky_config,
            transport.clone(),
            &flaky_guard,
        ))
        .await?;
        let flaky_notifier_guard = guard("notification-service")?;
        let flaky_notifier_config = notifications::Config {
            queue: flaky_queue.clone(),
            webhook: Some(format!("{hook}/hook")),
            max_attempts: 5,
            retry_base: Duration::from_millis(50),
        };
        let flaky_notifier =
            notifications::Notifier::new(flaky_notifier_config, &flaky_notifier_guard);
        consume(flaky_notifier, transport, flaky_notifier_guard);
        guards.extend([
            users_guard,
            validator_guard,
            orders_guard,
            gateway_guard,
            flaky_guard,
        ]);
        Ok(Self {
            gateway,
            users,
            flaky_orders,
            queue,
            flaky_queue,
        })
    }
}

/// Runs `notifier` on `transport` for as long as the runtime runs.
fn consume(notifier: notifications::Notifier, transport: &AnyTransport, guard: o11y::Guard) {
    let transport = transport.clone();
    tokio::spawn(async move {
        notifier
            .consume(transport, &guard, std::future::pending())
            .await;
    });
}
