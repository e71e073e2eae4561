//! Building and running the application: stores, keys, state, router, listener.

use crate::accounts::password::PasswordHasher;
use crate::config::Config;
use crate::config::is_postgres;
use crate::oidc::clients::ClientRegistry;
use crate::oidc::keys::KeyRing;
use crate::state::{AppInner, AppState, Settings};
use crate::store::postgres::{PgStore, traces::PgTraceStore};
use crate::store::sqlite::{SqliteStore, traces::SqliteTraceStore};
use crate::store::{
    Durable, Ephemeral, Stores, TraceStore, memory::MemoryStore, now, redis::RedisStore,
};
use anyhow::Context;
use axum::Router;
use axum::http::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use openidconnect::IssuerUrl;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

/// Opens the durable store named by the configuration, migrating it when allowed.
pub async fn open_durable(config: &Config) -> anyhow::Result<Arc<dyn Durable>> {
    let max = config.store.max_connections;
    if is_postgres(&config.store.url) {
        let store = PgStore::open(&config.store.url, max, &config.store.tls).await?;
        if config.store.auto_migrate {
            migrate_postgres(config).await?;
        } else if !store.is_migrated().await? {
            anyhow::bail!(
                "the PostgreSQL database is not migrated: run `passerelle migrate` first (store.auto_migrate is false)"
            );
        }
        return Ok(store);
    }
    let path = config.sqlite_path();
    let store = SqliteStore::open(&path, max).await?;
    if config.store.auto_migrate {
        store.migrate().await?;
    } else if !store.is_migrated().await? {
        anyhow::bail!(
            "database {} is not migrated: run `passerelle migrate` first (store.auto_migrate is false)",
            path.display()
        );
    }
    Ok(store)
}

/// Applies the durable migrations on PostgreSQL as the schema's owner.
pub async fn migrate_postgres(config: &Config) -> anyhow::Result<()> {
    let owner = Some(config.store.migration_url.as_str())
        .filter(|u| !u.is_empty())
        .unwrap_or(&config.store.url);
    PgStore::open(owner, 1, &config.store.tls)
        .await?
        .migrate()
        .await
}

/// Opens the trace store: its own SQLite file, or PostgreSQL (schema `passerelle_traces`,
/// migrated at opening).
pub async fn open_traces(config: &Config) -> anyhow::Result<Arc<dyn TraceStore>> {
    match config.postgres_traces() {
        Some((url, migration_url)) => Ok(PgTraceStore::open(
            url,
            migration_url,
            config.traces.max_connections,
            &config.store.tls,
        )
        .await?),
        None => Ok(SqliteTraceStore::open(&config.traces_path()).await?),
    }
}

/// Opens the ephemeral store named by the configuration: Redis, shared by the replicas, or
/// the process's memory (swept every 30 s).
pub async fn open_ephemeral(
    config: &Config,
    clock: &crate::clock::Clock,
) -> anyhow::Result<Arc<dyn Ephemeral>> {
    if config.redis_sessions() {
        Ok(RedisStore::connect_with(&config.sessions).await?)
    } else {
        let memory = MemoryStore::with_clock(clock.clone(), config.sessions.memory_max_tokens);
        memory.spawn_sweeper(Duration::from_secs(30));
        Ok(memory)
    }
}

/// Every store the configuration names, the secrets kept at rest sealed under its
/// key-encryption key. Seals the values still in clear and rewraps those under a previous key
/// first; refuses a wrong key.
pub async fn open_stores(config: &Config, clock: &crate::clock::Clock) -> anyhow::Result<Stores> {
    let durable = open_durable(config).await?;
    let ring = crate::store::sealed::kek::keyring(config)?;
    let done = crate::store::sealed::seal_at_rest(durable.as_ref(), &ring).await?;
    if done.sealed > 0 || done.rewrapped > 0 {
        tracing::info!(
            sealed = done.sealed,
            rewrapped = done.rewrapped,
            kek = %ring.current_id(),
            "secrets at rest brought under the current key-encryption key"
        );
    }
    let ephemeral = open_ephemeral(config, clock).await?;
    let traces = open_traces(config).await?;
    Ok(Stores::assemble(durable, ephemeral, traces).sealed(Arc::new(ring)))
}

pub struct Application {
    listener: TcpListener,
    /// The operators' listener (`server.management_listen`), when configured.
    management: Option<TcpListener>,
    /// Set when Passerelle terminates TLS itself.
    tls: Option<rustls::ServerConfig>,
    local_addr: SocketAddr,
    state: AppState,
}

