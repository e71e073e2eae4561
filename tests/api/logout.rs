//! RP-initiated logout: registered post-logout redirect, confirmation without proof, and the
//! end of the session and of its grants.

use crate::helpers::*;

#[tokio::test]
async fn logout_with_id_token_hint_ends_the_session_and_its_tokens() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let tokens = app.tokens(&browser).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let access = tokens["access_token"].as_str().unwrap();

    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("id_token_hint", id_token)
        .append_pair("post_logout_redirect_uri", DEMO_LOGOUT_REDIRECT)
        .append_pair("state", "bye");
    let response = browser.get(url.as_str()).send().await.unwrap();
    let params = redirect_params(&response, DEMO_LOGOUT_REDIRECT);
    assert_eq!(params["state"], "bye");

    let again = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&again, DEMO_REDIRECT)["error"],
        "login_required"
    );
    assert_eq!(app.introspect(access).await["active"], false);
    let refreshed = app
        .token(&[("grant_type", "refresh_token"), ("refresh_token", refresh)])
        .await;
    assert_oauth_error(refreshed, 400, "invalid_grant").await;
}

#[tokio::test]
async fn an_unregistered_post_logout_redirect_is_refused_on_a_page() {
    let app = TestApp::spawn().await;
    let mut url = url::Url::parse(&app.url("/logout")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", DEMO_ID)
        .append_pair("post_logout_redirect_uri", "https://evil.example/");
    let response = browser().get(url.as_str()).send().await.unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("n'est pas enregistrée")
    );
}

#[tokio::test]
async fn logout_without_proof_asks_the_person_to_confirm() {
    let app = TestApp::spawn().await;
    let browser = browser();
    app.tokens(&browser).await;
    let page = browser.get(app.url("/logout")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Voulez-vous vous déconnecter"));
    // Not yet logged out.
    let still = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(redirect_params(&still, DEMO_REDIRECT).contains_key("code"));

    let csrf = hidden(&html, "csrf").unwrap();
    let done = browser
        .post(app.url("/logout"))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    assert!(done.text().await.unwrap().contains("Vous êtes déconnecté"));
    let after = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&after, DEMO_REDIRECT)["error"],
        "login_required"
    );
}
