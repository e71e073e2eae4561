//! The authorization endpoint: what is shown as a page, what goes back to the client, and
//! how an existing session, prompt, max_age and id_token_hint are honoured.

use crate::helpers::*;

async fn page_error(app: &TestApp, url: &str, expected_text: &str) {
    let response = browser().get(url).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response.headers().get("location").is_none(),
        "must not redirect to an unvalidated client"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains(expected_text),
        "page should say {expected_text:?}: {html}"
    );
    let _ = app;
}

async fn client_error(
    app: &TestApp,
    extra: &[(&str, &str)],
    code: &str,
) -> std::collections::HashMap<String, String> {
    let response = browser()
        .get(app.authorize_url(extra))
        .send()
        .await
        .unwrap();
    let params = redirect_params(&response, DEMO_REDIRECT);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(code),
        "{params:?}"
    );
    assert_eq!(params.get("state").map(String::as_str), Some("state-123"));
    assert_eq!(params.get("iss"), Some(&app.issuer));
    params
}

#[tokio::test]
async fn unknown_client_and_unregistered_redirect_uri_are_shown_as_pages() {
    let app = TestApp::spawn().await;
    page_error(
        &app,
        &app.authorize_url(&[("client_id", "nobody")]),
        "n'est pas enregistrée",
    )
    .await;
    page_error(&app, &app.authorize_url(&[("client_id", "")]), "client_id").await;
    page_error(
        &app,
        &app.authorize_url(&[("redirect_uri", "http://127.0.0.1:9000/other")]),
        "adresse de retour",
    )
    .await;
    // Exact matching: a trailing slash or an extra query parameter is another URI.
    page_error(
        &app,
        &app.authorize_url(&[("redirect_uri", "http://127.0.0.1:9000/callback/")]),
        "adresse de retour",
    )
    .await;
    page_error(
        &app,
        &app.authorize_url(&[("redirect_uri", "http://127.0.0.1:9000/callback?x=1")]),
        "adresse de retour",
    )
    .await;
    page_error(
        &app,
        &app.authorize_url(&[("redirect_uri", "")]),
        "redirect_uri",
    )
    .await;
}

#[tokio::test]
async fn invalid_requests_go_back_to_the_client_with_the_rfc_error_code() {
    let app = TestApp::spawn().await;
    client_error(
        &app,
        &[("code_challenge", ""), ("code_challenge_method", "")],
        "invalid_request",
    )
    .await;
    let plain = client_error(
        &app,
        &[("code_challenge_method", "plain")],
        "invalid_request",
    )
    .await;
    assert!(plain["error_description"].contains("S256"));
    client_error(&app, &[("code_challenge_method", "")], "invalid_request").await;
    client_error(&app, &[("code_challenge", "short")], "invalid_request").await;
    client_error(
        &app,
        &[("response_type", "token")],
        "unsupported_response_type",
    )
    .await;
    client_error(&app, &[("response_type", "")], "invalid_request").await;
    client_error(&app, &[("scope", "admin phone")], "invalid_scope").await;
    client_error(&app, &[("scope", "")], "invalid_scope").await;
    client_error(&app, &[("prompt", "none login")], "invalid_request").await;
    client_error(&app, &[("max_age", "-3")], "invalid_request").await;
    client_error(
        &app,
        &[("request", "eyJhbGciOiJub25lIn0.e30.")],
        "invalid_request_object",
    )
    .await;
    client_error(&app, &[("response_mode", "fragment")], "invalid_request").await;
    client_error(&app, &[("id_token_hint", "not.a.token")], "invalid_request").await;
}

#[tokio::test]
async fn a_repeated_parameter_is_refused() {
    let app = TestApp::spawn().await;
    let url = format!("{}&client_id={DEMO_ID}", app.authorize_url(&[]));
    page_error(&app, &url, "repeated").await;
}

