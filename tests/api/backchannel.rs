//! Back-channel logout received by a test relying application: when an administrator
//! suspends a person's habilitation, and when the person logs out of another application in
//! the same session.

use crate::helpers::*;
use axum::extract::State;
use axum::routing::post;
use reqwest::Method;
use std::collections::HashMap;
use tokio::sync::mpsc;

const RP_ID: &str = "bcl-rp";
const RP_SECRET: &str = "bcl-rp-secret-0123456789-0123456789-xyz";
const RP_REDIRECT: &str = "https://bcl-rp.example/cb";
const NATIONAL: &str = "exploitation@cnaf.example";

/// A relying application's back-channel endpoint: every form it receives goes to the channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<HashMap<String, String>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new()
        .route(
            "/backchannel",
            post(
                |State(tx): State<mpsc::UnboundedSender<HashMap<String, String>>>,
                 axum::Form(form): axum::Form<HashMap<String, String>>| async move {
                    tx.send(form).unwrap();
                    "ok"
                },
            ),
        )
        .with_state(tx);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/backchannel"), rx)
}

async fn next_logout_token(
    app: &TestApp,
    rx: &mut mpsc::UnboundedReceiver<HashMap<String, String>>,
) -> serde_json::Value {
    let form = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
        .await
        .expect("a logout token within 10 s")
        .unwrap();
    let token = &form["logout_token"];
    let header: serde_json::Value = serde_json::from_slice(&crate::code_flow::base64_decode(
        token.split('.').next().unwrap(),
    ))
    .unwrap();
    assert_eq!(header["typ"], "logout+jwt");
    app.state
        .keys
        .verify_compact(token)
        .expect("the logout token verifies against the JWKS")
}

/// Logs Claire in to the back-channel client; returns the ID token's claims.
async fn log_in_to_rp(app: &TestApp, browser: &reqwest::Client) -> serde_json::Value {
    let url = app.authorize_url(&[("client_id", RP_ID), ("redirect_uri", RP_REDIRECT)]);
    let response = match browser.get(&url).send().await.unwrap() {
        r if r.status() == 303 && location(&r).starts_with("/login") => {
            app.submit_login(browser, &location(&r), CLAIRE, PASSWORD)
                .await
        }
        r => r,
    };
    let code = redirect_params(&response, RP_REDIRECT)["code"].clone();
    let tokens: serde_json::Value = app
        .exchange_as(RP_ID, RP_SECRET, &code, RP_REDIRECT)
        .await
        .json()
        .await
        .unwrap();
    let id_token = tokens["id_token"].as_str().expect("an ID token");
    app.state.keys.verify_compact(id_token).unwrap()
}

async fn spawn_with_rp(uri: &str) -> TestApp {
    let app = TestApp::spawn().await;
    let text = format!(
        r#"
[[service]]
client_id = "{RP_ID}"
name = "Application avec déconnexion back-channel"
type = "confidential"
secret = "{RP_SECRET}"
redirect_uris = ["{RP_REDIRECT}"]
backchannel_logout_uri = "{uri}"
roles = [{{ code = "agent", label = "Agent" }}]

[[convention]]
id = "bcl-27"
number = "BCL-027"
kind = "cooperation"
partner = "cc-roumois-seine"
services = ["{RP_ID}"]
starts_on = "2024-01-01"
quotas = [{{ service = "{RP_ID}", role = "agent", maximum = 50 }}]
"#
    );
    let file = passerelle::provision::parse(&text, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, false)
        .await
        .unwrap();
    app.grant(CLAIRE, RP_ID, "agent").await;
    app
}

#[tokio::test]
async fn suspending_a_habilitation_sends_a_logout_token_to_the_relying_application() {
    let (uri, mut rx) = receiver().await;
    let app = spawn_with_rp(&uri).await;
    let browser = browser();
    let id_token = log_in_to_rp(&app, &browser).await;

    let claire = app.account(CLAIRE).await;
    let habilitation = app
        .state
        .stores
        .habilitations
        .habilitations_of_account(&claire.id)
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.client_id.as_str() == RP_ID)
        .unwrap();
    let token = app.api_token(NATIONAL).await;
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v1/habilitations/{}/status", habilitation.id),
            &token,
            Some(serde_json::json!({ "change": "suspend", "reason": "Départ en congé long" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let logout = next_logout_token(&app, &mut rx).await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["backchannel_logout_supported"], true);
    assert_eq!(logout["iss"], app.issuer);
    assert_eq!(logout["aud"], RP_ID);
    assert_eq!(logout["sub"], claire.id.as_str());
    assert_eq!(logout["sid"], id_token["sid"]);
    assert!(logout["events"][passerelle::oidc::backchannel::LOGOUT_EVENT].is_object());
    assert!(logout.get("nonce").is_none(), "a logout token has no nonce");
    assert!(logout["jti"].as_str().is_some_and(|j| !j.is_empty()));
}

#[tokio::test]
async fn logging_out_of_one_application_tells_the_others_of_the_session() {
    let (uri, mut rx) = receiver().await;
    let app = spawn_with_rp(&uri).await;
    let browser = browser();
    let id_token = log_in_to_rp(&app, &browser).await;
    // The same session then logs in to the demo application, and logs out from there.
    let response = browser.get(app.authorize_url(&[])).send().await.unwrap();
    let code = redirect_params(&response, DEMO_REDIRECT)["code"].clone();
    let demo: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", demo["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", DEMO_LOGOUT_REDIRECT);
    let response = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 303);

    let logout = next_logout_token(&app, &mut rx).await;
    assert_eq!(logout["aud"], RP_ID);
    assert_eq!(logout["sid"], id_token["sid"]);
}
