//! The shop's services (`examples/shop`), started in this process next to
//! the call-pattern ones: the gateway, users, orders and notifications over
//! the selected queue transport, the validator function, and a second
//! order/notification pair whose webhook fails twice (A7), and, when
//! PostgreSQL answers on `DATABASE_URL` (default the local server), a
//! second gateway whose orders are paid and audited (A4).

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
use shop::{audit, gateway, notifications, orders, payments, users, validator};

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
    /// The gateway whose orders are paid and audited, and its order-service's
    /// queue; or why there is none.
    pub checkout: Result<(String, String), String>,
    /// The audit table.
    pub audit_table: String,
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
        let audit_table = "showcase_audit".to_owned();
        let checkout = checkout(capture, otlp, transport, &users, &audit_table, guards).await;
        guards.extend([
            users_guard,
            validator_guard,
            orders_guard,
            gateway_guard,
            flaky_guard,
        ]);
        Ok(Self {
            checkout,
            audit_table,
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

/// A gateway whose orders are paid (payment-service) and audited
/// (audit-service, PostgreSQL); `Err` says why it could not start.
async fn checkout(
    capture: &Capture,
    otlp: Option<&str>,
    transport: &AnyTransport,
    users: &str,
    table: &str,
    guards: &mut Vec<o11y::Guard>,
) -> Result<(String, String), String> {
    let fail = |e: StartError| e.to_string();
    let database_url = std::env::var("DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let config = audit::Config {
        database_url: database_url.clone(),
        table: table.to_owned(),
    };
    let audit_guard = telemetry("audit-service", capture, otlp).map_err(fail)?;
    let store = audit::Store::connect(&config, &audit_guard)
        .await
        .map_err(|e| format!("PostgreSQL at {database_url}: {e}"))?;
    let audit = serve(audit::router(store, &audit_guard))
        .await
        .map_err(fail)?;
    let payments_guard = telemetry("payment-service", capture, otlp).map_err(fail)?;
    let payment_config = payments::Config {
        audit_service: audit,
        limit: 1000.0,
    };
    let payments = serve(payments::router(payment_config, &payments_guard))
        .await
        .map_err(fail)?;
    let orders_guard = telemetry("order-service", capture, otlp).map_err(fail)?;
    let queue = unique("orders-paid");
    let order_config = orders::Config {
        user_service: users.to_owned(),
        payment_service: Some(payments),
        queue: queue.clone(),
    };
    let orders = serve(orders::router(
        order_config,
        transport.clone(),
        &orders_guard,
    ))
    .await
    .map_err(fail)?;
    let gateway_guard = telemetry("api-gateway", capture, otlp).map_err(fail)?;
    let gateway_config = gateway::Config {
        user_service: users.to_owned(),
        order_service: orders,
        validator: "http://127.0.0.1:9".to_owned(),
    };
    let gateway = serve(gateway::router(gateway_config, &gateway_guard))
        .await
        .map_err(fail)?;
    guards.extend([audit_guard, payments_guard, orders_guard, gateway_guard]);
    Ok((gateway, queue))
}
