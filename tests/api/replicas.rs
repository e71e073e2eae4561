//! Several replicas on PostgreSQL + Redis, and what happens when either goes away.
//!
//! Replica A runs inside the test (TestApp, which provisions the demo data); replica B is the
//! real binary in its own process, configured only through the environment, sharing nothing
//! with A but the two servers.

use crate::helpers::*;
use crate::servers::{Postgres, Redis};
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");
/// Both replicas answer for one issuer, as behind a load balancer.
const ISSUER: &str = "http://127.0.0.1";

struct Servers {
    redis: Redis,
    pg: Postgres,
    db: String,
}

impl Servers {
    fn start(db: &str) -> Self {
        let redis = Redis::start();
        let pg = Postgres::start();
        pg.database(db);
        Self {
            redis,
            pg,
            db: db.into(),
        }
    }

    fn pg_url(&self) -> String {
        self.pg.url(&self.db)
    }
}

async fn replica_a(servers: &Servers) -> TestApp {
    let (pg, redis) = (servers.pg_url(), servers.redis.url());
    TestApp::spawn_with(move |c| {
        c.store.url = pg;
        c.secrets.kek = TEST_KEK.into();
        c.sessions.url = redis;
        c.server.issuer = ISSUER.into();
    })
    .await
}

/// The real binary as a second replica; killed on drop.
struct ReplicaB {
    child: Child,
    address: String,
    _dir: tempfile::TempDir,
}

impl Drop for ReplicaB {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ReplicaB {
    async fn start(servers: &Servers) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(BIN)
            .arg("serve")
            .current_dir(dir.path())
            .env("PASSERELLE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("PASSERELLE__SERVER__MANAGEMENT_LISTEN", "127.0.0.1:0")
            .env("PASSERELLE__SERVER__ISSUER", ISSUER)
            .env("PASSERELLE__SERVER__DATA_DIR", dir.path())
            .env("PASSERELLE__STORE__URL", servers.pg_url())
            .env("PASSERELLE__SECRETS__KEK", TEST_KEK)
            .env("PASSERELLE__SESSIONS__URL", servers.redis.url())
            .env("PASSERELLE__PASSWORD_HASHING__MEMORY_KIB", "256")
            .env("PASSERELLE__PASSWORD_HASHING__ITERATIONS", "1")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let b = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = reqwest::get(format!("{}/readyz", b.address)).await;
            if ready.is_ok_and(|r| r.status() == 200) {
                break b;
            }
            assert!(
                Instant::now() < deadline,
                "replica B did not become ready: {}",
                std::fs::read_to_string(b._dir.path().join("stderr")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        reqwest::Client::new()
            .post(format!("{}/token", self.address))
            .basic_auth(DEMO_ID, Some(DEMO_SECRET))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// The demo client's `prompt=none` authorization request, sent to B by a browser.
    async fn silent_authorize(&self, a: &TestApp, browser: &reqwest::Client) -> reqwest::Response {
        let url = a
            .authorize_url(&[("prompt", "none")])
            .replace(&a.address, &self.address);
        browser.get(url).send().await.unwrap()
    }

    async fn userinfo(&self, access: &str) -> u16 {
        reqwest::Client::new()
            .get(format!("{}/userinfo", self.address))
            .bearer_auth(access)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }
}

#[tokio::test]
async fn a_login_on_one_replica_is_exchanged_refreshed_and_ended_on_the_other() {
    let servers = Servers::start("replicas");
    let a = replica_a(&servers).await;
    let b = ReplicaB::start(&servers).await;

    // Login on A; the code is exchanged on B, once.
    let browser = browser();
    let code = a.code_for(&browser, &[]).await;
    let exchanged = b
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_eq!(exchanged.status(), 200);
    let tokens: Value = exchanged.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap();
    assert_eq!(
        passerelle::crypto::b64url_decode(id_token.split('.').nth(1).unwrap())
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            .unwrap()["iss"],
        ISSUER
    );

    // Refresh on B, then the access tokens work on both.
    let refreshed = b
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await;
    let status = refreshed.status();
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(status, 200, "{refreshed}");
    let access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(b.userinfo(access).await, 200);
    assert_eq!(a.userinfo(access).await.status(), 200);
    // The session cookie set by A is good on B too: B issues a code without a login.
    let silent = b.silent_authorize(&a, &browser).await;
    assert!(redirect_params(&silent, DEMO_REDIRECT).contains_key("code"));

    // Logout on A ends the session and its grants everywhere.
    let mut url = url::Url::parse(&a.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", DEMO_LOGOUT_REDIRECT);
    let out = browser.get(url.as_str()).send().await.unwrap();
    assert!(location(&out).starts_with(DEMO_LOGOUT_REDIRECT));
    assert_eq!(b.userinfo(access).await, 401);
    let again = b
        .token(&[
            ("grant_type", "refresh_token"),
            (
                "refresh_token",
                refreshed["refresh_token"].as_str().unwrap(),
            ),
        ])
        .await;
    assert_oauth_error(again, 400, "invalid_grant").await;
    let silent = b.silent_authorize(&a, &browser).await;
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "login_required"
    );
    // The code B exchanged is spent for A too.
    assert_oauth_error(a.exchange(&code).await, 400, "invalid_grant").await;
}

async fn ready(app: &TestApp) -> u16 {
    app.api
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn logins_fail_cleanly_while_redis_restarts_and_recover_by_themselves() {
    let mut servers = Servers::start("redis_restart");
    let app = replica_a(&servers).await;
    let signed_in = browser();
    app.code_for(&signed_in, &[]).await;

    servers.redis.stop();
    let started = Instant::now();
    // The relying application hears `temporarily_unavailable` (it may retry)...
    let refused = browser().get(app.authorize_url(&[])).send().await.unwrap();
    assert_eq!(
        redirect_params(&refused, DEMO_REDIRECT)["error"],
        "temporarily_unavailable"
    );
    // ...and a person on a page reads that the service is momentarily unavailable.
    let page = signed_in.get(app.url("/")).send().await.unwrap();
    assert_eq!(page.status(), 503);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("momentanément indisponible")
    );
    // A hang guard, not a timing target: a store that does not answer must not hold a
    // request until the client gives up.
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "answered, not hung"
    );
    let token = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "traces:write"),
        ])
        .await;
    assert_oauth_error(token, 503, "temporarily_unavailable").await;
    assert_eq!(ready(&app).await, 503);

