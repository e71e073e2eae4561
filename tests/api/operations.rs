//! Operations endpoints: readiness (every store answers) and Prometheus metrics that count
//! logins, grants, request latency and ingested traces.

use crate::helpers::*;

#[tokio::test]
async fn readiness_checks_every_store() {
    let app = TestApp::spawn().await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["checks"]["durable_store"], true);
    assert_eq!(ready["checks"]["trace_store"], true);
    assert_eq!(ready["checks"]["ephemeral_store"], true);
}

fn value_of(metrics: &str, line_prefix: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_prefix} in\n{metrics}"))
}

#[tokio::test]
async fn metrics_count_logins_grants_latency_and_traces() {
    let app = TestApp::spawn().await;
    app.login_fresh(CLAIRE, "wrong-password").await;
    app.tokens(&browser()).await;
    let token: serde_json::Value = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "traces:write"),
        ])
        .await
        .json()
        .await
        .unwrap();
    let claire = app.account(CLAIRE).await.id.to_string();
    let response = app
        .api
        .post(app.url("/api/v1/traces"))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .json(&serde_json::json!({ "events": [
            { "id": "m1", "sub": claire, "action": "dossier.consultation" },
            { "id": "m2", "sub": claire, "action": "dossier.consultation" },
        ] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let response = app
        .api
        .get(format!("{}/metrics", app.management))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let metrics = response.text().await.unwrap();
    assert_eq!(
        value_of(
            &metrics,
            "passerelle_logins_total{outcome=\"success\",reason=\"none\"}"
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &metrics,
            "passerelle_logins_total{outcome=\"failure\",reason=\"credentials\"}"
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &metrics,
            "passerelle_grants_total{grant_type=\"authorization_code\"}"
        ),
        1.0
    );
    assert_eq!(
        value_of(
            &metrics,
            "passerelle_grants_total{grant_type=\"client_credentials\"}"
        ),
        1.0
    );
    assert_eq!(value_of(&metrics, "passerelle_traces_ingested_total"), 2.0);
    assert!(
        value_of(
            &metrics,
            "passerelle_http_request_duration_seconds_count{method=\"POST\",route=\"/token\"}"
        ) >= 2.0
    );
    assert!(!metrics.contains(CLAIRE), "counters never say who");
}

/// The IP address the traces recorded for Claire's latest failed login.
async fn traced_ip(app: &TestApp, forwarded_for: &str) -> String {
    let browser = browser();
    let page = browser.get(app.url("/login")).send().await.unwrap();
    let html = page.text().await.unwrap();
    let csrf = hidden(&html, "csrf").unwrap();
    let response = browser
        .post(app.url("/login"))
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("csrf", csrf.as_str()),
            ("email", CLAIRE),
            ("password", "wrong"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let traced = app
        .own_trace(|t| t.action == "auth.login" && t.reason.as_deref() == Some("wrong_password"))
        .await;
    traced.trace.ip.unwrap()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_client_address_comes_from_x_forwarded_for() {
    let direct = TestApp::spawn().await;
    assert_eq!(
        traced_ip(&direct, "203.0.113.9").await,
        "127.0.0.1",
        "an untrusted peer's header is ignored"
    );
    let proxied =
        TestApp::spawn_with(|c| c.server.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    assert_eq!(
        traced_ip(&proxied, "198.51.100.1, 203.0.113.9").await,
        "203.0.113.9"
    );
}
