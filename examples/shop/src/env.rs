//! Configuration from the environment: every setting has a name and a
//! default, and a bad value is an error naming the variable.

use std::str::FromStr;

/// A variable holds a value its service cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?}: {reason}")]
pub struct EnvError {
    /// The variable.
    pub name: &'static str,
    /// Its value.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

/// The value of `name`, or `default` when it is unset or empty.
pub fn env_or(name: &'static str, default: &str) -> String {
    std::env::var(name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

/// `name` parsed, or `default` when it is unset or empty.
pub(crate) fn parse_or<T>(name: &'static str, default: T) -> Result<T, EnvError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
        None => Ok(default),
        Some(value) => value.trim().parse().map_err(|e: T::Err| EnvError {
            name,
            reason: e.to_string(),
            value,
        }),
    }
}

/// The port to listen on: `PORT`, or `default`.
pub fn port(default: u16) -> Result<u16, EnvError> {
    parse_or("PORT", default)
}

/// A URL setting without its trailing slash.
pub(crate) fn url_or(name: &'static str, default: &str) -> String {
    env_or(name, default).trim_end_matches('/').to_owned()
}