#[tokio::test]
async fn prompt_none_without_a_session_answers_login_required() {
    let app = TestApp::spawn().await;
    client_error(&app, &[("prompt", "none")], "login_required").await;
}

#[tokio::test]
async fn an_existing_session_is_reused_and_prompt_login_or_max_age_force_a_new_login() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let first_code = app.code_for(&browser, &[]).await;
    let tokens: serde_json::Value = app.exchange(&first_code).await.json().await.unwrap();
    let id_token = tokens["id_token"].as_str().unwrap().to_owned();

    // Same browser, prompt=none: a code without any page.
    let response = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(redirect_params(&response, DEMO_REDIRECT).contains_key("code"));
    // The id_token_hint of the same person is accepted silently.
    let response = browser
        .get(app.authorize_url(&[("prompt", "none"), ("id_token_hint", &id_token)]))
        .send()
        .await
        .unwrap();
    assert!(redirect_params(&response, DEMO_REDIRECT).contains_key("code"));

    for extra in [[("prompt", "login")], [("max_age", "0")]] {
        app.state.clock.advance(2);
        let response = browser.get(app.authorize_url(&extra)).send().await.unwrap();
        assert!(
            location(&response).starts_with("/login?request="),
            "{extra:?} must show the login page"
        );
    }

    // Another person's id_token_hint with prompt=none: the session does not match.
    let other = crate::helpers::browser();
    let response = app
        .login(&other, &app.authorize_url(&[]), SOPHIE, PASSWORD)
        .await;
    let code = redirect_params(&response, DEMO_REDIRECT)["code"].clone();
    let sophie: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    let hint = sophie["id_token"].as_str().unwrap();
    client_error_with(
        &app,
        &browser,
        &[("prompt", "none"), ("id_token_hint", hint)],
        "login_required",
    )
    .await;
}

async fn client_error_with(
    app: &TestApp,
    browser: &reqwest::Client,
    extra: &[(&str, &str)],
    code: &str,
) {
    let response = browser.get(app.authorize_url(extra)).send().await.unwrap();
    let params = redirect_params(&response, DEMO_REDIRECT);
    assert_eq!(
        params.get("error").map(String::as_str),
        Some(code),
        "{params:?}"
    );
}

#[tokio::test]
async fn the_authorization_endpoint_accepts_post_and_ignores_unknown_parameters() {
    let app = TestApp::spawn().await;
    let url = url::Url::parse(&app.authorize_url(&[
        ("display", "page"),
        ("ui_locales", "fr"),
        ("acr_values", "urn:passerelle:acr:pwd"),
        ("unknown_thing", "x"),
    ]))
    .unwrap();
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let response = browser()
        .post(app.url("/authorize"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/login?request="));
}

#[tokio::test]
async fn a_legacy_confidential_client_may_skip_pkce_and_keeps_its_registered_query() {
    let app = TestApp::spawn().await;
    let redirect = "https://legacy.example/cb?tenant=a";
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", "test-legacy")
        .append_pair("redirect_uri", redirect)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "s");
    let browser = browser();
    let response = app.login(&browser, url.as_str(), CLAIRE, PASSWORD).await;
    let params = redirect_params(&response, "https://legacy.example/cb?tenant=a&code=");
    assert_eq!(params["tenant"], "a");
    let response = app
        .api
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", redirect),
            ("client_id", "test-legacy"),
            ("client_secret", "legacy-secret-0123456789-0123456789-abc"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "client_secret_post works");
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh grant registered"
    );
}

#[tokio::test]
async fn a_public_client_must_use_pkce() {
    let app = TestApp::spawn().await;
    let url = app.authorize_url(&[
        ("client_id", "test-public"),
        ("redirect_uri", "http://127.0.0.1:9001/cb"),
        ("code_challenge", ""),
        ("code_challenge_method", ""),
    ]);
    let response = browser().get(url).send().await.unwrap();
    let params = redirect_params(&response, "http://127.0.0.1:9001/cb");
    assert_eq!(params["error"], "invalid_request");
}
