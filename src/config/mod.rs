//! Configuration: built-in defaults, then one TOML file, then `PASSERELLE__SECTION__KEY`
//! environment variables. Unknown keys are refused so that a typo never silently falls back to a
//! default. `passerelle check-config` runs exactly [`Config::load`].

use crate::accounts::policy::{Policies, PolicyConfig, default_profiles};
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

mod collective;
mod load;
mod secrets;

pub use secrets::SecretsConfig;

/// The most an authorization code may live (RFC 6749 §4.1.2 recommends at most 10 minutes).
pub const MAX_CODE_LIFETIME_SECONDS: u64 = 600;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub store: StoreConfig,
    pub secrets: SecretsConfig,
    pub sessions: SessionsConfig,
    pub tokens: TokensConfig,
    pub password_hashing: PasswordHashingConfig,
    pub credentials: CredentialsConfig,
    #[serde(default = "default_profiles")]
    pub password_policies: BTreeMap<String, PolicyConfig>,
    pub mail: MailConfig,
    pub throttling: ThrottlingConfig,
    pub retention: RetentionConfig,
    pub traces: TracesConfig,
    pub alerts: AlertsConfig,
    pub log: LogConfig,
}

/// The alert rules (`traces::alerts`), all on by default; a threshold of 0 turns its rule off.
/// An alert is mailed to the security officers in reach once per burst: events of the same
/// rule and subject less than the rule's window apart belong to one burst.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    pub enabled: bool,
    /// Failed logins from one client address within `failure_window_seconds`.
    pub failures_per_address: u32,
    /// Failed logins on one account within `failure_window_seconds`.
    pub failures_per_account: u32,
    pub failure_window_seconds: u64,
    /// A successful login on an account that reached the lock (`throttling.lock_after`
    /// failures) within `failure_window_seconds`.
    pub login_after_lock: bool,
    /// An administrative role given (administrator, substitute, delegated manager, an
    /// appointment by the Caf).
    pub admin_role_granted: bool,
    /// An export of traces of at least this many rows.
    pub large_export_rows: u32,
    /// Successful logins on one account from at least this many distant networks (IPv4 /16,
    /// IPv6 /48) within `distant_window_seconds`.
    pub distant_networks: u32,
    pub distant_window_seconds: u64,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            failures_per_address: 20,
            failures_per_account: 5,
            failure_window_seconds: 900,
            login_after_lock: true,
            admin_role_granted: true,
            large_export_rows: 5_000,
            distant_networks: 3,
            distant_window_seconds: 3_600,
        }
    }
}

/// The trace store: where it lives, how long traces are kept, how often streams are sealed.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TracesConfig {
    /// Empty: the SQLite file `traces.db` in `server.data_dir`, apart from the other data,
    /// or, when `store.url` is PostgreSQL, that database (schema `passerelle_traces`).
    /// Otherwise `sqlite://PATH` or `postgres://…`.
    pub url: String,
    /// PostgreSQL only: the URL of the trace schema's owner, for migrations; empty:
    /// `store.migration_url` when the traces share the durable database, else `url`.
    pub migration_url: String,
    /// PostgreSQL only: upper bound of connections held to the trace store (its writer uses
    /// one at a time; searches, exports and the dashboard the others).
    pub max_connections: u32,
    /// Months a trace is kept (the seeds: 6; at most 12).
    pub retention_months: u32,
    /// How often each stream's head is sealed with Passerelle's signature.
    pub seal_every_seconds: u64,
    /// Most events a relying application may submit in one request.
    pub max_batch: usize,
    /// How far in the past a relying application may date an event (`at`), from when
    /// Passerelle receives it; older events are refused (its reception time is kept too).
    pub max_event_age_seconds: u64,
    /// How far in the future (clock drift) an event's `at` may be.
    pub max_event_lead_seconds: u64,
    /// The SIEM feed: every trace, as it is written, to a syslog collector (RFC 5424, one JSON
    /// message per trace, octet-counted frames): `tcp://host:port` or `tls://host:port`;
    /// empty: no feed.
    pub siem_url: String,
    /// `tls://` only: the PEM file of the certificate authority the collector's certificate
    /// must chain to (its name must match the URL's host).
    pub siem_ca_file: String,
    /// Most traces waiting while the collector is unreachable; beyond, the oldest are dropped
    /// from the feed (never from the store) and counted in `passerelle_siem_dropped`.
    pub siem_backlog: usize,
}

