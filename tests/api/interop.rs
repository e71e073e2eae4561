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
    let response = visit(browser, url.as_str()).await;
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
    let factor_first = visit(
        &browser,
        &app.authorize_url(&[(
            "acr_values",
            "urn:passerelle:acr:mfa urn:passerelle:acr:pwd",
        )]),
    )
    .await;
    assert!(redirect_params(&factor_first, DEMO_REDIRECT).contains_key("code"));
    // The factor alone still asks for it (here: its enrolment).
    let alone = visit(
        &browser,
        &app.authorize_url(&[("acr_values", "urn:passerelle:acr:mfa")]),
    )
    .await;
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
    let silent = visit(
        &browser(),
        &app.authorize_url(&[("response_mode", "form_post"), ("prompt", "none")]),
    )
    .await;
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
    let fragment = visit(
        &browser,
        &app.authorize_url(&[("response_mode", "fragment")]),
    )
    .await;
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
        .exchange_as(
            "form-post-rp",
            secret,
            fields["code"].as_str(),
            callback.as_str(),
        )
        .await;
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
    let silent = visit(
        &browser,
        &app.authorize_url(&[("claims", essential), ("prompt", "none")]),
    )
    .await;
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "interaction_required"
    );
    let asked = visit(&browser, &app.authorize_url(&[("claims", essential)])).await;
    assert!(location(&asked).starts_with("/compte/double-authentification?request="));
    // An essential acr Passerelle has not, and a claims parameter that is not JSON.
    let unknown = r#"{"id_token": {"acr": {"essential": true, "value": "urn:other:loa:4"}}}"#;
    for (claims, error) in [
        (unknown, "unmet_authentication_requirements"),
        ("{not json", "invalid_request"),
    ] {
        let response = visit(&browser, &app.authorize_url(&[("claims", claims)])).await;
        assert_eq!(redirect_params(&response, DEMO_REDIRECT)["error"], error);
    }
}