impl Application {
    /// Binds the listener first (so that port 0 works and the issuer can name the real port),
    /// then opens the stores and loads the signing keys.
    pub async fn build(config: &Config) -> anyhow::Result<Self> {
        let addr = config
            .listen_addr()
            .context("server.listen is not a socket address")?;
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        let local_addr = listener.local_addr()?;
        let management =
            match config.management_addr().map_err(anyhow::Error::msg)? {
                Some(addr) => Some(TcpListener::bind(addr).await.with_context(|| {
                    format!("cannot listen on {addr} (server.management_listen)")
                })?),
                None => None,
            };
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let tls = if config.tls_enabled() {
            Some(crate::tls::server_config(
                &config.server.tls_certificate,
                &config.server.tls_private_key,
            )?)
        } else {
            None
        };
        let issuer = config.issuer_for(local_addr);
        let clock = crate::clock::Clock::default();
        let stores = open_stores(config, &clock).await?;
        let state = build_state(config, &issuer, stores, clock).await?;
        Ok(Self {
            listener,
            management,
            tls,
            local_addr,
            state,
        })
    }

    pub fn port(&self) -> u16 {
        self.local_addr.port()
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the management listener is bound, if there is one.
    pub fn management_addr(&self) -> Option<SocketAddr> {
        self.management.as_ref().and_then(|l| l.local_addr().ok())
    }

    pub fn issuer(&self) -> &str {
        &self.state.settings.issuer
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let reload_every = Duration::from_secs(self.state.key_reload_seconds);
        spawn_key_reloader(self.state.clone(), reload_every);
        spawn_hash_memory_release(self.state.clone());
        spawn_trace_maintenance(self.state.clone());
        crate::traces::alerts::spawn(self.state.clone());
        crate::traces::siem::spawn(&self.state)?;
        let app = router(self.state.clone());
        tracing::info!(addr = %self.local_addr, issuer = %self.state.settings.issuer, "Passerelle listening");
        // The operators' listener ends with the process: it is aborted once the public one
        // has drained.
        let management = self.management.map(|listener| {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(%addr, "management listener (metrics, health)");
            }
            let app = management_router(self.state.clone());
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app).await {
                    tracing::error!(error = %e, "management listener failed");
                }
            })
        });
        match self.tls {
            Some(tls) => {
                use crate::tls::TlsPeer;
                use axum::extract::ConnectInfo;
                // Handlers read ConnectInfo<SocketAddr> whichever listener accepted.
                let app = app.layer(axum::middleware::map_request(
                    |mut request: Request<axum::body::Body>| async move {
                        if let Some(ConnectInfo(TlsPeer(peer))) =
                            request.extensions().get::<ConnectInfo<TlsPeer>>().copied()
                        {
                            request.extensions_mut().insert(ConnectInfo(peer));
                        }
                        request
                    },
                ));
                axum::serve(
                    crate::tls::TlsListener::new(self.listener, tls)?,
                    app.into_make_service_with_connect_info::<TlsPeer>(),
                )
                .with_graceful_shutdown(signal)
                .await
                .context("server error")?
            }
            None => axum::serve(
                self.listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(signal)
            .await
            .context("server error")?,
        }
        if let Some(management) = management {
            management.abort();
        }
        // Logout tokens already due are delivered, and queued traces written, before the
        // process ends.
        self.state.backchannel.drain().await;
        if let Err(e) = self.state.tracer.flush().await {
            tracing::error!(error = %e, "queued traces could not be written at shutdown");
        }
        Ok(())
    }
}

