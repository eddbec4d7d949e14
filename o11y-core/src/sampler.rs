//! Samplers: the SDK's standard ones, plus [`RateLimited`] (N traces per
//! second, token bucket), which the SDK lacks.
//!
//! ```
//! use o11y_core::sampler::{RateLimited, SamplerConfig};
//!
//! // At most 100 new traces per second; children follow their parent.
//! let sampler = SamplerConfig::ParentBased(Box::new(SamplerConfig::RateLimited(100.0)));
//! let _sdk_sampler = sampler.build();
//! let _ = RateLimited::new(100.0);
//! ```

use std::{
    sync::{Arc, Mutex},
    time::Instant,
};

use opentelemetry::{
    Context, KeyValue,
    trace::{Link, SpanKind, TraceContextExt, TraceId, TraceState},
};
use opentelemetry_sdk::trace::{Sampler, SamplingDecision, SamplingResult, ShouldSample};

use crate::error::ConfigError;

/// A sampler as configured by `OTEL_TRACES_SAMPLER` / `_ARG` or in code.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum SamplerConfig {
    /// Sample everything.
    AlwaysOn,
    /// Sample nothing.
    AlwaysOff,
    /// Sample this fraction (0.0 to 1.0) of trace ids.
    TraceIdRatio(f64),
    /// Sample at most this many new traces per second.
    RateLimited(f64),
    /// Follow the parent's decision; use the inner sampler for root spans.
    ParentBased(Box<SamplerConfig>),
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self::ParentBased(Box::new(Self::AlwaysOn))
    }
}

impl SamplerConfig {
    /// Parses `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`.
    ///
    /// Names: `always_on`, `always_off`, `traceidratio`, `ratelimited`, and
    /// each of them prefixed with `parentbased_`.
    pub fn from_env_values(name: &str, arg: Option<&str>) -> Result<Self, ConfigError> {
        let (parent, base) = match name
            .trim()
            .to_ascii_lowercase()
            .strip_prefix("parentbased_")
        {
            Some(rest) => (true, rest.to_owned()),
            None => (false, name.trim().to_ascii_lowercase()),
        };
        let ratio = || {
            parse_arg(
                arg,
                1.0,
                |v| (0.0..=1.0).contains(&v),
                "the ratio must be between 0 and 1",
            )
        };
        let rate = || {
            parse_arg(
                arg,
                100.0,
                |v| v > 0.0 && v.is_finite(),
                "the rate must be a positive number of traces per second",
            )
        };
        let inner = match base.as_str() {
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            "traceidratio" => Self::TraceIdRatio(ratio()?),
            "ratelimited" => Self::RateLimited(rate()?),
            _ => {
                return Err(ConfigError::new(
                    crate::config::env::TRACES_SAMPLER,
                    name,
                    "expected always_on, always_off, traceidratio, ratelimited, or one of them prefixed with parentbased_",
                ));
            }
        };
        Ok(if parent {
            Self::ParentBased(Box::new(inner))
        } else {
            inner
        })
    }

    /// Builds the SDK sampler.
    pub fn build(&self) -> Box<dyn ShouldSample> {
        match self {
            Self::AlwaysOn => Box::new(Sampler::AlwaysOn),
            Self::AlwaysOff => Box::new(Sampler::AlwaysOff),
            Self::TraceIdRatio(r) => Box::new(Sampler::TraceIdRatioBased(*r)),
            Self::RateLimited(n) => Box::new(RateLimited::new(*n)),
            Self::ParentBased(inner) => Box::new(Sampler::ParentBased(inner.build())),
        }
    }
}

fn parse_arg(
    arg: Option<&str>,
    default: f64,
    ok: impl Fn(f64) -> bool,
    reason: &str,
) -> Result<f64, ConfigError> {
    let Some(raw) = arg else { return Ok(default) };
    match raw.trim().parse::<f64>() {
        Ok(v) if ok(v) => Ok(v),
        _ => Err(ConfigError::new(
            crate::config::env::TRACES_SAMPLER_ARG,
            raw,
            reason,
        )),
    }
}