impl Default for TracesConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            migration_url: String::new(),
            max_connections: 8,
            retention_months: 6,
            seal_every_seconds: 300,
            max_batch: 1000,
            max_event_age_seconds: 7 * 86_400,
            max_event_lead_seconds: 300,
            siem_url: String::new(),
            siem_ca_file: String::new(),
            siem_backlog: 100_000,
        }
    }
}

/// How long data is kept once its purpose ended; `passerelle retention run` applies it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Years a closed habilitation is kept, per kind of convention.
    pub cooperation_habilitation_years: u32,
    pub monenfant_habilitation_years: u32,
    pub mon_compte_partenaire_habilitation_years: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            cooperation_habilitation_years: 2,
            monenfant_habilitation_years: 2,
            mon_compte_partenaire_habilitation_years: 6,
        }
    }
}

impl RetentionConfig {
    pub fn habilitation_years(&self, kind: crate::store::ConventionKind) -> u32 {
        use crate::store::ConventionKind::*;
        match kind {
            Cooperation => self.cooperation_habilitation_years,
            Monenfant => self.monenfant_habilitation_years,
            MonComptePartenaire => self.mon_compte_partenaire_habilitation_years,
        }
    }
}

/// Access restriction after failed logins, per identifier and per client IP.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ThrottlingConfig {
    /// Consecutive failures after which the login form asks for a CAPTCHA.
    pub captcha_after: u32,
    /// Consecutive failures after which each attempt waits, starting at first_delay_seconds
    /// and doubling.
    pub delay_after: u32,
    pub first_delay_seconds: u64,
    /// Consecutive failures that lock the identifier temporarily (an unlock link is mailed).
    pub lock_after: u32,
    pub lock_seconds: u64,
    /// Failures allowed per 24 hours.
    pub max_failures_per_day: u32,
    /// The counters of one client IP use these thresholds multiplied by this factor, so that
    /// colleagues behind one address translation do not lock each other out.
    pub ip_multiplier: u32,
    /// The CAPTCHA's proof of work: the page's script must find a nonce whose SHA-256 with the
    /// challenge starts with this many zero bits (2^bits hashes on average).
    pub captcha_work_bits: u8,
    /// Days a device cookie lasts: a browser where someone logged in keeps counters of its own
    /// for that identifier and is not held by the identifier's lock (0: no device cookies).
    pub device_cookie_days: u32,
}

impl ThrottlingConfig {
    /// The thresholds applied to a client IP.
    pub fn for_ip(&self) -> ThrottlingConfig {
        let m = self.ip_multiplier.max(1);
        ThrottlingConfig {
            captcha_after: self.captcha_after * m,
            delay_after: self.delay_after * m,
            lock_after: self.lock_after * m,
            max_failures_per_day: self.max_failures_per_day * m,
            ..self.clone()
        }
    }
}

