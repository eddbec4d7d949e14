//! The transport suite against [`MemoryTransport`].

mod support;

use std::time::Duration;

use o11y_queue::MemoryTransport;
use support::Harness;

struct Memory(MemoryTransport);

impl Harness for Memory {
    type T = MemoryTransport;
    const NAME: &'static str = "memory";

    async fn connect(&self) -> Option<MemoryTransport> {
        Some(self.0.clone())
    }
}

fn memory() -> Memory {
    Memory(MemoryTransport::with_visibility_timeout(
        Duration::from_secs(1),
    ))
}

suite!(memory());

/// Released at the shutdown deadline, a delivery is ready again at once,
/// long before the visibility timeout (an hour here) would bring it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_deadline_releases_before_the_visibility_timeout() {
    let t = MemoryTransport::with_visibility_timeout(Duration::from_secs(3600));
    support::cases::shutdown_deadline_releases_unfinished_work(&Memory(t.clone()), t).await;
}