/// Samples at most `per_second` traces per second, with bursts up to one
/// second's worth (a token bucket). Other spans are dropped.
#[derive(Clone, Debug)]
pub struct RateLimited {
    per_second: f64,
    bucket: Arc<Mutex<Bucket>>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

impl RateLimited {
    /// A sampler allowing `per_second` traces per second (negative or NaN means none).
    pub fn new(per_second: f64) -> Self {
        let per_second = if per_second.is_nan() {
            0.0
        } else {
            per_second.max(0.0)
        };
        let bucket = Bucket {
            tokens: per_second.max(1.0).min(per_second.ceil()),
            last: Instant::now(),
        };
        Self {
            per_second,
            bucket: Arc::new(Mutex::new(bucket)),
        }
    }

    fn take(&self, now: Instant) -> bool {
        let Ok(mut b) = self.bucket.lock() else {
            return false;
        };
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        b.tokens = (b.tokens + elapsed * self.per_second).min(self.per_second.max(1.0));
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl ShouldSample for RateLimited {
    fn should_sample(
        &self,
        parent: Option<&Context>,
        _trace_id: TraceId,
        _name: &str,
        _kind: &SpanKind,
        _attributes: &[KeyValue],
        _links: &[Link],
    ) -> SamplingResult {
        let decision = if self.take(Instant::now()) {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        };
        let trace_state = parent
            .map(|cx| cx.span().span_context().trace_state().clone())
            .unwrap_or(TraceState::NONE);
        SamplingResult {
            decision,
            attributes: Vec::new(),
            trace_state,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn parses_standard_names() {
        assert_eq!(
            SamplerConfig::from_env_values("always_on", None),
            Ok(SamplerConfig::AlwaysOn)
        );
        assert_eq!(
            SamplerConfig::from_env_values("traceidratio", Some("0.25")),
            Ok(SamplerConfig::TraceIdRatio(0.25))
        );
        assert_eq!(
            SamplerConfig::from_env_values("parentbased_always_off", None),
            Ok(SamplerConfig::ParentBased(Box::new(
                SamplerConfig::AlwaysOff
            )))
        );
        assert_eq!(
            SamplerConfig::from_env_values("ParentBased_RateLimited", Some("5")),
            Ok(SamplerConfig::ParentBased(Box::new(
                SamplerConfig::RateLimited(5.0)
            )))
        );
    }

    #[test]
    fn bad_values_name_the_variable() {
        let e = SamplerConfig::from_env_values("traceidratio", Some("2.5")).unwrap_err();
        assert_eq!(e.var, "OTEL_TRACES_SAMPLER_ARG");
        assert!(e.to_string().contains("\"2.5\""), "{e}");
        let e = SamplerConfig::from_env_values("sometimes", None).unwrap_err();
        assert_eq!(e.var, "OTEL_TRACES_SAMPLER");
        assert!(SamplerConfig::from_env_values("ratelimited", Some("-1")).is_err());
        assert!(SamplerConfig::from_env_values("ratelimited", Some("NaN")).is_err());
    }

    #[test]
    fn rate_limited_allows_n_per_second() {
        let s = RateLimited::new(10.0);
        let start = Instant::now();
        let burst = (0..100).filter(|_| s.take(start)).count();
        assert_eq!(burst, 10, "a full bucket holds one second's worth");
        assert!(!s.take(start));
        // Half a second later, five more tokens.
        let later = start + Duration::from_millis(500);
        assert_eq!((0..100).filter(|_| s.take(later)).count(), 5);
        // After a long pause the bucket is full again, never more.
        let much_later = later + Duration::from_secs(60);
        assert_eq!((0..100).filter(|_| s.take(much_later)).count(), 10);
    }

    #[test]
    fn rate_limited_below_one_per_second() {
        let s = RateLimited::new(0.5);
        let t = Instant::now();
        assert!(s.take(t));
        assert!(!s.take(t + Duration::from_secs(1)));
        assert!(s.take(t + Duration::from_secs(3)));
        assert!(!RateLimited::new(0.0).take(t));
    }
}
