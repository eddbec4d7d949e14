//! The server middleware: a SERVER span per request, current while the
//! inner service runs and while the response body is sent, ended with the
//! body.

mod body;
mod config;
mod future;
mod layer;
mod service;
mod trust;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::ServerLayer;
pub use service::Server;
pub use trust::{InvalidNetwork, Network, Trust};
