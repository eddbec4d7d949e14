//! Trace context across message queues (work in progress).
