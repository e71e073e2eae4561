//! Sessions left idle end (`sessions.idle_timeout_seconds`, 30 minutes by default) beside their
//! absolute lifetime; a relying application's refreshes are activity; a service may ask for a
//! shorter idle limit. Time is moved with the test clock, never waited for.

use crate::helpers::*;

const MINUTE: i64 = 60;

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.token(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .await
}

/// Whether `browser` is still signed in: `/compte` shows the account instead of sending it
/// to the login page.
async fn signed_in(app: &TestApp, browser: &reqwest::Client) -> bool {
    let page = visit(browser, &app.url("/compte")).await;
    page.status() == 200
}

#[tokio::test]
async fn a_session_left_idle_ends_and_its_pages_say_when() {
    let app = TestApp::spawn().await;
    let browser = browser();
    app.code_for(&browser, &[]).await;
    let page = visit(&browser, &app.url("/compte"))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("après 30 minutes sans activité"),
        "the account page says the idle limit"
    );
    assert!(page.contains("Dernière activité"));

    // Activity every 20 minutes keeps it open well past 30 minutes after the login.
    for _ in 0..3 {
        app.state.clock.advance(20 * MINUTE);
        assert!(signed_in(&app, &browser).await);
    }
    // 31 minutes without anything: it is over, and the ending is traced as such.
    app.state.clock.advance(31 * MINUTE);
    assert!(!signed_in(&app, &browser).await);
    let account = app.account(CLAIRE).await;
    assert!(
        app.state
            .stores
            .sessions
            .sessions_of_account(&account.id)
            .await
            .unwrap()
            .is_empty(),
        "the idle session is removed"
    );
    app.own_trace(|t| t.action == "auth.session_idle").await;
    // A new login opens a new session.
    app.code_for(&browser, &[]).await;
    assert!(signed_in(&app, &browser).await);
}

#[tokio::test]
async fn the_console_says_when_its_session_ends_and_each_page_pushes_it_back() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    let officer = crate::requests::signed_in(&app, "habilitations@caf79.example").await;
    let end_of = |page: &str| {
        page.split("fin de session à ")
            .nth(1)
            .and_then(|rest| rest.get(..5))
            .map(str::to_owned)
            .expect("the banner says when the session ends")
    };
    let first = end_of(&crate::requests::page(&app, &officer, "/console").await);
    let in_half_an_hour = passerelle::labels::paris_time(app.state.clock.now() + 30 * MINUTE);
    assert_eq!(first, in_half_an_hour);
    app.state.clock.advance(10 * MINUTE);
    let later = end_of(&crate::requests::page(&app, &officer, "/console").await);
    assert_eq!(
        later,
        passerelle::labels::paris_time(app.state.clock.now() + 30 * MINUTE)
    );
    assert_ne!(first, later);
}

#[tokio::test]
async fn refreshes_keep_a_session_active_and_an_unused_refresh_token_expires_with_it() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let mut tokens = app.tokens(&browser).await;
    // The application refreshes every 25 minutes while the person works in it: the session
    // stays open although no Passerelle page is seen.
    for _ in 0..3 {
        app.state.clock.advance(25 * MINUTE);
        let refreshed = refresh(&app, tokens["refresh_token"].as_str().unwrap()).await;
        assert_eq!(refreshed.status(), 200);
        tokens = refreshed.json().await.unwrap();
    }
    assert!(signed_in(&app, &browser).await);
    // Left unused past the idle limit, the refresh token no longer works.
    app.state.clock.advance(31 * MINUTE);
    assert_oauth_error(
        refresh(&app, tokens["refresh_token"].as_str().unwrap()).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(!signed_in(&app, &browser).await);
}

#[tokio::test]
async fn a_service_with_a_shorter_idle_limit_asks_for_the_password_again() {
    let app = TestApp::spawn().await;
    let secret = "idle-rp-secret-0123456789-0123456789-01";
    let callback = crate::browser::stand_in_client_with(
        &app,
        "idle-rp",
        secret,
        "session_idle_seconds = 300\n",
    )
    .await;
    let browser = browser();
    app.code_for(&browser, &[]).await;
    let to_idle_rp = app.authorize_url(&[("client_id", "idle-rp"), ("redirect_uri", &callback)]);
    // Within 5 minutes, the session serves the service without a password.
    app.state.clock.advance(4 * MINUTE);
    let served = visit(&browser, &to_idle_rp).await;
    assert!(redirect_params(&served, &callback).contains_key("code"));
    // 6 minutes later: the service asks for the password again, the demo client does not.
    app.state.clock.advance(6 * MINUTE);
    let asked = visit(&browser, &to_idle_rp).await;
    assert!(
        location(&asked).starts_with("/login"),
        "sent to the login page: {}",
        location(&asked)
    );
    let demo = visit(&browser, &app.authorize_url(&[])).await;
    assert!(redirect_params(&demo, DEMO_REDIRECT).contains_key("code"));
    // Its refresh tokens expire after 5 minutes unused.
    let response = app
        .login(&crate::helpers::browser(), &to_idle_rp, CLAIRE, PASSWORD)
        .await;
    let code = redirect_params(&response, &callback)["code"].clone();
    let tokens: serde_json::Value = app
        .exchange_as("idle-rp", secret, code.as_str(), callback.as_str())
        .await
        .json()
        .await
        .unwrap();
    app.state.clock.advance(6 * MINUTE);
    let refused = app
        .api
        .post(app.url("/token"))
        .basic_auth("idle-rp", Some(secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(refused, 400, "invalid_grant").await;
}