/// The state every handler and command shares; also used by CLI commands that send mail.
pub async fn build_state(
    config: &Config,
    issuer: &str,
    stores: Stores,
    clock: crate::clock::Clock,
) -> anyhow::Result<AppState> {
    // One TLS provider for the whole process (outgoing HTTPS, later TLS termination); a second
    // call finds it installed, which is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let t = &config.tokens;
    let issuer_url = IssuerUrl::new(issuer.to_owned()).context("issuer is not a URL")?;
    let secure_cookies = !issuer.starts_with("http://");
    let settings = Settings {
        issuer: issuer.to_owned(),
        issuer_url,
        secure_cookies,
        code_ttl: t.authorization_code_lifetime_seconds,
        access_token_ttl: t.access_token_lifetime_seconds,
        id_token_ttl: t.id_token_lifetime_seconds,
        refresh_token_ttl: t.refresh_token_lifetime_seconds,
        offline_refresh_token_ttl: t.offline_refresh_token_lifetime_seconds,
        session_ttl: config.sessions.lifetime_seconds,
        session_idle: config.sessions.idle_timeout_seconds,
        login_request_ttl: t.login_request_lifetime_seconds,
        activation_link_ttl: config.credentials.activation_link_lifetime_seconds,
        reset_link_ttl: config.credentials.reset_link_lifetime_seconds,
        password_history: config.credentials.password_history,
        administrator_password_policy: config.credentials.administrator_password_policy.clone(),
        mfa_for_administrators: config.credentials.mfa_for_administrators,
        phishing_resistant_for_administrators: config
            .credentials
            .phishing_resistant_for_administrators,
        temporary_password_length: config.credentials.temporary_password_length,
        temporary_password_ttl: config.credentials.temporary_password_lifetime_seconds,
        throttling: config.throttling.clone(),
        alerts: config.alerts.clone(),
        siem_url: config.traces.siem_url.clone(),
        siem_ca_file: config.traces.siem_ca_file.clone(),
        siem_backlog: config.traces.siem_backlog,
        traces_max_batch: config.traces.max_batch,
        trace_max_age_us: config.traces.max_event_age_seconds as i64 * 1_000_000,
        trace_max_lead_us: config.traces.max_event_lead_seconds as i64 * 1_000_000,
        trace_retention_months: config.traces.retention_months,
        seal_every_seconds: config.traces.seal_every_seconds,
        retention: config.retention.clone(),
        trusted_proxies: crate::proxy::TrustedProxies::parse(&config.server.trusted_proxies),
        collective_addresses: config.credentials.collective_addresses.clone(),
    };
    KeyRing::ensure_keys(stores.keys.as_ref(), now()).await?;
    // Access tokens are opaque, so only ID tokens need a retired key to stay published.
    let keys = KeyRing::new(settings.id_token_ttl);
    keys.reload(stores.keys.as_ref(), now()).await?;
    let csrf_key = stores
        .secrets
        .server_secret("csrf", &crate::crypto::random_bytes(32))
        .await?;
    let client_secret_key = stores
        .secrets
        .server_secret("client-secrets", &crate::crypto::random_bytes(32))
        .await?;
    let hasher = PasswordHasher::new(&config.password_hashing)?;
    let policies = config.policies().map_err(anyhow::Error::msg)?;
    let mailer = crate::mail::Mailer::from_config(&config.mail, config.outbox_dir())?;
    let tracer = crate::traces::Tracer::start(stores.traces.clone());
    Ok(AppState(Arc::new(AppInner {
        policies,
        mailer,
        clients: ClientRegistry::new(stores.services.clone()),
        settings,
        stores,
        keys,
        hasher,
        csrf_key,
        client_secret_key,
        key_reload_seconds: t.key_reload_seconds,
        passkeys: crate::accounts::passkey::Passkeys::for_issuer(issuer),
        backchannel: crate::oidc::deliveries::Deliveries::new()?,
        client_keys: Default::default(),
        tracer,
        metrics: crate::metrics::Metrics::new(),
        clock,
    })))
}

/// Seals the trace streams every `traces.seal_every_seconds`, and runs the retention job once a
/// day (the first time a minute after start-up).
fn spawn_trace_maintenance(state: AppState) {
    let sealer = state.clone();
    tokio::spawn(async move {
        let mut tick =
            tokio::time::interval(Duration::from_secs(sealer.settings.seal_every_seconds));
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = crate::traces::seal::seal_all(&sealer).await {
                tracing::error!(error = %e, "trace streams could not be sealed");
            }
        }
    });
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(60)).await;
        let mut tick = tokio::time::interval(Duration::from_secs(24 * 3600));
        loop {
            tick.tick().await;
            let s = &state.settings;
            match crate::retention::run_all(&state, &s.retention, s.trace_retention_months, now())
                .await
            {
                Ok(r) => tracing::info!(
                    attestations = r.attestations.len(),
                    erased_accounts = r.erased_accounts,
                    "retention job done"
                ),
                Err(e) => tracing::error!(error = %e, "retention job failed"),
            }
        }
    });
}

