//! The token, introspection and revocation endpoints: each failure with its exact error.

use crate::helpers::*;

#[tokio::test]
async fn a_code_is_single_use_and_its_replay_revokes_what_it_issued() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let code = app.code_for(&browser, &[]).await;
    let first: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    let access = first["access_token"].as_str().unwrap();
    let refresh = first["refresh_token"].as_str().unwrap();
    assert_eq!(app.introspect(access).await["active"], true);

    let body = assert_oauth_error(app.exchange(&code).await, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    assert_eq!(
        app.introspect(access).await["active"],
        false,
        "replay revokes the access token"
    );
    let refreshed = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app = TestApp::spawn_with(|c| c.tokens.authorization_code_lifetime_seconds = 1).await;
    let code = app.code_for(&browser(), &[]).await;
    app.state.clock.advance(2);
    assert_oauth_error(app.exchange(&code).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn pkce_verifier_must_be_present_and_match() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let code = app.code_for(&browser, &[]).await;
    let missing = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
        ])
        .await;
    let body = assert_oauth_error(missing, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("code_verifier")
    );

    let code = app.code_for(&crate::helpers::browser(), &[]).await;
    let wrong = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", DEMO_REDIRECT),
            (
                "code_verifier",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            ),
        ])
        .await;
    let body = assert_oauth_error(wrong, 400, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("PKCE"));
}

#[tokio::test]
async fn the_redirect_uri_must_match_the_authorization_request() {
    let app = TestApp::spawn().await;
    let code = app.code_for(&browser(), &[]).await;
    let response = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://localhost:9000/callback"),
            ("code_verifier", VERIFIER),
        ])
        .await;
    assert_oauth_error(response, 400, "invalid_grant").await;
}

#[tokio::test]
async fn client_authentication_failures_are_invalid_client_with_a_challenge() {
    let app = TestApp::spawn().await;
    let form = [("grant_type", "client_credentials")];
    let wrong = app
        .api
        .post(app.url("/token"))
        .basic_auth(DEMO_ID, Some("wrong-secret"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert!(
        wrong.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic")
    );
    assert_oauth_error(wrong, 401, "invalid_client").await;
    let unknown = app
        .api
        .post(app.url("/token"))
        .basic_auth("nobody", Some("x"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(unknown, 401, "invalid_client").await;
    let post = app
        .api
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", DEMO_ID),
            ("client_secret", "nope"),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(post, 401, "invalid_client").await;
    let both = app
        .api
        .post(app.url("/token"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", DEMO_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(both, 400, "invalid_request").await;
    let none = app
        .api
        .post(app.url("/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_oauth_error(none, 401, "invalid_client").await;
}

#[tokio::test]
async fn client_secret_basic_credentials_are_form_urlencoded_then_decoded() {
    let app = TestApp::spawn().await;
    let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let response = app
        .api
        .post(app.url("/token"))
        .basic_auth(encode("test-odd-secret"), Some(encode(ODD_SECRET)))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "traces:write");
}

#[tokio::test]
async fn client_credentials_tokens_act_for_the_service_not_a_person() {
    let app = TestApp::spawn().await;
    let response = app.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none() && body.get("id_token").is_none());
    let access = body["access_token"].as_str().unwrap();
    let info = app.introspect(access).await;
    assert_eq!(info["active"], true);
    assert_eq!(info["sub"], DEMO_ID);
    let userinfo = app.userinfo(access).await;
    assert_eq!(userinfo.status(), 403);
    assert!(
        userinfo.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("insufficient_scope")
    );
    let scoped = app
        .token(&[("grant_type", "client_credentials"), ("scope", "openid")])
        .await;
    assert_oauth_error(scoped, 400, "invalid_scope").await;
}

#[tokio::test]
async fn unsupported_and_missing_grant_types_and_bodies_are_refused() {
    let app = TestApp::spawn().await;
    assert_oauth_error(
        app.token(&[("grant_type", "password")]).await,
        400,
        "unsupported_grant_type",
    )
    .await;
    assert_oauth_error(app.token(&[]).await, 400, "invalid_request").await;
    let json = app
        .api
        .post(app.url("/token"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .json(&serde_json::json!({"grant_type": "client_credentials"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json, 400, "invalid_request").await;
    let public = app
        .api
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "test-public"),
        ])
        .send()
        .await
        .unwrap();
    assert_oauth_error(public, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn a_reused_refresh_token_revokes_its_whole_family() {
    let app = TestApp::spawn().await;
    let first = app.tokens(&browser()).await;
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let second: serde_json::Value = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)])
        .await
        .json()
        .await
        .unwrap();
    let r2 = second["refresh_token"].as_str().unwrap().to_owned();
    let a2 = second["access_token"].as_str().unwrap().to_owned();
    assert!(
        second["id_token"].is_string(),
        "a refresh returns a new ID token"
    );
    assert_eq!(app.introspect(&a2).await["active"], true);

    let reuse = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &r1)])
        .await;
    let body = assert_oauth_error(reuse, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("already used")
    );
    let latest = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", &r2)])
        .await;
    assert_oauth_error(latest, 400, "invalid_grant").await;
    assert_eq!(app.introspect(&a2).await["active"], false);
}

#[tokio::test]
async fn a_refresh_cannot_widen_the_scope_nor_serve_another_client() {
    let app = TestApp::spawn().await;
    let tokens = app.tokens(&browser()).await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let other = app
        .api
        .post(app.url("/token"))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", "test-public"),
        ])
        .send()
        .await
        .unwrap();
    let body = assert_oauth_error(other, 400, "invalid_grant").await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("another client")
    );
    let wider = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid email admin"),
        ])
        .await;
    assert_oauth_error(wider, 400, "invalid_scope").await;
    let narrower = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "openid"),
        ])
        .await;
    assert_eq!(narrower.status(), 200);
    let body: serde_json::Value = narrower.json().await.unwrap();
    assert_eq!(body["scope"], "openid");
}

