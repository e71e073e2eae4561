//! Production set-ups without a single point of failure: PostgreSQL reached over TLS only,
//! Redis behind Sentinel (the replicas behind a load balancer: `load_balancer.rs`).

use crate::helpers::*;
use crate::servers::{Pki, Postgres, RedisHa};
use passerelle::config::PgTlsConfig;
use serde_json::Value;
use std::time::{Duration, Instant};

/// The role `app` exists and belongs to `passerelle_app` before the migrations run (they only
/// create `passerelle_app` when it is missing), so that the replica can log in as `app`.
fn database_for_app(pg: &Postgres, db: &str) {
    pg.psql(
        "postgres",
        "CREATE ROLE passerelle_app NOLOGIN; CREATE ROLE app LOGIN; GRANT passerelle_app TO app",
    );
    pg.database(db);
}

fn verify_full(pki: &Pki) -> PgTlsConfig {
    PgTlsConfig {
        sslmode: "verify-full".into(),
        root_cert: pki.ca().display().to_string(),
        client_cert: pki.client_cert().display().to_string(),
        client_key: pki.client_key().display().to_string(),
    }
}

#[tokio::test]
async fn postgresql_over_tls_with_verify_full_and_a_client_certificate() {
    let pki = Pki::generate();
    let pg = Postgres::start_tls(&pki);
    database_for_app(&pg, "tls");
    let port = pg.port;
    let tls = verify_full(&pki);
    let app = TestApp::spawn_with(move |c| {
        c.store.url = format!("postgres://app@localhost:{port}/tls");
        c.store.migration_url = format!("postgres://postgres@localhost:{port}/tls");
        c.store.tls = tls;
        c.secrets.kek = TEST_KEK.into();
    })
    .await;
    app.assert_logs_in(CLAIRE, PASSWORD).await;
    // Every connection of the role `app` is encrypted and authenticated by its certificate.
    let seen = pg.psql(
        "postgres",
        "SELECT count(*) FILTER (WHERE s.ssl AND s.client_dn = '/CN=app'), count(*) \
         FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid) WHERE a.usename = 'app'",
    );
    let (tls_ones, all) = seen.trim().split_once('|').unwrap();
    assert!(
        all.parse::<u32>().unwrap() > 0,
        "the replica holds connections"
    );
    assert_eq!(tls_ones, all, "every connection of app uses TLS: {seen}");
}

/// What an operator sees when the TLS settings do not fit the server: one line, no start.
#[tokio::test]
async fn a_wrong_authority_or_no_tls_stops_passerelle_with_one_line() {
    let pki = Pki::generate();
    let pg = Postgres::start_tls(&pki);
    database_for_app(&pg, "tls");
    let other = Pki::generate();
    let url = format!("postgres://postgres@localhost:{}/tls", pg.port);
    for (mode, ca, expected) in [
        ("disable", None, "cannot connect to PostgreSQL at"),
        (
            "verify-full",
            Some(other.ca()),
            "cannot connect to PostgreSQL at",
        ),
    ] {
        let mut env = vec![
            ("PASSERELLE__STORE__URL", url.clone()),
            ("PASSERELLE__SECRETS__KEK", TEST_KEK.to_owned()),
            ("PASSERELLE__STORE__TLS__SSLMODE", mode.to_owned()),
        ];
        if let Some(ca) = &ca {
            env.push((
                "PASSERELLE__STORE__TLS__ROOT_CERT",
                ca.display().to_string(),
            ));
        }
        let err = refused_start(&env);
        assert!(err.contains(expected), "{mode}: {err}");
        let why = if ca.is_some() {
            "certificate"
        } else {
            "no encryption"
        };
        assert!(err.contains(why), "{mode}: the line says why: {err}");
    }
    // verify-full without an authority is refused by the configuration itself.
    let err = refused_start(&[
        ("PASSERELLE__STORE__URL", url),
        ("PASSERELLE__STORE__TLS__SSLMODE", "verify-full".to_owned()),
    ]);
    assert!(err.contains("store.tls.root_cert"), "{err}");
}

