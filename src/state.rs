//! The application state handed to every handler: settings, stores and services, no globals.

use crate::accounts::password::PasswordHasher;
use crate::accounts::policy::Policies;
use crate::mail::Mailer;
use crate::oidc::clients::ClientRegistry;
use crate::oidc::keys::KeyRing;
use crate::store::Stores;
use openidconnect::IssuerUrl;
use std::ops::Deref;
use std::sync::Arc;

/// What request handlers need from the configuration, resolved once at start-up.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The issuer without trailing slash; endpoint URLs are built from it.
    pub issuer: String,
    pub issuer_url: IssuerUrl,
    /// Cookies carry `Secure` unless the issuer is plain http on loopback (development).
    pub secure_cookies: bool,
    pub code_ttl: u64,
    pub access_token_ttl: u64,
    pub id_token_ttl: u64,
    pub refresh_token_ttl: u64,
    pub offline_refresh_token_ttl: u64,
    pub session_ttl: u64,
    /// Seconds of inactivity that end a session (0: none).
    pub session_idle: u64,
    pub login_request_ttl: u64,
    pub activation_link_ttl: u64,
    pub reset_link_ttl: u64,
    pub password_history: u32,
    pub administrator_password_policy: String,
    pub mfa_for_administrators: bool,
    pub phishing_resistant_for_administrators: bool,
    pub temporary_password_length: usize,
    pub temporary_password_ttl: u64,
    pub throttling: crate::config::ThrottlingConfig,
    pub alerts: crate::config::AlertsConfig,
    /// Most events a relying application may submit at once.
    pub traces_max_batch: usize,
    /// The window an event's own time must fall in, around its reception (µs).
    pub trace_max_age_us: i64,
    pub trace_max_lead_us: i64,
    pub trace_retention_months: u32,
    /// `traces.siem_url`, `siem_ca_file`, `siem_backlog` (see `traces::siem`).
    pub siem_url: String,
    pub siem_ca_file: String,
    pub siem_backlog: usize,
    pub seal_every_seconds: u64,
    pub retention: crate::config::RetentionConfig,
    pub trusted_proxies: crate::proxy::TrustedProxies,
    /// `credentials.collective_addresses`.
    pub collective_addresses: Vec<String>,
}

impl Settings {
    /// Whether an address looks shared by a service rather than read by one person.
    pub fn looks_collective(&self, email: &crate::types::Email) -> bool {
        crate::config::looks_collective(&self.collective_addresses, email)
    }

    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{}", self.issuer, path)
    }

    /// The idle limit of a session, in seconds (0: none): `sessions.idle_timeout_seconds`, or
    /// the service's own when it asks for less.
    pub fn idle_limit(&self, service: Option<&crate::store::Service>) -> u64 {
        let global = self.session_idle;
        match service.map(|s| u64::from(s.protocol.idle_seconds)) {
            Some(own) if own > 0 && (global == 0 || own < global) => own,
            _ => global,
        }
    }

    /// The longest any token we issue stays valid: revocation marks must outlive it.
    pub fn longest_token_ttl(&self) -> u64 {
        self.access_token_ttl
            .max(self.id_token_ttl)
            .max(self.refresh_token_ttl)
            .max(self.offline_refresh_token_ttl)
    }
}

pub struct AppInner {
    pub settings: Settings,
    pub stores: Stores,
    pub clients: ClientRegistry,
    pub keys: KeyRing,
    pub hasher: PasswordHasher,
    pub policies: Policies,
    pub mailer: Mailer,
    /// Server secret keying CSRF tokens; shared by replicas through the durable store.
    pub csrf_key: Vec<u8>,
    /// Server key sealing the secrets of `client_secret_jwt` clients (durable store, like
    /// `csrf_key`).
    pub client_secret_key: Vec<u8>,
    pub key_reload_seconds: u64,
    /// The WebAuthn relying party; `None` when the issuer's host is not a domain name.
    pub passkeys: Option<crate::accounts::passkey::Passkeys>,
    /// Sends logout tokens to relying applications when sessions end.
    pub backchannel: crate::oidc::deliveries::Deliveries,
    /// Keys fetched from clients' `jwks_uri` (client assertions).
    pub client_keys: crate::oidc::client_keys::ClientKeys,
    /// What "now" is for every expiry (tests move it forward instead of sleeping).
    pub clock: crate::clock::Clock,
    /// Records traces (group commit into the trace store).
    pub tracer: crate::traces::Tracer,
    pub metrics: crate::metrics::Metrics,
}

#[derive(Clone)]
pub struct AppState(pub Arc<AppInner>);

impl Deref for AppState {
    type Target = AppInner;

    fn deref(&self) -> &AppInner {
        &self.0
    }
}