/// Argon2's working memory goes back to the system when no password has been checked for a
/// while: at once when serving starts (provisioning is over), then once idle for a minute.
fn spawn_hash_memory_release(state: AppState) {
    const IDLE: Duration = Duration::from_secs(60);
    tokio::spawn(async move {
        let mut idle = Duration::ZERO;
        loop {
            let released = state.hasher.release_idle_memory(idle);
            if released > 0 {
                tracing::debug!(bytes = released, "password hashing memory released");
            }
            idle = IDLE;
            tokio::time::sleep(IDLE / 2).await;
        }
    });
}

fn spawn_key_reloader(state: AppState, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = state.keys.reload(state.stores.keys.as_ref(), now()).await {
                tracing::error!(error = %e, "signing keys could not be reloaded; keeping the previous set");
            }
        }
    });
}

/// What the operators' listener serves: metrics (which must stay off the public side, since
/// even counts say something of the traffic) and the health probes.
pub fn management_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// The whole public HTTP surface (the health probes too, for load balancers; metrics only on
/// the management listener).
pub fn router(state: AppState) -> Router {
    let secure = state.settings.secure_cookies;
    let proxies = state.settings.trusted_proxies.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(crate::api::router())
        .merge(crate::oidc::router())
        .merge(crate::web::router())
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), observe))
        .with_state(state)
        .layer(axum::middleware::from_fn(drain_unexpected_body))
        .layer(axum::middleware::from_fn(move |req, next| {
            crate::web::security_headers(secure, req, next)
        }))
        // Behind trusted proxies, every handler sees the client's address.
        .layer(axum::middleware::map_request(
            move |mut request: Request<axum::body::Body>| {
                let proxies = proxies.clone();
                async move {
                    if !proxies.is_empty()
                        && let Some(axum::extract::ConnectInfo(peer)) = request
                            .extensions()
                            .get::<axum::extract::ConnectInfo<SocketAddr>>()
                            .copied()
                    {
                        let forwarded = request
                            .headers()
                            .get("x-forwarded-for")
                            .and_then(|v| v.to_str().ok());
                        let client = proxies.client(peer, forwarded);
                        request
                            .extensions_mut()
                            .insert(axum::extract::ConnectInfo(client));
                    }
                    request
                }
            },
        ))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let request_id = request
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default();
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %request_id)
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

/// Ready when every store answers: the durable store, the trace store, the ephemeral store.
async fn readyz(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    let probe = crate::types::AccountId::from_stored("readiness-probe".into());
    let durable = state.stores.accounts.get_account(&probe).await.is_ok();
    let traces = state.tracer.store().streams().await.is_ok();
    let sid = crate::types::SessionId::parse("readinessprobe00000000").ok();
    let ephemeral = match sid {
        Some(sid) => state.stores.sessions.get_session(&sid).await.is_ok(),
        None => false,
    };
    let ready = durable && traces && ephemeral;
    let status = if ready {
        axum::http::StatusCode::OK
    } else {
        axum::http::StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        axum::Json(serde_json::json!({
            "status": if ready { "ready" } else { "unavailable" },
            "checks": { "durable_store": durable, "trace_store": traces, "ephemeral_store": ephemeral },
        })),
    )
        .into_response()
}

/// The Prometheus text exposition. Meant for the operators' scraper: keep it off the public
/// side of the reverse proxy (it says how many, never who).
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    state.metrics.traces_lost.set(state.tracer.lost());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// What a request without a use for its body may still send and have drained.
const DRAINED_BODY_LIMIT: usize = 1 << 20;

/// GET, HEAD, DELETE and OPTIONS take no body here. One that comes with a body anyway is read
/// and dropped before the handler runs (up to 1 MiB; beyond, 413): a server that answers and
/// closes with unread bytes makes the kernel reset the connection, and the client loses the
/// end of a long answer.
async fn drain_unexpected_body(
    request: Request<axum::body::Body>,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{Method, header};
    let bodiless = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::DELETE | Method::OPTIONS
    );
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let carries_body = declared.is_some_and(|n| n > 0)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if !bodiless || !carries_body {
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let too_large = || {
        (
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            [(header::CONNECTION, "close")],
            "Cette requête ne prend pas de corps.",
        )
            .into_response()
    };
    if declared.is_some_and(|n| n > DRAINED_BODY_LIMIT as u64) {
        return too_large();
    }
    match axum::body::to_bytes(body, DRAINED_BODY_LIMIT).await {
        Ok(_) => {
            next.run(Request::from_parts(parts, axum::body::Body::empty()))
                .await
        }
        Err(_) => too_large(),
    }
}

/// Observes each request's latency under its route template.
async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .request_seconds
        .get_or_create(&crate::metrics::RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