/// Every write waits for the replica (`sessions.wait_replicas = 1`), and the primary is killed
/// (SIGKILL) right after the last answer: the sentinels promote the replica, Passerelle
/// follows by itself, and the session, the access token, the unused code and the refresh token
/// written before are all there. Meanwhile requests get 503 `temporarily_unavailable` and
/// nothing else.
#[tokio::test]
async fn sessions_codes_and_tokens_survive_a_sentinel_failover() {
    let mut ha = RedisHa::start();
    let url = ha.url();
    let app = TestApp::spawn_with(move |c| {
        c.sessions.url = url;
        c.sessions.wait_replicas = 1;
    })
    .await;
    let browser = browser();
    let tokens = app.tokens(&browser).await;
    let silent = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    let code = redirect_params(&silent, DEMO_REDIRECT)["code"].clone();

    let killed = Instant::now();
    ha.kill(ha.primary);
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let mut refused = 0;
    let refreshed: Value = loop {
        let response = app
            .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
            .await;
        if response.status() == 200 {
            break response.json().await.unwrap();
        }
        assert_oauth_error(response, 503, "temporarily_unavailable").await;
        refused += 1;
        assert!(
            killed.elapsed() < Duration::from_secs(60),
            "no new primary served within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!(
        "Sentinel failover seen by a client: {:.1} s, {refused} refresh requests refused (503) meanwhile",
        killed.elapsed().as_secs_f64()
    );
    assert!(
        ha.replicas
            .iter()
            .any(|&r| ha.cli(r, &["ROLE"]).starts_with("master")),
        "a replica was promoted"
    );
    assert_eq!(app.exchange(&code).await.status(), 200, "the unused code");
    let old_access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(old_access).await.status(), 200);
    let new_access = refreshed["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(new_access).await.status(), 200);
    let again = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(
        redirect_params(&again, DEMO_REDIRECT).contains_key("code"),
        "the session is still open"
    );
    app.assert_logs_in(CLAIRE, PASSWORD).await;
}

/// A sentinel URL that cannot work stops Passerelle with one line naming what is wrong, no
/// password in it.
#[tokio::test]
async fn a_sentinel_url_without_a_monitored_name_or_sentinels_stops_passerelle_with_one_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (url, expected) in [
        (
            format!("redis-sentinel://:secret-password@127.0.0.1:{closed}/"),
            "must name the monitored primary".to_owned(),
        ),
        (
            format!("redis-sentinel://:secret-password@127.0.0.1:{closed}/caf"),
            format!(
                "cannot reach the Redis primary through Sentinel at redis-sentinel://:***@127.0.0.1:{closed}/caf"
            ),
        ),
    ] {
        let err = refused_start(&[("PASSERELLE__SESSIONS__URL", url)]);
        assert!(err.contains(&expected), "{err}");
        assert!(!err.contains("secret-password"), "no password in messages");
    }
}

/// With `sessions.wait_replicas` and no replica left to acknowledge, nothing is acknowledged: a
/// grant and a login are refused with 503.
#[tokio::test]
async fn a_write_no_replica_acknowledges_is_refused_with_503() {
    let mut ha = RedisHa::start();
    let url = ha.url();
    let app = TestApp::spawn_with(move |c| {
        c.sessions.url = url;
        c.sessions.wait_replicas = 2;
        c.sessions.wait_timeout_ms = 200;
    })
    .await;
    app.assert_logs_in(CLAIRE, PASSWORD).await;
    ha.kill(ha.replicas[1]);
    let grant = app.token(&[("grant_type", "client_credentials")]).await;
    assert_oauth_error(grant, 503, "temporarily_unavailable").await;
    // The authorization request is not acknowledged: the client hears of it (RFC 6749
    // 4.1.2.1), and no login page is shown.
    let page = browser().get(app.authorize_url(&[])).send().await.unwrap();
    let back = redirect_params(&page, DEMO_REDIRECT);
    assert_eq!(
        back.get("error").map(String::as_str),
        Some("temporarily_unavailable"),
        "{back:?}"
    );
}
