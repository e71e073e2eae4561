//! What conformant relying applications send and expect beyond the basic code flow: unknown
//! scopes ignored, offline_access, voluntary acr_values, userinfo errors in JSON, logout
//! redirects without state, form_post responses.

use crate::helpers::*;

/// Logs Claire in from `browser` with `extra` authorization parameters; the token response.
async fn tokens_with(
    app: &TestApp,
    browser: &reqwest::Client,
    extra: &[(&str, &str)],
) -> serde_json::Value {
    let code = app.code_for(browser, extra).await;
    let response = app.exchange(&code).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    app.token(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .await
}

async fn logout(app: &TestApp, browser: &reqwest::Client, id_token: &str) {
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", DEMO_LOGOUT_REDIRECT);
    let response = browser.get(url.as_str()).send().await.unwrap();
    assert_eq!(location(&response), DEMO_LOGOUT_REDIRECT);
}

#[tokio::test]
async fn unknown_scopes_are_ignored_and_offline_access_outlives_the_session() {
    // Refresh tokens lasting longer than the session, so that only the session ends them.
    let app = TestApp::spawn_with(|c| c.tokens.refresh_token_lifetime_seconds = 86_400).await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["scopes_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "offline_access")
    );

    // phone and address are not offered: ignored, and left out of the granted scope.
    let online_browser = browser();
    let online = tokens_with(
        &app,
        &online_browser,
        &[("scope", "openid profile phone address")],
    )
    .await;
    assert_eq!(online["scope"], "openid profile");
    let offline_browser = browser();
    let offline = tokens_with(
        &app,
        &offline_browser,
        &[("scope", "openid email offline_access phone")],
    )
    .await;
    assert_eq!(offline["scope"], "email offline_access openid");
    let userinfo: serde_json::Value = app
        .userinfo(offline["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["email"], CLAIRE);

    // Logging out revokes the online grant, not the offline one.
    logout(
        &app,
        &offline_browser,
        offline["id_token"].as_str().unwrap(),
    )
    .await;
    let after_logout = refresh(&app, offline["refresh_token"].as_str().unwrap()).await;
    assert_eq!(after_logout.status(), 200);
    let after_logout: serde_json::Value = after_logout.json().await.unwrap();
    assert_eq!(after_logout["scope"], "email offline_access openid");

    // Past the session's lifetime (8 h), the online refresh token (24 h) ends with the
    // session; the offline one lasts its own lifetime (30 days).
    app.state.clock.advance(8 * 3600 + 1);
    let online_late = refresh(&app, online["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(online_late, 400, "invalid_grant").await;
    let offline_late = refresh(&app, after_logout["refresh_token"].as_str().unwrap()).await;
    assert_eq!(offline_late.status(), 200);
    let offline_late: serde_json::Value = offline_late.json().await.unwrap();
    app.state.clock.advance(30 * 86_400);
    let expired = refresh(&app, offline_late["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(expired, 400, "invalid_grant").await;
}

#[tokio::test]
async fn acr_values_are_preferences_and_a_password_meets_the_first() {
    let app = TestApp::spawn().await;
    let browser = browser();
    // Claire has no second factor: a list that starts with the password gives a code at once.
    let preferred = [(
        "acr_values",
        "urn:passerelle:acr:pwd urn:passerelle:acr:mfa",
    )];
    let tokens = tokens_with(&app, &browser, &preferred).await;
    assert_eq!(
        crate::mfa::id_token_claims(&tokens)["acr"],
        "urn:passerelle:acr:pwd"
    );
    // The factor first, but none enrolled: the password, second in the list, meets it, and
    // the session is reused without a page.
    let factor_first = browser
        .get(app.authorize_url(&[(
            "acr_values",
            "urn:passerelle:acr:mfa urn:passerelle:acr:pwd",
        )]))
        .send()
        .await
        .unwrap();
    assert!(redirect_params(&factor_first, DEMO_REDIRECT).contains_key("code"));
    // The factor alone still asks for it (here: its enrolment).
    let alone = browser
        .get(app.authorize_url(&[("acr_values", "urn:passerelle:acr:mfa")]))
        .send()
        .await
        .unwrap();
    assert!(location(&alone).starts_with("/compte/double-authentification?request="));
}

#[tokio::test]
async fn form_post_answers_with_a_page_whose_form_carries_the_code_or_the_error() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["response_modes_supported"],
        serde_json::json!(["query", "form_post"])
    );
    // An error (no session for prompt=none) goes back by the same page.
    let silent = browser()
        .get(app.authorize_url(&[("response_mode", "form_post"), ("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(silent.status(), 200);
    let html = silent.text().await.unwrap();
    assert!(
        html.contains(&format!("action=\"{DEMO_REDIRECT}\"")),
        "{html}"
    );
    assert_eq!(hidden(&html, "error").as_deref(), Some("login_required"));
    assert_eq!(hidden(&html, "state").as_deref(), Some("state-123"));

    let browser = browser();
    let response = app
        .login(
            &browser,
            &app.authorize_url(&[("response_mode", "form_post")]),
            CLAIRE,
            PASSWORD,
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let html = response.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\""));
    assert!(html.contains("<button type=\"submit\">Continuer vers l'application</button>"));
    assert!(html.contains("src=\"/static/form-post.js\""));
    assert_eq!(hidden(&html, "iss").as_deref(), Some(app.address.as_str()));
    let code = hidden(&html, "code").expect("the code in the form");
    assert_eq!(app.exchange(&code).await.status(), 200);
    // A mode the code flow does not have is refused in the query.
    let fragment = browser
        .get(app.authorize_url(&[("response_mode", "fragment")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&fragment, DEMO_REDIRECT)["error"],
        "invalid_request"
    );
}

#[tokio::test]
async fn chromium_posts_the_form_post_response_to_the_application_by_itself() {
    use crate::browser::*;
    let app = TestApp::spawn().await;
    let secret = "form-post-rp-secret-0123456789-0123456789";
    let callback = stand_in_client(&app, "form-post-rp", secret).await;
    let authorize = app.authorize_url(&[
        ("client_id", "form-post-rp"),
        ("redirect_uri", &callback),
        ("response_mode", "form_post"),
    ]);
    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&authorize).await.unwrap();
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    // The page's script submits the form: the application receives a POST.
    wait_until_on(&c, &callback).await;
    let posted = text_of(&c, "body").await;
    let form = posted
        .strip_prefix("posted: ")
        .expect("a POST to the callback");
    let fields: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(form.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(fields["state"], "state-123");
    assert_eq!(fields["iss"], app.address);
    let token = app
        .api
        .post(app.url("/token"))
        .basic_auth("form-post-rp", Some(secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", fields["code"].as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(token.status(), 200);
    c.close().await.unwrap();
}

#[tokio::test]
async fn the_claims_parameter_adds_named_claims_and_can_require_a_second_factor() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["claims_parameter_supported"], true);
    let browser = browser();
    let claims = r#"{"id_token": {"email": null, "phone_number": null},
        "userinfo": {"name": null, "habilitations": {"essential": true}}}"#;
    let tokens = tokens_with(&app, &browser, &[("scope", "openid"), ("claims", claims)]).await;
    let id_token = crate::mfa::id_token_claims(&tokens);
    assert_eq!(id_token["email"], CLAIRE);
    assert!(id_token.get("name").is_none(), "{id_token}");
    let userinfo: serde_json::Value = app
        .userinfo(tokens["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(userinfo["name"], "Claire Dubois");
    assert!(userinfo["habilitations"].is_array(), "{userinfo}");
    assert!(userinfo.get("email").is_none(), "{userinfo}");
    // A refresh keeps what was asked for.
    let refreshed: serde_json::Value = refresh(&app, tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(crate::mfa::id_token_claims(&refreshed)["email"], CLAIRE);

    // An essential acr the password does not meet: the second factor is required.
    let essential =
        r#"{"id_token": {"acr": {"essential": true, "values": ["urn:passerelle:acr:mfa"]}}}"#;
    let silent = browser
        .get(app.authorize_url(&[("claims", essential), ("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "interaction_required"
    );
    let asked = browser
        .get(app.authorize_url(&[("claims", essential)]))
        .send()
        .await
        .unwrap();
    assert!(location(&asked).starts_with("/compte/double-authentification?request="));
    // An essential acr Passerelle has not, and a claims parameter that is not JSON.
    let unknown = r#"{"id_token": {"acr": {"essential": true, "value": "urn:other:loa:4"}}}"#;
    for (claims, error) in [
        (unknown, "unmet_authentication_requirements"),
        ("{not json", "invalid_request"),
    ] {
        let response = browser
            .get(app.authorize_url(&[("claims", claims)]))
            .send()
            .await
            .unwrap();
        assert_eq!(redirect_params(&response, DEMO_REDIRECT)["error"], error);
    }
}