/// Pushes the demo client's authorization parameters (`extra` added or, empty, removed) to
/// `/par` with its secret.
async fn push(app: &TestApp, extra: &[(&str, &str)]) -> reqwest::Response {
    let url = url::Url::parse(&app.authorize_url(extra)).unwrap();
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    app.api
        .post(app.url("/par"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&form)
        .send()
        .await
        .unwrap()
}

fn authorize_with(app: &TestApp, client_id: &str, request_uri: &str) -> String {
    let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("request_uri", request_uri);
    url.to_string()
}

#[tokio::test]
async fn a_pushed_request_is_validated_at_once_and_its_request_uri_serves_once() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(
        discovery["pushed_authorization_request_endpoint"],
        app.url("/par")
    );
    let pushed = push(&app, &[("state", "pushed-state")]).await;
    assert_eq!(pushed.status(), 201);
    assert_eq!(pushed.headers()["cache-control"], "no-store");
    let pushed: serde_json::Value = pushed.json().await.unwrap();
    assert_eq!(pushed["expires_in"], 90);
    let request_uri = pushed["request_uri"].as_str().unwrap().to_owned();
    assert!(request_uri.starts_with("urn:ietf:params:oauth:request_uri:"));

    // The URL carries client_id and request_uri only; what was pushed decides.
    let browser = browser();
    let response = app
        .login(
            &browser,
            &authorize_with(&app, DEMO_ID, &request_uri),
            CLAIRE,
            PASSWORD,
        )
        .await;
    let params = redirect_params(&response, DEMO_REDIRECT);
    assert_eq!(params["state"], "pushed-state");
    assert_eq!(app.exchange(&params["code"]).await.status(), 200);
    // Used once; another client's, or an expired one, is no better.
    for uri in [
        request_uri.clone(),
        "urn:ietf:params:oauth:request_uri:made-up".to_owned(),
    ] {
        let again = visit(&browser, &authorize_with(&app, DEMO_ID, &uri)).await;
        assert_eq!(again.status(), 400);
        assert!(
            again
                .text()
                .await
                .unwrap()
                .contains("a expiré ou a déjà servi")
        );
    }
    let other: serde_json::Value = push(&app, &[]).await.json().await.unwrap();
    let stolen = visit(
        &browser,
        &authorize_with(&app, "cooperation", other["request_uri"].as_str().unwrap()),
    )
    .await;
    assert_eq!(stolen.status(), 400);
    let late: serde_json::Value = push(&app, &[]).await.json().await.unwrap();
    app.state.clock.advance(91);
    let expired = visit(
        &browser,
        &authorize_with(&app, DEMO_ID, late["request_uri"].as_str().unwrap()),
    )
    .await;
    assert_eq!(expired.status(), 400);

    // Refused when pushed, as JSON errors.
    for (extra, status, error) in [
        (
            vec![("redirect_uri", "https://evil.example/cb")],
            400,
            "invalid_request",
        ),
        (
            vec![("code_challenge_method", "plain")],
            400,
            "invalid_request",
        ),
        (
            vec![("response_type", "token")],
            400,
            "unsupported_response_type",
        ),
        (vec![("request_uri", "urn:x")], 400, "invalid_request"),
    ] {
        assert_oauth_error(push(&app, &extra).await, status, error).await;
    }
    let unauthenticated = app
        .api
        .post(app.url("/par"))
        .basic_auth(DEMO_ID, Some("wrong-secret"))
        .form(&[("response_type", "code")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(unauthenticated, 401, "invalid_client").await;
}

#[tokio::test]
async fn a_client_registered_to_push_its_requests_may_not_send_them_in_the_url() {
    let app = TestApp::spawn().await;
    app.provision("[[service]]\nclient_id = \"pushing-rp\"\nname = \"RP\"\ntype = \"confidential\"\nsecret = \"pushing-rp-secret-0123456789-0123456789\"\nredirect_uris = [\"https://rp.example/cb\"]\nrequire_pushed_authorization_requests = true\nroles = [{ code = \"agent\", label = \"Agent\" }]\n").await;
    let direct = visit(
        &browser(),
        &app.authorize_url(&[
            ("client_id", "pushing-rp"),
            ("redirect_uri", "https://rp.example/cb"),
        ]),
    )
    .await;
    assert_eq!(direct.status(), 400);
    assert!(
        direct
            .text()
            .await
            .unwrap()
            .contains("doit d'abord déposer")
    );
    let bad = passerelle::provision::parse(
        "[[service]]\nclient_id = \"x\"\nname = \"X\"\ntype = \"public\"\nredirect_uris = [\"https://x.example/cb\"]\nrefresh_token_grace_seconds = 600\n",
        "test",
    );
    assert!(
        passerelle::provision::apply(&app.state, &bad.unwrap(), false)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn two_refreshes_at_once_within_the_grace_window_get_the_same_tokens() {
    let app = TestApp::spawn().await;
    let secret = "grace-rp-secret-0123456789-0123456789";
    let callback = crate::browser::stand_in_client_with(
        &app,
        "grace-rp",
        secret,
        "refresh_token_grace_seconds = 10\n",
    )
    .await;
    let browser = browser();
    let response = app
        .login(
            &browser,
            &app.authorize_url(&[("client_id", "grace-rp"), ("redirect_uri", &callback)]),
            CLAIRE,
            PASSWORD,
        )
        .await;
    let code = redirect_params(&response, &callback)["code"].clone();
    let post = |form: Vec<(&'static str, String)>| {
        app.api
            .post(app.url("/token"))
            .basic_auth("grace-rp", Some(secret))
            .form(&form)
            .send()
    };
    let tokens: serde_json::Value = post(vec![
        ("grant_type", "authorization_code".into()),
        ("code", code),
        ("redirect_uri", callback.clone()),
        ("code_verifier", VERIFIER.into()),
    ])
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let r1 = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_with = |token: String| {
        post(vec![
            ("grant_type", "refresh_token".into()),
            ("refresh_token", token),
        ])
    };

    // The two at once: both answered, the same new pair.
    let (a, b) = tokio::join!(refresh_with(r1.clone()), refresh_with(r1.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!((a.status().as_u16(), b.status().as_u16()), (200, 200));
    let (a, b): (serde_json::Value, serde_json::Value) =
        (a.json().await.unwrap(), b.json().await.unwrap());
    assert_eq!(a["refresh_token"], b["refresh_token"]);
    assert_eq!(a["access_token"], b["access_token"]);
    assert_ne!(a["refresh_token"], r1.as_str());
    // Past the window, the old token is a reuse: the family is revoked.
    app.state.clock.advance(11);
    let late = refresh_with(r1).await.unwrap();
    assert_oauth_error(late, 400, "invalid_grant").await;
    let r2 = a["refresh_token"].as_str().unwrap().to_owned();
    assert_oauth_error(refresh_with(r2).await.unwrap(), 400, "invalid_grant").await;
}

/// An ES256 key of a relying application: its JWK, and assertions signed with it.
struct ClientKey {
    pair: aws_lc_rs::signature::EcdsaKeyPair,
    kid: String,
}

impl ClientKey {
    fn new(kid: &str) -> Self {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        Self {
            pair: EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> serde_json::Value {
        use aws_lc_rs::signature::KeyPair;
        let point = self.pair.public_key().as_ref();
        let b64 = passerelle::crypto::b64url;
        serde_json::json!({"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256",
            "kid": self.kid, "x": b64(&point[1..33]), "y": b64(&point[33..65])})
    }

    fn sign(&self, claims: &serde_json::Value) -> String {
        self.sign_with(
            &serde_json::json!({"alg": "ES256", "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// A DPoP proof (RFC 9449 §4.2) for `method` on `url`.
    fn proof(&self, method: &str, url: &str, nonce: Option<&str>, token: Option<&str>) -> String {
        self.proof_at(chrono::Utc::now().timestamp(), method, url, nonce, token)
    }

    /// The same, made at `now` (the server's clock, when a test moved it).
    fn proof_at(
        &self,
        now: i64,
        method: &str,
        url: &str,
        nonce: Option<&str>,
        token: Option<&str>,
    ) -> String {
        let mut claims = serde_json::json!({"htm": method, "htu": url,
            "iat": now, "jti": passerelle::crypto::random_token()});
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(token) = token {
            claims["ath"] =
                passerelle::crypto::b64url(&passerelle::crypto::sha256(token.as_bytes())).into();
        }
        let header = serde_json::json!({"alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk()});
        self.sign_with(&header, &claims)
    }

    fn sign_with(&self, header: &serde_json::Value, claims: &serde_json::Value) -> String {
        let b64 = passerelle::crypto::b64url;
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self
            .pair
            .sign(&aws_lc_rs::rand::SystemRandom::new(), input.as_bytes())
            .unwrap();
        format!("{input}.{}", b64(signature.as_ref()))
    }
}

pub(crate) fn assertion_claims(
    app: &TestApp,
    client: &str,
    jti: &str,
    exp_in: i64,
) -> serde_json::Value {
    let now = app.state.clock.now();
    serde_json::json!({"iss": client, "sub": client, "aud": app.url("/token"),
        "jti": jti, "iat": now, "exp": now + exp_in})
}

pub(crate) async fn grant_with_assertion(app: &TestApp, assertion: &str) -> reqwest::Response {
    app.api
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", assertion),
        ])
        .send()
        .await
        .unwrap()
}

async fn register_key_client(app: &TestApp, client: &str, keys: &str) {
    let text = format!(
        "[[service]]\nclient_id = \"{client}\"\nname = \"Back end\"\ntype = \"confidential\"\ngrant_types = [\"client_credentials\"]\nclient_scopes = [\"traces:write\"]\n{keys}\n"
    );
    app.provision(&text).await;
}

#[tokio::test]
async fn private_key_jwt_authenticates_a_client_once_per_assertion() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["token_endpoint_auth_methods_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == "private_key_jwt")
    );
    let key = ClientKey::new("k1");
    let jwks = serde_json::json!({"keys": [key.jwk()]}).to_string();
    register_key_client(&app, "jwt-rp", &format!("jwks = '{jwks}'")).await;

    let assertion = key.sign(&assertion_claims(&app, "jwt-rp", "a-1", 60));
    let granted = grant_with_assertion(&app, &assertion).await;
    assert_eq!(granted.status(), 200);
    let body: serde_json::Value = granted.json().await.unwrap();
    assert_eq!(body["scope"], "traces:write");
    // Once only.
    assert_oauth_error(
        grant_with_assertion(&app, &assertion).await,
        401,
        "invalid_client",
    )
    .await;
    // Wrong audience, expired, too long-lived, another client's name, another key.
    let mut wrong_aud = assertion_claims(&app, "jwt-rp", "a-2", 60);
    wrong_aud["aud"] = "https://elsewhere.example/token".into();
    let stranger = ClientKey::new("k1");
    for bad in [
        key.sign(&wrong_aud),
        key.sign(&assertion_claims(&app, "jwt-rp", "a-3", -120)),
        key.sign(&assertion_claims(&app, "jwt-rp", "a-4", 3600)),
        key.sign(&assertion_claims(&app, "demo-app", "a-5", 60)),
        stranger.sign(&assertion_claims(&app, "jwt-rp", "a-6", 60)),
        "not.a.jwt".to_owned(),
    ] {
        assert_oauth_error(
            grant_with_assertion(&app, &bad).await,
            401,
            "invalid_client",
        )
        .await;
    }
    // A client with keys only has no secret to present.
    let with_secret = app
        .api
        .post(app.url("/token"))
        .basic_auth("jwt-rp", Some("any-secret-0123456789-0123456789-0123"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(with_secret, 401, "invalid_client").await;
    // A wrong assertion type, or two methods at once, is a malformed request.
    let typed = app
        .api
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", "urn:other"),
            ("client_assertion", &assertion),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(typed, 400, "invalid_request").await;
}

#[tokio::test]
async fn keys_published_at_a_jwks_uri_are_fetched_cached_and_refetched_for_a_new_kid() {
    let app = TestApp::spawn().await;
    let published = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (document, count) = (published.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = document.lock().unwrap().clone();
            async move { body }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let first = ClientKey::new("k1");
    *published.lock().unwrap() = serde_json::json!({"keys": [first.jwk()]}).to_string();
    register_key_client(
        &app,
        "uri-rp",
        &format!("jwks_uri = \"http://{address}/jwks.json\""),
    )
    .await;

    for jti in ["u-1", "u-2"] {
        let assertion = first.sign(&assertion_claims(&app, "uri-rp", jti, 60));
        assert_eq!(grant_with_assertion(&app, &assertion).await.status(), 200);
    }
    assert_eq!(
        fetches.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "cached"
    );
    // The client rotates its key: an unknown kid fetches the document again (not more than
    // once every 10 s).
    let second = ClientKey::new("k2");
    *published.lock().unwrap() =
        serde_json::json!({"keys": [first.jwk(), second.jwk()]}).to_string();
    app.state.clock.advance(11);
    let assertion = second.sign(&assertion_claims(&app, "uri-rp", "u-3", 60));
    assert_eq!(grant_with_assertion(&app, &assertion).await.status(), 200);
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 2);
    // Keys that do not parse, in a registration, are refused in one line.
    let bad = passerelle::provision::parse(
        "[[service]]\nclient_id = \"bad-keys\"\nname = \"X\"\ntype = \"confidential\"\ngrant_types = [\"client_credentials\"]\njwks = '{\"keys\": []}'\n",
        "test",
    )
    .unwrap();
    let refused = passerelle::provision::apply(&app.state, &bad, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("jwks must be a JWKS document"),
        "{refused}"
    );
}

#[tokio::test]
async fn a_signed_request_object_is_the_request_and_serves_once() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["request_parameter_supported"], true);
    let key = ClientKey::new("ro-1");
    let jwks = serde_json::json!({"keys": [key.jwk()]}).to_string();
    let secret = "ro-rp-secret-0123456789-0123456789-01";
    let callback =
        crate::browser::stand_in_client_with(&app, "ro-rp", secret, &format!("jwks = '{jwks}'\n"))
            .await;
    let object = |jti: &str, aud: &str| {
        let now = app.state.clock.now();
        serde_json::json!({
            "iss": "ro-rp", "aud": aud, "exp": now + 300, "jti": jti,
            "client_id": "ro-rp", "response_type": "code", "redirect_uri": callback,
            "scope": "openid email", "state": "ro-state", "nonce": "n-1",
            "code_challenge": CHALLENGE, "code_challenge_method": "S256",
            "claims": {"id_token": {"name": null}},
        })
    };
    let authorize = |request: &str, beside: &[(&str, &str)]| {
        let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "ro-rp")
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("request", request)
            .extend_pairs(beside);
        url.to_string()
    };
    let exchange = |code: String| {
        app.api
            .post(app.url("/token"))
            .basic_auth("ro-rp", Some(secret))
            .form(&[
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", callback.clone()),
                ("code_verifier", VERIFIER.to_owned()),
            ])
            .send()
    };

    let signed = key.sign(&object("ro-a", &app.address));
    let browser = browser();
    let response = app
        .login(&browser, &authorize(&signed, &[]), CLAIRE, PASSWORD)
        .await;
    let params = redirect_params(&response, &callback);
    assert_eq!(params["state"], "ro-state");
    let tokens: serde_json::Value = exchange(params["code"].clone())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        tokens["scope"], "email openid",
        "the object's scope, not the URL's"
    );
    assert_eq!(
        crate::mfa::id_token_claims(&tokens)["name"],
        "Claire Dubois"
    );

    // Used once; another key, another audience, a response_type that disagrees: refused, to
    // the redirect URI beside the object.
    let stranger = ClientKey::new("ro-1");
    for (request, beside) in [
        (signed.clone(), vec![]),
        (stranger.sign(&object("ro-b", &app.address)), vec![]),
        (
            key.sign(&object("ro-c", "https://elsewhere.example")),
            vec![],
        ),
        (
            key.sign(&object("ro-d", &app.address)),
            vec![("response_type", "token")],
        ),
    ] {
        let mut beside = beside;
        beside.push(("redirect_uri", callback.as_str()));
        let mut url = url::Url::parse(&authorize(&request, &[])).unwrap();
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .into_owned()
            .filter(|(k, _)| !beside.iter().any(|(b, _)| b == k))
            .collect();
        url.query_pairs_mut()
            .clear()
            .extend_pairs(pairs)
            .extend_pairs(beside);
        let refused = visit(&browser, url.as_str()).await;
        assert_eq!(
            redirect_params(&refused, &callback)["error"],
            "invalid_request_object",
            "{url}"
        );
    }
    // Without a registered redirect URI beside it, the refusal is a page.
    let page = visit(&browser, &authorize(&signed, &[])).await;
    assert_eq!(page.status(), 400);

    // Pushed (RFC 9126 §3): checked at /par, then served by its request_uri.
    let pushed = app
        .api
        .post(app.url("/par"))
        .basic_auth("ro-rp", Some(secret))
        .form(&[
            ("response_type", "code"),
            ("request", &key.sign(&object("ro-e", &app.address))),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(pushed.status(), 201);
    let pushed: serde_json::Value = pushed.json().await.unwrap();
    let via_par = visit(
        &browser,
        &authorize_with(&app, "ro-rp", pushed["request_uri"].as_str().unwrap()),
    )
    .await;
    assert!(redirect_params(&via_par, &callback).contains_key("code"));
}

#[tokio::test]
async fn dpop_binds_tokens_to_the_clients_key_from_the_token_endpoint_to_userinfo() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(discovery["dpop_signing_alg_values_supported"].is_array());
    let key = ClientKey::new("dpop");
    let token_url = app.url("/token");
    let post = |form: Vec<(&'static str, String)>, proof: Option<String>| {
        let mut request = app
            .api
            .post(app.url("/token"))
            .basic_auth(DEMO_ID, Some(DEMO_SECRET))
            .form(&form);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let code = app.code_for(&browser(), &[]).await;
    let exchange = |code: &str| {
        vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", DEMO_REDIRECT.to_owned()),
            ("code_verifier", VERIFIER.to_owned()),
        ]
    };
    // Without the server's nonce: use_dpop_nonce, with the nonce to use; the code is kept.
    let first = post(
        exchange(&code),
        Some(key.proof("POST", &token_url, None, None)),
    )
    .await
    .unwrap();
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_oauth_error(first, 400, "use_dpop_nonce").await;
    let issued = post(
        exchange(&code),
        Some(key.proof("POST", &token_url, Some(&nonce), None)),
    )
    .await
    .unwrap();
    assert_eq!(issued.status(), 200);
    assert!(issued.headers().contains_key("dpop-nonce"));
    let tokens: serde_json::Value = issued.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
    let access = tokens["access_token"].as_str().unwrap().to_owned();

    // Userinfo: the DPoP scheme and a fresh proof by the same key, with the token's hash.
    let userinfo_url = app.url("/userinfo");
    let userinfo = |scheme: &str, proof: Option<String>| {
        let mut request = app
            .api
            .get(app.url("/userinfo"))
            .header("authorization", format!("{scheme} {access}"));
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let as_bearer = userinfo("Bearer", None).await.unwrap();
    assert_eq!(as_bearer.status(), 401);
    assert!(
        as_bearer.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("DPoP ")
    );
    let proof = key.proof("GET", &userinfo_url, None, Some(&access));
    let answered = userinfo("DPoP", Some(proof.clone())).await.unwrap();
    assert_eq!(answered.status(), 200);
    let claims: serde_json::Value = answered.json().await.unwrap();
    assert_eq!(claims["email"], CLAIRE);
    let stranger = ClientKey::new("other");
    for bad in [
        proof,
        stranger.proof("GET", &userinfo_url, None, Some(&access)),
        key.proof("POST", &userinfo_url, None, Some(&access)),
        key.proof("GET", &userinfo_url, None, Some("another-token")),
    ] {
        let refused = userinfo("DPoP", Some(bad)).await.unwrap();
        assert_eq!(refused.status(), 401);
        let body: serde_json::Value = refused.json().await.unwrap();
        assert_eq!(body["error"], "invalid_dpop_proof", "{body}");
    }
    // Introspection tells a resource server which key the token needs.
    let introspected = app.introspect(&access).await;
    assert_eq!(introspected["token_type"], "DPoP");
    let thumbprint = passerelle::oidc::dpop::thumbprint(&key.jwk()).unwrap();
    assert_eq!(introspected["cnf"]["jkt"], thumbprint);

    // The refresh token is bound too: without a proof, or with another key's, refused
    // without being spent.
    let refresh = tokens["refresh_token"].as_str().unwrap().to_owned();
    let refresh_form = || {
        vec![
            ("grant_type", "refresh_token".to_owned()),
            ("refresh_token", refresh.clone()),
        ]
    };
    assert_oauth_error(
        post(refresh_form(), None).await.unwrap(),
        400,
        "invalid_dpop_proof",
    )
    .await;
    let other = stranger.proof("POST", &token_url, Some(&nonce), None);
    assert_oauth_error(
        post(refresh_form(), Some(other)).await.unwrap(),
        400,
        "invalid_dpop_proof",
    )
    .await;
    let refreshed = post(
        refresh_form(),
        Some(key.proof("POST", &token_url, Some(&nonce), None)),
    )
    .await
    .unwrap();
    assert_eq!(refreshed.status(), 200);
    let refreshed: serde_json::Value = refreshed.json().await.unwrap();
    assert_eq!(refreshed["token_type"], "DPoP");

    // Ten minutes later the nonce is stale: use_dpop_nonce again, with a fresh one.
    app.state.clock.advance(601);
    let refresh = refreshed["refresh_token"].as_str().unwrap().to_owned();
    let form = vec![
        ("grant_type", "refresh_token".to_owned()),
        ("refresh_token", refresh),
    ];
    let later = app.state.clock.now();
    let stale = post(
        form.clone(),
        Some(key.proof_at(later, "POST", &token_url, Some(&nonce), None)),
    )
    .await
    .unwrap();
    let fresh = stale.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_ne!(fresh, nonce);
    assert_oauth_error(stale, 400, "use_dpop_nonce").await;
    let renewed = post(
        form,
        Some(key.proof_at(later, "POST", &token_url, Some(&fresh), None)),
    )
    .await
    .unwrap();
    assert_eq!(renewed.status(), 200);
}

#[tokio::test]
async fn a_client_registered_for_dpop_gets_no_token_without_a_proof() {
    let app = TestApp::spawn().await;
    let key = ClientKey::new("k1");
    let jwks = serde_json::json!({"keys": [key.jwk()]}).to_string();
    register_key_client(
        &app,
        "dpop-rp",
        &format!("jwks = '{jwks}'\ndpop_bound_access_tokens = true"),
    )
    .await;
    let without = grant_with_assertion(
        &app,
        &key.sign(&assertion_claims(&app, "dpop-rp", "d-1", 60)),
    )
    .await;
    let nonce = without.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_oauth_error(without, 400, "invalid_dpop_proof").await;
    let with = app
        .api
        .post(app.url("/token"))
        .header(
            "dpop",
            key.proof("POST", &app.url("/token"), Some(&nonce), None),
        )
        .form(&[
            ("grant_type", "client_credentials"),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            (
                "client_assertion",
                &key.sign(&assertion_claims(&app, "dpop-rp", "d-2", 60)),
            ),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(with.status(), 200);
    let body: serde_json::Value = with.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
}

#[tokio::test]
async fn a_fapi2_client_logs_in_with_par_private_key_jwt_pkce_and_dpop_only() {
    let app = TestApp::spawn().await;
    let key = ClientKey::new("fapi");
    let jwks = serde_json::json!({"keys": [key.jwk()]}).to_string();
    // A secret, with fapi2, is refused in one line.
    let with_secret = passerelle::provision::parse(
        &format!("[[service]]\nclient_id = \"f\"\nname = \"F\"\ntype = \"confidential\"\nsecret = \"a-secret-of-at-least-32-characters-00\"\nredirect_uris = [\"https://f.example/cb\"]\njwks = '{jwks}'\nfapi2 = true\n"),
        "test",
    )
    .unwrap();
    let refused = passerelle::provision::apply(&app.state, &with_secret, false)
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("fapi2 needs keys"), "{refused}");
    let callback = crate::browser::stand_in_client_with(
        &app,
        "fapi-rp",
        "",
        &format!("jwks = '{jwks}'\nfapi2 = true\n"),
    )
    .await;
    let assertion = |jti: &str| {
        let now = app.state.clock.now();
        key.sign(&serde_json::json!({"iss": "fapi-rp", "sub": "fapi-rp",
            "aud": app.address, "jti": jti, "exp": now + 60}))
    };
    let jwt_bearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    // Not through the URL.
    let direct = visit(
        &browser(),
        &app.authorize_url(&[("client_id", "fapi-rp"), ("redirect_uri", &callback)]),
    )
    .await;
    assert_eq!(direct.status(), 400);
    // Pushed, authenticated by an assertion.
    let url = url::Url::parse(
        &app.authorize_url(&[("client_id", "fapi-rp"), ("redirect_uri", &callback)]),
    )
    .unwrap();
    let mut form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    form.push(("client_assertion_type".into(), jwt_bearer.into()));
    form.push(("client_assertion".into(), assertion("f-1")));
    let pushed: serde_json::Value = app
        .api
        .post(app.url("/par"))
        .form(&form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let browser = browser();
    let response = app
        .login(
            &browser,
            &authorize_with(&app, "fapi-rp", pushed["request_uri"].as_str().unwrap()),
            CLAIRE,
            PASSWORD,
        )
        .await;
    let params = redirect_params(&response, &callback);
    assert_eq!(params["iss"], app.address);
    // The token: the assertion and a DPoP proof, after the nonce dance.
    let token_url = app.url("/token");
    let request = |jti: &str, nonce: Option<&str>| {
        let code = params["code"].clone();
        let client_assertion = assertion(jti);
        app.api
            .post(app.url("/token"))
            .header("dpop", key.proof("POST", &token_url, nonce, None))
            .form(&[
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", callback.clone()),
                ("code_verifier", VERIFIER.to_owned()),
                ("client_assertion_type", jwt_bearer.to_owned()),
                ("client_assertion", client_assertion),
            ])
            .send()
    };
    let first = request("f-2", None).await.unwrap();
    let nonce = first.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_oauth_error(first, 400, "use_dpop_nonce").await;
    let tokens = request("f-3", Some(&nonce)).await.unwrap();
    assert_eq!(tokens.status(), 200);
    let tokens: serde_json::Value = tokens.json().await.unwrap();
    assert_eq!(tokens["token_type"], "DPoP");
}

#[tokio::test]
async fn offline_access_is_left_out_for_a_client_that_may_not_refresh() {
    let app = TestApp::spawn().await;
    let secret = "no-refresh-rp-secret-0123456789-012345";
    let callback = crate::browser::stand_in_client_with(
        &app,
        "no-refresh-rp",
        secret,
        "grant_types = [\"authorization_code\"]\n",
    )
    .await;
    let response = app
        .login(
            &browser(),
            &app.authorize_url(&[
                ("client_id", "no-refresh-rp"),
                ("redirect_uri", &callback),
                ("scope", "openid offline_access"),
            ]),
            CLAIRE,
            PASSWORD,
        )
        .await;
    let code = redirect_params(&response, &callback)["code"].clone();
    let tokens: serde_json::Value = app
        .exchange_as("no-refresh-rp", secret, &code, &callback)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["scope"], "openid", "{tokens}");
    assert!(tokens.get("refresh_token").is_none(), "{tokens}");
}

#[tokio::test]
async fn a_code_bound_by_dpop_jkt_or_a_pushed_proof_is_exchanged_only_with_that_key() {
    let app = TestApp::spawn().await;
    let key = ClientKey::new("holder");
    let stranger = ClientKey::new("stranger");
    let jkt = passerelle::oidc::dpop::thumbprint(&key.jwk()).unwrap();
    let token_url = app.url("/token");
    let exchange = |code: String, proof: Option<String>| {
        let mut request = app
            .api
            .post(app.url("/token"))
            .basic_auth(DEMO_ID, Some(DEMO_SECRET))
            .form(&[
                ("grant_type", "authorization_code".to_owned()),
                ("code", code),
                ("redirect_uri", DEMO_REDIRECT.to_owned()),
                ("code_verifier", VERIFIER.to_owned()),
            ]);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let browser = browser();
    let first = app.code_for(&browser, &[("dpop_jkt", &jkt)]).await;
    // The nonce, from a proof without one (the code is not spent by it).
    let asked = exchange(
        first.clone(),
        Some(key.proof("POST", &token_url, None, None)),
    )
    .await
    .unwrap();
    let nonce = asked.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let by_stranger = exchange(
        first,
        Some(stranger.proof("POST", &token_url, Some(&nonce), None)),
    )
    .await
    .unwrap();
    assert_oauth_error(by_stranger, 400, "invalid_dpop_proof").await;
    let second = app
        .code_for(&crate::helpers::browser(), &[("dpop_jkt", &jkt)])
        .await;
    let by_holder = exchange(
        second,
        Some(key.proof("POST", &token_url, Some(&nonce), None)),
    )
    .await
    .unwrap();
    assert_eq!(by_holder.status(), 200);
    let malformed = visit(&browser, &app.authorize_url(&[("dpop_jkt", "short")])).await;
    assert_eq!(
        redirect_params(&malformed, DEMO_REDIRECT)["error"],
        "invalid_request"
    );

    // A proof with the pushed request binds the code in the same way, once it carries the
    // nonce the pushed-request endpoint hands out too.
    let url = url::Url::parse(&app.authorize_url(&[])).unwrap();
    let form: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let push = |nonce: Option<String>| {
        app.api
            .post(app.url("/par"))
            .basic_auth(DEMO_ID, Some(DEMO_SECRET))
            .header(
                "dpop",
                key.proof("POST", &app.url("/par"), nonce.as_deref(), None),
            )
            .form(&form)
            .send()
    };
    let without = push(None).await.unwrap();
    let par_nonce = without.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_oauth_error(without, 400, "use_dpop_nonce").await;
    let pushed = push(Some(par_nonce)).await.unwrap();
    assert_eq!(pushed.status(), 201);
    let pushed: serde_json::Value = pushed.json().await.unwrap();
    let response = visit(
        &browser,
        &authorize_with(&app, DEMO_ID, pushed["request_uri"].as_str().unwrap()),
    )
    .await;
    let code = redirect_params(&response, DEMO_REDIRECT)["code"].clone();
    assert_oauth_error(
        exchange(code, None).await.unwrap(),
        400,
        "invalid_dpop_proof",
    )
    .await;
}