#[tokio::test]
async fn userinfo_accepts_get_and_post_and_refuses_bad_tokens() {
    let app = TestApp::spawn().await;
    let tokens = app.tokens(&browser()).await;
    let access = tokens["access_token"].as_str().unwrap();
    let post = app
        .api
        .post(app.url("/userinfo"))
        .form(&[("access_token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 200);
    let claims: serde_json::Value = post.json().await.unwrap();
    assert_eq!(claims["email"], CLAIRE);
    assert_eq!(
        claims["partner"]["name"],
        "Communauté de communes Roumois Seine"
    );
    let bad = app.userinfo("not-a-token").await;
    assert_eq!(bad.status(), 401);
    assert!(
        bad.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token")
    );
    // The error is also in a JSON body.
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    let none = app.api.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(none.status(), 401);
    assert_eq!(
        none.headers()["www-authenticate"],
        "Bearer realm=\"passerelle\""
    );
    let body: serde_json::Value = none.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token");
    let basic = app
        .api
        .get(app.url("/userinfo"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 400);
    let body: serde_json::Value = basic.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}

#[tokio::test]
async fn revocation_answers_200_for_unknown_tokens_and_refuses_other_clients_tokens() {
    let app = TestApp::spawn().await;
    let tokens = app.tokens(&browser()).await;
    let access = tokens["access_token"].as_str().unwrap();
    let unknown = app
        .api
        .post(app.url("/revoke"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&[("token", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 200);
    let other = app
        .api
        .post(app.url("/revoke"))
        .form(&[("token", access), ("client_id", "test-public")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(other, 400, "unauthorized_client").await;
    assert_eq!(app.introspect(access).await["active"], true);
    let own = app
        .api
        .post(app.url("/revoke"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&[("token", access)])
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(app.introspect(access).await["active"], false);
}