    servers.redis.resume();
    eventually("readiness after Redis is back", || async {
        ready(&app).await == 200
    })
    .await;
    app.assert_logs_in(CLAIRE, PASSWORD).await;
}

#[tokio::test]
async fn while_postgresql_is_away_requests_get_503_and_nothing_acknowledged_is_lost() {
    let mut servers = Servers::start("pg_outage");
    let app = replica_a(&servers).await;
    let rp = crate::traces::rp_token(&app).await;
    let sub = app.account(CLAIRE).await.id.as_str().to_owned();
    let submit = |ids: std::ops::Range<u32>| {
        let events: Vec<Value> = ids
            .map(|i| json!({ "id": format!("e{i}"), "sub": sub, "action": "dossier.consultation" }))
            .collect();
        app.api
            .post(app.url("/api/v1/traces"))
            .bearer_auth(&rp)
            .json(&json!({ "events": events }))
            .send()
    };
    assert_eq!(submit(0..100).await.unwrap().status(), 200);

    // The client is in the client cache now (`oidc::clients`, 5 seconds): right after the
    // stop, its grant can only be refused because its trace cannot be written.
    assert_eq!(
        app.token(&[("grant_type", "client_credentials")])
            .await
            .status(),
        200
    );
    servers.pg.stop();
    let refused = app.token(&[("grant_type", "client_credentials")]).await;
    assert_oauth_error(refused, 503, "temporarily_unavailable").await;
    assert_eq!(ready(&app).await, 503);
    // The authorization request may still be taken (the client is cached, the pending login
    // is in Redis); the login itself needs the accounts and is refused.
    let login = app.login_fresh(CLAIRE, PASSWORD).await;
    assert_eq!(login.status(), 503);
    let during = submit(100..200).await.unwrap().status().as_u16();
    assert!(
        during >= 500,
        "a batch is not acknowledged while its store is away"
    );

    servers.pg.resume();
    eventually("readiness after PostgreSQL is back", || async {
        ready(&app).await == 200
    })
    .await;
    assert_eq!(
        app.token(&[("grant_type", "client_credentials")])
            .await
            .status(),
        200
    );
    assert_eq!(submit(100..200).await.unwrap().status(), 200);
    let stored = servers.pg.psql(
        &servers.db,
        "SELECT count(*) FROM passerelle_traces.traces WHERE action = 'dossier.consultation'",
    );
    assert_eq!(
        stored.trim(),
        "200",
        "every acknowledged event is there, once"
    );
    app.assert_logs_in(CLAIRE, PASSWORD).await;
}

#[tokio::test]
async fn passerelle_refuses_to_start_with_one_line_when_redis_cannot_be_reached() {
    let closed = crate::servers::free_port();
    let err = refused_start(&[(
        "PASSERELLE__SESSIONS__URL",
        format!("redis://:secret-password@127.0.0.1:{closed}/"),
    )]);
    assert!(
        err.contains(&format!(
            "cannot reach Redis at redis://:***@127.0.0.1:{closed}/"
        )),
        "{err}"
    );
    assert!(!err.contains("secret-password"), "no password in messages");
}

/// Redis over TLS (`rediss://`): the server's certificate is trusted through the system's
/// store, here `SSL_CERT_FILE` as an operator would install the Caf's own authority.
#[tokio::test]
async fn sessions_reach_redis_over_tls() {
    install_tls_provider();
    let (redis, ca) = Redis::start_tls();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(BIN)
        .arg("serve")
        .current_dir(dir.path())
        .env("PASSERELLE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("PASSERELLE__SERVER__MANAGEMENT_LISTEN", "127.0.0.1:0")
        .env("PASSERELLE__SERVER__DATA_DIR", dir.path())
        .env(
            "PASSERELLE__SESSIONS__URL",
            format!("rediss://localhost:{}/", redis.port),
        )
        .env("SSL_CERT_FILE", dir.path().join("ca.pem"))
        .env("RUST_LOG", "off")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let ready = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await;
        if let Ok(r) = ready {
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["checks"]["ephemeral_store"], true, "{body}");
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut err = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("passerelle stopped ({status}): {err}");
        }
        assert!(Instant::now() < deadline, "passerelle did not answer");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}
