//! The login page: generic failures, CSRF, browser binding, cookies and security headers.

use crate::helpers::*;

#[tokio::test]
async fn bad_credentials_give_one_answer_whether_or_not_the_account_exists() {
    let app = TestApp::spawn().await;
    // A provisioned account without a password yet (activation pending).
    let pending = passerelle::provision::parse(
        "[[account]]\nemail = \"pending.person@roumois-seine.example\"\ngiven_name = \"P\"\nfamily_name = \"Q\"\npartner = \"cc-roumois-seine\"\n",
        "test",
    )
    .unwrap();
    passerelle::provision::apply(&app.state, &pending, false)
        .await
        .unwrap();

    let mut answers = Vec::new();
    for (email, password) in [
        (CLAIRE, "wrong-password"),
        ("nobody@nowhere.example", PASSWORD),
        ("pending.person@roumois-seine.example", PASSWORD),
        ("not an email", PASSWORD),
    ] {
        let browser = browser();
        let response = app
            .login(&browser, &app.authorize_url(&[]), email, password)
            .await;
        let status = response.status();
        let html = response.text().await.unwrap();
        assert!(
            html.contains("L&#39;adresse électronique ou le mot de passe est incorrect.")
                || html.contains("L'adresse électronique ou le mot de passe est incorrect."),
            "{html}"
        );
        answers.push(status);
    }
    assert!(answers.iter().all(|s| *s == 401), "{answers:?}");
}

#[tokio::test]
async fn the_login_form_requires_its_csrf_token_and_the_browser_that_started_the_login() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let response = browser.get(app.authorize_url(&[])).send().await.unwrap();
    let login_path = location(&response);
    let html = browser
        .get(app.url(&login_path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let request = hidden(&html, "request").unwrap();

    let forged = browser
        .post(app.url("/login"))
        .form(&[
            ("request", request.as_str()),
            ("email", CLAIRE),
            ("password", PASSWORD),
            ("csrf", "forged"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 400);
    assert!(forged.text().await.unwrap().contains("Page expirée"));

    // Another browser cannot finish a login this browser started.
    let other = crate::helpers::browser();
    let page = other.get(app.url(&login_path)).send().await.unwrap();
    assert_eq!(page.status(), 400);
    assert!(page.text().await.unwrap().contains("expiré"));
}

#[tokio::test]
async fn cookies_and_security_headers_follow_the_rules() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let response = browser.get(app.authorize_url(&[])).send().await.unwrap();
    let cookie = set_cookie(&response, "passerelle_browser");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(
        !cookie.contains("Secure"),
        "plain http on loopback: no Secure flag"
    );
    let page = browser
        .get(app.url(&location(&response)))
        .send()
        .await
        .unwrap();
    let h = page.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    assert_eq!(h["cache-control"], "no-store");
    assert!(h.contains_key("x-request-id"));
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"fr\">"));
    assert!(html.contains("autocomplete=\"current-password\""));

    let response = app
        .login(&browser, &app.authorize_url(&[]), CLAIRE, PASSWORD)
        .await;
    let session_cookie = set_cookie(&response, "passerelle_session");
    assert!(session_cookie.contains("HttpOnly") && session_cookie.contains("SameSite=Lax"));
}

#[tokio::test]
async fn cookies_are_secure_and_hsts_is_sent_when_the_issuer_is_https() {
    let app =
        TestApp::spawn_with(|c| c.server.issuer = "https://connexion.caf.example".into()).await;
    let response = browser().get(app.url("/login")).send().await.unwrap();
    let cookie = set_cookie(&response, "passerelle_browser");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    assert!(
        response.headers()["strict-transport-security"]
            .to_str()
            .unwrap()
            .starts_with("max-age=")
    );
    let discovery: serde_json::Value = app.get_json("/.well-known/openid-configuration").await;
    assert_eq!(discovery["issuer"], "https://connexion.caf.example");
    assert_eq!(
        discovery["token_endpoint"],
        "https://connexion.caf.example/token"
    );
}

#[tokio::test]
async fn logging_in_without_an_application_lands_on_the_home_page() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let response = app.submit_login(&browser, "/login", CLAIRE, PASSWORD).await;
    assert_eq!(location(&response), "/");
    let home = browser
        .get(app.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(home.contains("Claire Dubois"), "{home}");
}

#[tokio::test]
async fn a_hash_made_with_a_lower_cost_is_upgraded_at_the_next_login() {
    use passerelle::accounts::password::PasswordHasher;
    use passerelle::config::PasswordHashingConfig;
    let app = TestApp::spawn().await;
    let weak = PasswordHasher::new(&PasswordHashingConfig {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
        max_concurrent: 1,
    })
    .unwrap();
    let email = passerelle::types::Email::parse(CLAIRE).unwrap();
    let accounts = &app.state.stores.accounts;
    let account = accounts
        .find_account_by_email(&email)
        .await
        .unwrap()
        .unwrap();
    let weak_hash = weak
        .hash(passerelle::accounts::password::Password::new(
            PASSWORD.into(),
        ))
        .await
        .unwrap();
    accounts
        .set_password_hash(&account.id, &weak_hash)
        .await
        .unwrap();
    assert!(app.state.hasher.needs_rehash(&weak_hash));

    let response = app
        .submit_login(&browser(), "/login", CLAIRE, PASSWORD)
        .await;
    assert_eq!(location(&response), "/");
    let stored = accounts
        .find_account_by_email(&email)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(stored.contains("m=256"), "{stored}");
    assert!(!app.state.hasher.needs_rehash(&stored));
    let history = accounts.password_history(&account.id, 10).await.unwrap();
    assert_eq!(
        history.len(),
        1,
        "only the replaced demo hash; the upgrade is not a change"
    );
}

/// The Set-Cookie header that sets cookie `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name} cookie set"))
}
