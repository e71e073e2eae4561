//! Prometheus metrics (prometheus-client), served at `/metrics` on the management listener
//! (`server.management_listen`) in the text exposition format:
//! logins by outcome, grants by type, request latency by route, traces ingested and lost,
//! temporary locks. Counters only say how many, never who.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginLabels {
    /// `success` or `failure`.
    pub outcome: &'static str,
    /// `none` for a success; `credentials`, `throttled` or `captcha` for a failure (never
    /// whether the identifier names an account).
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GrantLabels {
    pub grant_type: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    /// The route template (`/api/v1/partners/{id}`), never the concrete path.
    pub route: String,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 4 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 14))
}

pub struct Metrics {
    registry: Registry,
    pub logins: Family<LoginLabels, Counter>,
    pub grants: Family<GrantLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub traces_ingested: Counter,
    pub traces_lost: Gauge<u64, AtomicU64>,
    pub locks: Counter,
    /// The SIEM feed (`traces::siem`): traces waiting, sent, dropped from a full backlog, and
    /// the age of the oldest one waiting.
    pub siem_queued: Gauge,
    pub siem_sent: Counter,
    pub siem_dropped: Counter,
    pub siem_lag_seconds: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("passerelle");
        let logins = Family::<LoginLabels, Counter>::default();
        registry.register("logins", "Password logins by outcome", logins.clone());
        let grants = Family::<GrantLabels, Counter>::default();
        registry.register("grants", "Tokens issued by grant type", grants.clone());
        let request_seconds =
            Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
                latency_histogram,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by route",
            request_seconds.clone(),
        );
        let traces_ingested = Counter::default();
        registry.register(
            "traces_ingested",
            "Traces submitted by relying applications and stored",
            traces_ingested.clone(),
        );
        let traces_lost = Gauge::<u64, AtomicU64>::default();
        registry.register(
            "traces_lost",
            "Passerelle's own events that could not be recorded since start-up",
            traces_lost.clone(),
        );
        let locks = Counter::default();
        registry.register(
            "login_locks",
            "Identifiers locked after repeated failures",
            locks.clone(),
        );
        let siem_queued = Gauge::default();
        registry.register(
            "siem_queued",
            "Traces waiting to be forwarded to the syslog collector",
            siem_queued.clone(),
        );
        let siem_sent = Counter::default();
        registry.register(
            "siem_sent",
            "Traces forwarded to the syslog collector",
            siem_sent.clone(),
        );
        let siem_dropped = Counter::default();
        registry.register(
            "siem_dropped",
            "Traces not forwarded because the backlog was full (they stay in the trace store)",
            siem_dropped.clone(),
        );
        let siem_lag_seconds = Gauge::default();
        registry.register(
            "siem_lag_seconds",
            "Age of the oldest trace waiting to be forwarded (0 when none waits)",
            siem_lag_seconds.clone(),
        );
        Self {
            siem_queued,
            siem_sent,
            siem_dropped,
            siem_lag_seconds,
            registry,
            logins,
            grants,
            request_seconds,
            traces_ingested,
            traces_lost,
            locks,
        }
    }

    /// Counts a login. The reasons that only an existing account can produce (a wrong
    /// password, a suspended account, an expired temporary password) and an unknown account
    /// are all counted as `credentials`: a counter must not tell which identifiers exist.
    pub fn login(&self, outcome: &'static str, reason: &'static str) {
        let reason = match reason {
            "none" | "throttled" | "captcha" => reason,
            _ => "credentials",
        };
        self.logins
            .get_or_create(&LoginLabels { outcome, reason })
            .inc();
    }

    pub fn grant(&self, grant_type: &'static str) {
        self.grants.get_or_create(&GrantLabels { grant_type }).inc();
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
