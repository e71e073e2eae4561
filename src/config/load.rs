//! Reading the configuration (defaults, then the file, then `PASSERELLE__` variables) and
//! refusing, in one line, whatever cannot work.

use super::*;

impl Config {
    /// Loads defaults, then `file` (which must exist when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            if !file.is_file() {
                return Err(ConfigError(format!(
                    "configuration file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(Env::prefixed("PASSERELLE__").split("__"));
        let config: Config = figment.extract().map_err(|e| {
            let first = e.into_iter().next().map(|e| {
                let key = if e.path.is_empty() {
                    String::new()
                } else {
                    format!(" at `{}`", e.path.join("."))
                };
                let source = e
                    .metadata
                    .as_ref()
                    .map(|m| {
                        format!(
                            " (from {})",
                            m.source
                                .as_ref()
                                .map(|s| s.to_string())
                                .unwrap_or_else(|| m.name.to_string())
                        )
                    })
                    .unwrap_or_default();
                format!("invalid configuration{key}: {}{source}", e.kind)
            });
            ConfigError(first.unwrap_or_else(|| "invalid configuration".into()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what types alone cannot say.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |m: String| Err(ConfigError(m));
        if self.server.tls_certificate.as_os_str().is_empty()
            != self.server.tls_private_key.as_os_str().is_empty()
        {
            return fail(
                "server.tls_certificate and server.tls_private_key go together: set both or neither"
                    .into(),
            );
        }
        for proxy in &self.server.trusted_proxies {
            if crate::proxy::parse_net(proxy).is_none() {
                return fail(format!(
                    "server.trusted_proxies: `{proxy}` is not an address or a CIDR block such as 10.0.0.0/8"
                ));
            }
        }
        if !(1..=12).contains(&self.traces.retention_months) {
            return fail(format!(
                "traces.retention_months must be between 1 and 12, not {}",
                self.traces.retention_months
            ));
        }
        if !(1..=10_000).contains(&self.traces.max_batch) {
            return fail("traces.max_batch must be between 1 and 10000".into());
        }
        if self.traces.max_event_age_seconds == 0
            || self.traces.max_event_age_seconds
                > u64::from(self.traces.retention_months) * 28 * 86_400
        {
            return fail(
                "traces.max_event_age_seconds must be positive and shorter than traces.retention_months".into(),
            );
        }
        if self.traces.max_event_lead_seconds > 86_400 {
            return fail("traces.max_event_lead_seconds must be at most 86400 (one day)".into());
        }
        if !self.traces.siem_url.is_empty() {
            let target = crate::traces::siem::parse_target(&self.traces.siem_url)
                .map_err(|e| ConfigError(format!("traces.siem_url: {e}")))?;
            if target.tls && !std::path::Path::new(&self.traces.siem_ca_file).is_file() {
                return fail(format!(
                    "traces.siem_ca_file: `{}` is not a file (tls:// needs the collector's certificate authority)",
                    self.traces.siem_ca_file
                ));
            }
        }
        if !(1..=10_000_000).contains(&self.traces.siem_backlog) {
            return fail("traces.siem_backlog must be between 1 and 10000000".into());
        }
        if !(1..=1000).contains(&self.traces.max_connections) {
            return fail("traces.max_connections must be between 1 and 1000".into());
        }
        let tls = &self.store.tls;
        if !matches!(
            tls.sslmode.as_str(),
            "" | "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full"
        ) {
            return fail(format!(
                "store.tls.sslmode `{}` is not one of disable, allow, prefer, require, verify-ca, verify-full",
                tls.sslmode
            ));
        }
        if matches!(tls.sslmode.as_str(), "verify-ca" | "verify-full") && tls.root_cert.is_empty() {
            return fail(format!(
                "store.tls.sslmode {} checks the server against store.tls.root_cert: give its certificate authority's PEM file",
                tls.sslmode
            ));
        }
        if tls.client_cert.is_empty() != tls.client_key.is_empty() {
            return fail(
                "store.tls.client_cert and store.tls.client_key go together: set both or neither"
                    .into(),
            );
        }
        for (key, path) in [
            ("root_cert", &tls.root_cert),
            ("client_cert", &tls.client_cert),
            ("client_key", &tls.client_key),
        ] {
            if !path.is_empty() && !std::path::Path::new(path).is_file() {
                return fail(format!("store.tls.{key}: `{path}` is not a file"));
            }
        }
        if self.traces.seal_every_seconds == 0 {
            return fail("traces.seal_every_seconds must be positive".into());
        }
        for kind in crate::store::ConventionKind::ALL {
            let years = self.retention.habilitation_years(kind);
            if !(1..=10).contains(&years) {
                return fail(format!(
                    "retention.{}_habilitation_years must be between 1 and 10, not {years}",
                    kind.as_str()
                ));
            }
        }
        if self.listen_addr().is_none() {
            return fail(format!(
                "server.listen `{}` is not an address such as 127.0.0.1:8080",
                self.server.listen
            ));
        }
        if let Err(e) = self.management_addr() {
            return fail(e);
        }
        if let (Some(public), Ok(Some(management))) = (self.listen_addr(), self.management_addr())
            && public.port() != 0
            && public == management
        {
            return fail("server.management_listen must differ from server.listen".into());
        }
        if !self.server.issuer.is_empty() {
            match url::Url::parse(&self.server.issuer) {
                Ok(u)
                    if matches!(u.scheme(), "https" | "http")
                        && u.query().is_none()
                        && u.fragment().is_none() =>
                {
                    if u.scheme() == "http"
                        && !crate::types::is_loopback_host(u.host_str().unwrap_or_default())
                    {
                        return fail(format!(
                            "server.issuer `{}` must use https unless it is a loopback address",
                            self.server.issuer
                        ));
                    }
                }
                _ => {
                    return fail(format!(
                        "server.issuer `{}` must be an http(s) URL without query or fragment",
                        self.server.issuer
                    ));
                }
            }
        }
        let t = &self.tokens;
        if t.authorization_code_lifetime_seconds == 0
            || t.authorization_code_lifetime_seconds > MAX_CODE_LIFETIME_SECONDS
        {
            return fail(format!(
                "tokens.authorization_code_lifetime_seconds must be between 1 and {MAX_CODE_LIFETIME_SECONDS}"
            ));
        }
        for (name, value) in [
            (
                "tokens.access_token_lifetime_seconds",
                t.access_token_lifetime_seconds,
            ),
            (
                "tokens.id_token_lifetime_seconds",
                t.id_token_lifetime_seconds,
            ),
            (
                "tokens.refresh_token_lifetime_seconds",
                t.refresh_token_lifetime_seconds,
            ),
            (
                "tokens.offline_refresh_token_lifetime_seconds",
                t.offline_refresh_token_lifetime_seconds,
            ),
            (
                "tokens.login_request_lifetime_seconds",
                t.login_request_lifetime_seconds,
            ),
            ("tokens.key_reload_seconds", t.key_reload_seconds),
            ("sessions.lifetime_seconds", self.sessions.lifetime_seconds),
        ] {
            if value == 0 {
                return fail(format!("{name} must be greater than 0"));
            }
        }
        let idle = self.sessions.idle_timeout_seconds;
        if idle != 0 && !(60..=self.sessions.lifetime_seconds).contains(&idle) {
            return fail(format!(
                "sessions.idle_timeout_seconds must be 0 (no idle limit) or between 60 and sessions.lifetime_seconds ({})",
                self.sessions.lifetime_seconds
            ));
        }
        if self.sessions.memory_max_tokens < 1000 {
            return fail("sessions.memory_max_tokens must be at least 1000".into());
        }
        if self.sessions.url != "memory" && !self.redis_sessions() {
            return fail(format!(
                "sessions.url `{}` is not supported: use `memory`, redis://HOST:PORT or redis-sentinel://HOST:PORT,…/MASTER",
                crate::store::redis::redacted(&self.sessions.url)
            ));
        }
        if crate::store::redis::sentinel::is_sentinel_url(&self.sessions.url) {
            if let Err(e) = crate::store::redis::sentinel::Target::parse(&self.sessions.url) {
                return fail(format!(
                    "sessions.url `{}`: {e}",
                    crate::store::redis::redacted(&self.sessions.url)
                ));
            }
        } else if self.redis_sessions()
            && !url::Url::parse(&self.sessions.url)
                .is_ok_and(|u| u.host_str().is_some_and(|h| !h.is_empty()))
        {
            return fail("sessions.url must name a Redis host: redis://HOST:PORT".into());
        }
        if self.sessions.wait_replicas > 0 {
            if !self.redis_sessions() {
                return fail(
                    "sessions.wait_replicas waits for Redis replicas: set sessions.url to Redis, or leave it at 0"
                        .into(),
                );
            }
            // WAIT with 0 blocks for ever; past the connection's 2-s response timeout every
            // write would fail.
            if !(1..=1500).contains(&self.sessions.wait_timeout_ms) {
                return fail(format!(
                    "sessions.wait_timeout_ms must be between 1 and 1500, not {}",
                    self.sessions.wait_timeout_ms
                ));
            }
        }
        for (name, url) in [
            ("store.url", &self.store.url),
            ("traces.url", &self.traces.url),
        ] {
            if !url.is_empty() && !url.starts_with("sqlite:") && !is_postgres(url) {
                return fail(format!(
                    "{name} `{}` is not supported: leave it empty, or use sqlite://PATH or postgres://USER@HOST/DATABASE",
                    crate::store::redis::redacted(url)
                ));
            }
        }
        let p = &self.password_hashing;
        if argon2::Params::new(p.memory_kib, p.iterations, p.parallelism, None).is_err() {
            return fail("password_hashing: invalid Argon2id parameters".into());
        }
        if p.memory_kib < 8 * p.parallelism {
            return fail("password_hashing.memory_kib must be at least 8 × parallelism".into());
        }
        self.policies().map_err(ConfigError)?;
        let c = &self.credentials;
        if c.activation_link_lifetime_seconds == 0 || c.reset_link_lifetime_seconds == 0 {
            return fail("credentials: link lifetimes must be greater than 0".into());
        }
        if c.temporary_password_lifetime_seconds == 0
            || c.temporary_password_lifetime_seconds > 24 * 3600
        {
            return fail("credentials.temporary_password_lifetime_seconds must be between 1 and 86400 (24 h)".into());
        }
        if !(8..=64).contains(&c.temporary_password_length) {
            return fail("credentials.temporary_password_length must be between 8 and 64".into());
        }
        if !self
            .password_policies
            .contains_key(&c.administrator_password_policy)
        {
            return fail(format!(
                "credentials.administrator_password_policy `{}` is not a configured profile",
                c.administrator_password_policy
            ));
        }
        if c.password_history > 24 {
            return fail("credentials.password_history must be at most 24".into());
        }
        let th = &self.throttling;
        if !(th.captcha_after <= th.delay_after
            && th.delay_after <= th.lock_after
            && th.lock_after <= 10)
        {
            return fail("throttling: captcha_after <= delay_after <= lock_after <= 10 is required (CNIL: lock after at most 10 failures)".into());
        }
        if th.device_cookie_days > 400 {
            return fail(
                "throttling.device_cookie_days must be at most 400 (browsers cap cookies there)"
                    .into(),
            );
        }
        if !(8..=26).contains(&th.captcha_work_bits) {
            return fail("throttling.captcha_work_bits must be between 8 and 26".into());
        }
        if th.first_delay_seconds == 0 || th.lock_seconds == 0 || th.max_failures_per_day == 0 {
            return fail(
                "throttling: delays, lock duration and daily cap must be greater than 0".into(),
            );
        }
        let m = &self.mail;
        if m.from.parse::<lettre::message::Mailbox>().is_err() {
            return fail(format!(
                "mail.from `{}` is not an address such as `Passerelle <ne-pas-repondre@caf.fr>`",
                m.from
            ));
        }
        if !matches!(m.smtp_tls.as_str(), "starttls" | "tls" | "none") {
            return fail(format!(
                "mail.smtp_tls `{}` must be `starttls`, `tls` or `none`",
                m.smtp_tls
            ));
        }
        if m.smtp_tls == "none"
            && !m.smtp_host.is_empty()
            && !crate::types::is_loopback_host(&m.smtp_host)
        {
            return fail(
                "mail.smtp_tls = \"none\" is accepted only for a relay on loopback".into(),
            );
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return fail(format!(
                "log.format `{}` must be `text` or `json`",
                self.log.format
            ));
        }
        if tracing_subscriber::EnvFilter::try_new(&self.log.level).is_err() {
            return fail(format!(
                "log.level `{}` is not a valid filter",
                self.log.level
            ));
        }
        Ok(())
    }
}
