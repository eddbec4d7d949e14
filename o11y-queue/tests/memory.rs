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