impl Default for ThrottlingConfig {
    fn default() -> Self {
        Self {
            captcha_after: 3,
            delay_after: 5,
            first_delay_seconds: 60,
            lock_after: 10,
            lock_seconds: 3600,
            max_failures_per_day: 25,
            ip_multiplier: 4,
            captcha_work_bits: 16,
            device_cookie_days: 90,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CredentialsConfig {
    /// Profile for people whose services impose none.
    pub default_password_policy: String,
    pub activation_link_lifetime_seconds: u64,
    pub reset_link_lifetime_seconds: u64,
    /// Previous passwords a new one must differ from.
    pub password_history: u32,
    /// Profile imposed on anyone holding an administrative role (alongside their services').
    pub administrator_password_policy: String,
    /// Whether administrative roles (security officers included) require a second factor.
    pub mfa_for_administrators: bool,
    /// Whether that second factor must be a passkey (phishing-resistant).
    pub phishing_resistant_for_administrators: bool,
    /// Legacy onboarding: length and validity (at most 24 h) of the mailed temporary password.
    pub temporary_password_length: usize,
    pub temporary_password_lifetime_seconds: u64,
    /// Local parts of addresses that look shared by a service rather than one person
    /// (`*` stands for any characters; matched without case): an account created or imported
    /// with one is refused unless the operator confirms that it names one person.
    pub collective_addresses: Vec<String>,
}

pub use collective::looks_collective;

/// Characters of temporary passwords: letters and digits without look-alikes (0/O, 1/l/I).
pub const TEMPORARY_PASSWORD_ALPHABET: &str =
    "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";

impl Default for CredentialsConfig {
    fn default() -> Self {
        Self {
            default_password_policy: "cooperation".into(),
            activation_link_lifetime_seconds: 72 * 3600,
            reset_link_lifetime_seconds: 3600,
            password_history: 5,
            administrator_password_policy: "administrator".into(),
            mfa_for_administrators: true,
            phishing_resistant_for_administrators: false,
            temporary_password_length: 12,
            temporary_password_lifetime_seconds: 24 * 3600,
            collective_addresses: [
                "service.*",
                "service-*",
                "service_*",
                "contact",
                "contact.*",
                "accueil",
                "accueil.*",
                "mairie",
                "mairie.*",
                "secretariat",
                "secretariat.*",
                "info",
                "infos",
                "courrier",
                "standard",
                "direction",
                "administration",
                "rh",
                "noreply",
                "no-reply",
                "ne-pas-repondre",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// Sender of every message.
    pub from: String,
    /// Empty: messages are written as .eml files in `outbox_dir`. Otherwise the SMTP relay.
    pub smtp_host: String,
    pub smtp_port: u16,
    /// `starttls` (default), `tls` (implicit TLS, usually port 465) or `none` (loopback only).
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: String,
    pub smtp_timeout_seconds: u64,
    /// Folder of the outbox; empty: `outbox` in `server.data_dir`.
    pub outbox_dir: PathBuf,
}

impl Default for MailConfig {
    fn default() -> Self {
        Self {
            from: "Passerelle <ne-pas-repondre@passerelle.invalid>".into(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: "starttls".into(),
            smtp_username: String::new(),
            smtp_password: String::new(),
            smtp_timeout_seconds: 10,
            outbox_dir: PathBuf::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address and port the HTTP listener binds.
    pub listen: String,
    /// The operators' listener: `/metrics`, `/healthz`, `/readyz`. Loopback by default, never
    /// the public side; empty: none (then no metrics are served).
    pub management_listen: String,
    /// The public issuer URL, as relying applications see it (may differ from `listen` behind a
    /// TLS-terminating proxy). Empty: `http://` + `listen`.
    pub issuer: String,
    /// Folder for the embedded database and the mail outbox.
    pub data_dir: PathBuf,
    /// PEM certificate chain and private key: when both are set, Passerelle terminates TLS
    /// itself (TLS 1.2 and 1.3, AEAD suites only) and the default issuer is `https://`.
    pub tls_certificate: PathBuf,
    pub tls_private_key: PathBuf,
    /// Reverse proxies (addresses or CIDR blocks) whose `X-Forwarded-For` names the client:
    /// throttling and traces then see the client's address, not the proxy's.
    pub trusted_proxies: Vec<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server: Default::default(),
            store: Default::default(),
            secrets: Default::default(),
            sessions: Default::default(),
            tokens: Default::default(),
            password_hashing: Default::default(),
            credentials: Default::default(),
            password_policies: default_profiles(),
            mail: Default::default(),
            throttling: Default::default(),
            retention: Default::default(),
            traces: Default::default(),
            alerts: Default::default(),
            log: Default::default(),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            management_listen: "127.0.0.1:9090".into(),
            issuer: String::new(),
            data_dir: PathBuf::from("data"),
            tls_certificate: PathBuf::new(),
            tls_private_key: PathBuf::new(),
            trusted_proxies: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Durable store. Empty: the SQLite file `passerelle.db` in `server.data_dir`; or
    /// `sqlite://PATH`, or `postgres://USER:PASSWORD@HOST:PORT/DATABASE` (several replicas).
    pub url: String,
    /// PostgreSQL only: the schema owner's URL, used for migrations (and the trace
    /// partitions' functions); empty: `url`. Lets the replicas log in as a role that is a
    /// member of `passerelle_app` and owns nothing.
    pub migration_url: String,
    /// Upper bound of connections held to the durable store.
    pub max_connections: u32,
    /// Apply pending schema migrations at start-up (`passerelle migrate` does it explicitly).
    pub auto_migrate: bool,
    /// PostgreSQL: TLS of every connection Passerelle opens to it (durable store, traces,
    /// migrations).
    pub tls: PgTlsConfig,
}

/// TLS towards PostgreSQL, with libpq's names and meanings. A setting left empty keeps what
/// the URL says (`?sslmode=…&sslrootcert=…`), else libpq's default (`prefer`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct PgTlsConfig {
    /// `disable`, `allow`, `prefer`, `require` (encrypted, server not checked), `verify-ca`
    /// (its certificate chains to `root_cert`) or `verify-full` (and names the URL's host).
    pub sslmode: String,
    /// PEM file of the certificate authorities the server's certificate must chain to.
    pub root_cert: String,
    /// PEM files of Passerelle's client certificate and its private key, for servers that
    /// authenticate clients by certificate (`hostssl … cert` in pg_hba.conf).
    pub client_cert: String,
    pub client_key: String,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            migration_url: String::new(),
            max_connections: 8,
            auto_migrate: true,
            tls: PgTlsConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionsConfig {
    /// Ephemeral store (sessions, codes, tokens): `memory` for the in-process store, or
    /// `redis://[user:password@]host:port[/db]` (`rediss://` for TLS) shared by replicas, or
    /// behind Redis Sentinel `redis-sentinel://[user:password@]host:port[,host:port…]/master[/db]`
    /// (`rediss-sentinel://` for TLS), naming the sentinels and the primary they monitor.
    pub url: String,
    /// With `redis-sentinel://`: the sentinels' own password, when they require one
    /// (`requirepass` in sentinel.conf); the URL's is the Redis servers'.
    pub sentinel_password: String,
    /// Redis only: every write of a session, a code, a token or a revocation is acknowledged
    /// only once this many replicas hold it (`WAIT`), so that a failover cannot lose it; 0:
    /// Redis's asynchronous replication alone. Costs a round trip to the replicas per write.
    pub wait_replicas: u32,
    /// How long a write waits for `wait_replicas` before it is refused (503): 1 to 1500 ms
    /// (under the connection's 2-s response timeout; `WAIT` with 0 would block for ever).
    pub wait_timeout_ms: u64,
    /// Prefix of every Redis key, so that several deployments can share one server.
    pub key_prefix: String,
    /// Absolute lifetime of a login session, in seconds.
    pub lifetime_seconds: u64,
    /// A session left this long without activity (a page of Passerelle, a refresh by one of
    /// its relying applications) ends; 0: no idle limit. Also the longest a refresh token of a
    /// session may go unused.
    pub idle_timeout_seconds: u64,
    /// With `url = "memory"`: the most access tokens, and the most refresh tokens, the
    /// process keeps at once (an access token costs about 600 bytes until it expires, so the
    /// default bounds them near 300 MiB). Past it, a new token is refused with 503
    /// `temporarily_unavailable` until some expire: memory stays bounded whatever clients ask
    /// for. Redis bounds its own memory (`maxmemory`).
    pub memory_max_tokens: usize,
}

impl Default for SessionsConfig {
    fn default() -> Self {
        Self {
            url: "memory".into(),
            sentinel_password: String::new(),
            wait_replicas: 0,
            wait_timeout_ms: 500,
            key_prefix: "passerelle:".into(),
            lifetime_seconds: 8 * 3600,
            idle_timeout_seconds: 30 * 60,
            memory_max_tokens: crate::store::memory::DEFAULT_MAX_TOKENS,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokensConfig {
    pub authorization_code_lifetime_seconds: u64,
    pub access_token_lifetime_seconds: u64,
    pub id_token_lifetime_seconds: u64,
    pub refresh_token_lifetime_seconds: u64,
    /// Refresh-token families of an `offline_access` grant, which outlive the session.
    pub offline_refresh_token_lifetime_seconds: u64,
    /// How long a pending authorization request waits for the person to log in.
    pub login_request_lifetime_seconds: u64,
    /// How often a running server reloads signing keys (so that `passerelle keys rotate`
    /// reaches every replica without a restart).
    pub key_reload_seconds: u64,
}

impl Default for TokensConfig {
    fn default() -> Self {
        Self {
            authorization_code_lifetime_seconds: 60,
            access_token_lifetime_seconds: 600,
            id_token_lifetime_seconds: 600,
            refresh_token_lifetime_seconds: 8 * 3600,
            offline_refresh_token_lifetime_seconds: 30 * 86_400,
            login_request_lifetime_seconds: 1800,
            key_reload_seconds: 60,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordHashingConfig {
    /// Argon2id memory cost in KiB (OWASP: 19456 with 2 iterations).
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    /// Password hashes computed at once; bounds memory (each takes `memory_kib`) under a flood.
    /// 0: twice the number of cores.
    pub max_concurrent: usize,
}

impl Default for PasswordHashingConfig {
    fn default() -> Self {
        Self {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
            max_concurrent: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `tracing` filter directives; `RUST_LOG` wins when set.
    pub level: String,
    /// `text` or `json`.
    pub format: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.server.listen.parse().ok()
    }

    /// The management listener's address; `Ok(None)` when there is none.
    pub fn management_addr(&self) -> Result<Option<SocketAddr>, String> {
        let value = self.server.management_listen.trim();
        if value.is_empty() {
            return Ok(None);
        }
        value.parse().map(Some).map_err(|_| {
            format!("server.management_listen `{value}` is not an address such as 127.0.0.1:9090")
        })
    }

    /// The issuer for a listener bound on `bound` (the configured one when set).
    pub fn tls_enabled(&self) -> bool {
        !self.server.tls_certificate.as_os_str().is_empty()
            && !self.server.tls_private_key.as_os_str().is_empty()
    }

    pub fn issuer_for(&self, bound: SocketAddr) -> String {
        if self.server.issuer.is_empty() {
            let scheme = if self.tls_enabled() { "https" } else { "http" };
            format!("{scheme}://{bound}")
        } else {
            self.server.issuer.trim_end_matches('/').to_owned()
        }
    }

    /// Warnings that do not prevent start-up but that an operator must read.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let bits = self.credentials.temporary_password_length as f64
            * (TEMPORARY_PASSWORD_ALPHABET.len() as f64).log2();
        if bits < 50.0 {
            out.push(format!(
                "credentials.temporary_password_length = {} gives {bits:.0} bits: use at least {} characters for 50 bits",
                self.credentials.temporary_password_length,
                (50.0 / (TEMPORARY_PASSWORD_ALPHABET.len() as f64).log2()).ceil()
            ));
        }
        if is_postgres(&self.store.url) && !self.redis_sessions() {
            out.push(
                "store.url is PostgreSQL but sessions.url is `memory`: sessions, codes and refresh tokens stay in each replica; use redis:// to run several".into(),
            );
        }
        let p = &self.password_hashing;
        if p.memory_kib < 19456 || p.iterations < 2 {
            out.push(format!(
                "password_hashing (m={} KiB, t={}) is below the OWASP minimum m=19456 KiB, t=2",
                p.memory_kib, p.iterations
            ));
        }
        out
    }

    pub fn policies(&self) -> Result<Policies, String> {
        Policies::new(
            self.password_policies.clone(),
            self.credentials.default_password_policy.clone(),
        )
    }

    pub fn outbox_dir(&self) -> PathBuf {
        if self.mail.outbox_dir.as_os_str().is_empty() {
            self.server.data_dir.join("outbox")
        } else {
            self.mail.outbox_dir.clone()
        }
    }

    pub fn traces_path(&self) -> PathBuf {
        let url = &self.traces.url;
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            PathBuf::from(rest)
        } else {
            self.server.data_dir.join("traces.db")
        }
    }

    /// The PostgreSQL URL of the trace store, if it is on PostgreSQL (and the one to migrate
    /// it with).
    pub fn postgres_traces(&self) -> Option<(&str, Option<&str>)> {
        let some = non_empty;
        if is_postgres(&self.traces.url) {
            Some((&self.traces.url, some(&self.traces.migration_url)))
        } else if self.traces.url.is_empty() && is_postgres(&self.store.url) {
            Some((
                &self.store.url,
                some(&self.traces.migration_url).or(some(&self.store.migration_url)),
            ))
        } else {
            None
        }
    }

    /// Whether the ephemeral store is a Redis server.
    pub fn redis_sessions(&self) -> bool {
        self.sessions.url.starts_with("redis://")
            || self.sessions.url.starts_with("rediss://")
            || crate::store::redis::sentinel::is_sentinel_url(&self.sessions.url)
    }

    pub fn sqlite_path(&self) -> PathBuf {
        if let Some(rest) = self.store.url.strip_prefix("sqlite://") {
            PathBuf::from(rest)
        } else if let Some(rest) = self.store.url.strip_prefix("sqlite:") {
            PathBuf::from(rest)
        } else {
            self.server.data_dir.join("passerelle.db")
        }
    }
}

/// Whether a store URL names a PostgreSQL database.
pub fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

fn non_empty(s: &str) -> Option<&str> {
    Some(s).filter(|s| !s.is_empty())
}
