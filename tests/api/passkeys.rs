//! Passkeys: enrolment from `/compte`, the passkey as second login step, removal, in headless
//! Chromium with WebDriver's virtual authenticator; and refused answers over plain HTTP.

use crate::browser::{
    chromium, click, stand_in_client, start_driver, submit, text_of, type_into, wait_until_on,
};
use crate::helpers::*;
use axum::http::Method;
use fantoccini::Locator;
use fantoccini::wd::WebDriverCompatibleCommand;
use url::{ParseError, Url};

/// WebDriver's virtual authenticator (Web Authentication §11.3): a CTAP2 platform
/// authenticator that keeps discoverable credentials and verifies its user.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(&self, base: &Url, session: Option<&str>) -> Result<Url, ParseError> {
        base.join(&format!(
            "session/{}/webauthn/authenticator",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &Url) -> (Method, Option<String>) {
        let body = serde_json::json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true
        });
        (Method::POST, Some(body.to_string()))
    }
}

/// With `PASSERELLE_SCREENSHOTS=DIR`, keeps a screenshot there for people to look at.
async fn screenshot(c: &fantoccini::Client, name: &str) {
    if let Some(dir) = std::env::var_os("PASSERELLE_SCREENSHOTS") {
        let png = c.screenshot().await.unwrap();
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
    }
}

/// Claire signs in with her password in the browser (no application waiting).
async fn signed_in_as_claire(c: &fantoccini::Client, origin: &str) {
    c.goto(&format!("{origin}/login")).await.unwrap();
    type_into(c, "#email", CLAIRE).await;
    type_into(c, "#password", PASSWORD).await;
    submit(c).await;
    c.wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
        .unwrap();
}

/// On the passkeys page: names the new passkey and asks the (virtual) authenticator for it.
async fn name_and_add_passkey(c: &fantoccini::Client, name: &str) {
    type_into(c, "#nom", name).await;
    click(c, "form[data-passkey=create] button[type=submit]").await;
}

/// The ID token's claims for the code the browser brought back to `landed`.
async fn claims_after(
    app: &TestApp,
    landed: &Url,
    client: &str,
    secret: &str,
    callback: &str,
) -> serde_json::Value {
    let code = landed
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code");
    let tokens: serde_json::Value = app
        .exchange_as(client, secret, &code, callback)
        .await
        .json()
        .await
        .unwrap();
    crate::mfa::id_token_claims(&tokens)
}

/// A server on localhost and a Chromium session on it with a virtual authenticator (the
/// driver is returned to be kept alive for the test).
async fn with_authenticator() -> (TestApp, String, crate::browser::Driver, fantoccini::Client) {
    let (app, origin) = on_localhost().await;
    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.issue_cmd(AddVirtualAuthenticator).await.unwrap();
    (app, origin, driver, c)
}

/// A server whose issuer is `http://localhost:PORT`: WebAuthn binds passkeys to a domain
/// name, never to an IP address.
async fn on_localhost() -> (TestApp, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://localhost:{port}");
    let issuer = origin.clone();
    let app = TestApp::spawn_with(move |c| {
        c.server.listen = format!("127.0.0.1:{port}");
        c.server.issuer = issuer;
    })
    .await;
    (app, origin)
}

#[tokio::test]
async fn a_person_enrols_a_passkey_logs_in_with_it_and_removes_it_in_chromium() {
    let (app, origin, _driver, c) = with_authenticator().await;
    let at = |path: &str| format!("{origin}{path}");

    signed_in_as_claire(&c, &origin).await;
    c.goto(&at("/compte")).await.unwrap();
    click(&c, "a[href='/compte/cles-d-acces']").await;
    assert!(text_of(&c, "main").await.contains("aucune clé d'accès"));
    name_and_add_passkey(&c, "Clé du bureau").await;
    let message = text_of(&c, "#message").await;
    assert_eq!(message, "La clé « Clé du bureau » est ajoutée.");
    assert!(text_of(&c, "tbody").await.contains("Clé du bureau"));
    let found = crate::accessibility::violations(&c).await;
    assert!(found.is_empty(), "the passkeys page: {found:?}");
    screenshot(&c, "passkeys-1280").await;
    let account = app.account(CLAIRE).await.id;
    let stored = app
        .state
        .stores
        .passkeys
        .passkeys_of(&account)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].last_used_at, None);

    // The next login asks for the passkey (and no code: there is no TOTP application).
    let callback = stand_in_client(&app, "key-rp", "key-rp-secret-0123456789-0123456789-ab").await;
    c.delete_all_cookies().await.unwrap();
    let authorize = app
        .authorize_url(&[("client_id", "key-rp"), ("redirect_uri", &callback)])
        .replace(&app.address, &origin);
    c.goto(&authorize).await.unwrap();
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    c.wait()
        .for_element(Locator::Css("form[data-passkey=get]"))
        .await
        .unwrap();
    assert!(
        c.find(Locator::Css("#code")).await.is_err(),
        "no code field"
    );
    let found = crate::accessibility::violations(&c).await;
    assert!(
        found.is_empty(),
        "the second step with a passkey: {found:?}"
    );
    screenshot(&c, "passkey-step-1280").await;
    click(&c, "form[data-passkey=get] button[type=submit]").await;
    let landed = wait_until_on(&c, &callback).await;
    let claims = claims_after(
        &app,
        &landed,
        "key-rp",
        "key-rp-secret-0123456789-0123456789-ab",
        &callback,
    )
    .await;
    assert_eq!(claims["acr"], "urn:passerelle:acr:mfa");
    // The virtual authenticator's credential is bound to it: a hardware-secured key.
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk"]));
    let used = app
        .state
        .stores
        .passkeys
        .passkeys_of(&account)
        .await
        .unwrap();
    assert!(used[0].last_used_at.is_some(), "its last use is recorded");

    // Removed from the list, it is no longer asked for.
    c.goto(&at("/compte/cles-d-acces")).await.unwrap();
    click(&c, "form[action='/compte/cles-d-acces/retirer'] button").await;
    c.wait()
        .for_element(Locator::XPath("//p[contains(., \"aucune clé d'accès\")]"))
        .await
        .unwrap();
    assert!(
        app.state
            .stores
            .passkeys
            .passkeys_of(&account)
            .await
            .unwrap()
            .is_empty()
    );
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_or_replayed_passkey_answer_counts_as_a_failed_second_factor() {
    let (app, _) = on_localhost().await;
    let browser = browser();
    app.submit_login(&browser, "/login", CLAIRE, PASSWORD).await;
    let account = app.account(CLAIRE).await;
    // A passkey stored for Claire (what it holds does not matter: no answer will verify).
    app.state
        .stores
        .passkeys
        .add_passkey(&passerelle::store::StoredPasskey {
            id: "k".into(),
            account: account.id.clone(),
            credential_id: vec![1, 2, 3],
            name: "Clé".into(),
            credential: "{}".into(),
            created_at: 1,
            last_used_at: None,
        })
        .await
        .unwrap();
    let page = visit(&browser, &app.url("/compte/cles-d-acces")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let ceremony = hidden(&html, "ceremony").unwrap();
    let post = |ceremony: String, answer: &'static str| {
        let csrf = hidden(&html, "csrf").unwrap();
        let browser = browser.clone();
        let url = app.url("/compte/cles-d-acces");
        async move {
            browser
                .post(url)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("ceremony", ceremony.as_str()),
                    ("answer", answer),
                    ("name", "Clé"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let refused = post(ceremony.clone(), "{\"not\":\"an answer\"}").await;
    assert_eq!(refused.status(), 422);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("n'a pas pu être ajoutée")
    );
    // The ceremony was spent by the refused answer.
    let replayed = post(ceremony, "{}").await;
    assert_eq!(replayed.status(), 422);
    let failures = || async {
        let key = passerelle::accounts::throttle::identifier_key(CLAIRE);
        let now = app.state.clock.now();
        let attempts = app.state.stores.throttle.attempts(&key, now).await;
        attempts.unwrap().recent.len()
    };
    let failures_before = failures().await;
    let proof = browser
        .post(app.url("/login/cle"))
        .form(&[
            ("csrf", hidden(&html, "csrf").unwrap().as_str()),
            ("ceremony", "unknown"),
            ("answer", "{}"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(proof.status(), 401);
    assert!(proof.text().await.unwrap().contains("n'a pas été reconnue"));
    let failures_after = failures().await;
    assert_eq!(
        failures_after,
        failures_before + 1,
        "counted like a wrong code"
    );
}

#[tokio::test]
async fn a_service_that_requires_a_passkey_has_one_added_on_the_way_in_chromium() {
    let (app, origin, _driver, c) = with_authenticator().await;
    let secret = "key-pr-secret-0123456789-0123456789-ab";
    let callback = crate::browser::stand_in_client_with(
        &app,
        "key-pr",
        secret,
        "mfa = \"phishing_resistant\"\n",
    )
    .await;
    let authorize = app
        .authorize_url(&[("client_id", "key-pr"), ("redirect_uri", &callback)])
        .replace(&app.address, &origin);
    c.goto(&authorize).await.unwrap();
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    crate::browser::wait_for_path(&c, "/compte/cles-d-acces").await;
    assert!(
        text_of(&c, "main")
            .await
            .contains("ajoutez une clé d'accès pour continuer")
    );
    name_and_add_passkey(&c, "Ordinateur").await;
    let landed = wait_until_on(&c, &callback).await;
    let claims = claims_after(&app, &landed, "key-pr", secret, &callback).await;
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "hwk"]));
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_totp_code_does_not_meet_a_service_that_requires_a_passkey() {
    let (app, _) = on_localhost().await;
    let browser = browser();
    app.submit_login(&browser, "/login", CLAIRE, PASSWORD).await;
    let (secret, _, _) = crate::mfa::enrol(&app, &browser, "/compte/double-authentification").await;
    let callback = "https://pr.example/cb";
    crate::browser::register_relying_party(
        &app,
        "pr-app",
        "pr-app-secret-0123456789-0123456789-abcd",
        callback,
        "mfa = \"phishing_resistant\"\n",
    )
    .await;
    let fresh = crate::helpers::browser();
    let response = app
        .login(
            &fresh,
            &app.authorize_url(&[("client_id", "pr-app"), ("redirect_uri", callback)]),
            CLAIRE,
            PASSWORD,
        )
        .await;
    let step = location(&response);
    assert!(step.starts_with("/login/otp?request="), "{step}");
    let page = visit(&fresh, &app.url(&step)).await.text().await.unwrap();
    assert!(
        page.contains("Ce service demande une clé d'accès"),
        "{page}"
    );
    assert!(!page.contains("name=\"code\""), "no code is asked for");
    // A valid code given anyway does not let the login through.
    let request = step.trim_start_matches("/login/otp?request=");
    // The page has no form to take it from: the login page's.
    let account_page = visit(&fresh, &app.url("/login"))
        .await
        .text()
        .await
        .unwrap();
    let csrf = hidden(&account_page, "csrf").unwrap();
    let answer = fresh
        .post(app.url("/login/otp"))
        .form(&[
            ("csrf", csrf.as_str()),
            ("request", request),
            ("code", &crate::mfa::code_at(&secret, 30)),
        ])
        .send()
        .await
        .unwrap();
    let next = location(&answer);
    assert!(
        !next.starts_with(callback),
        "no code for the service: {next}"
    );
    assert!(
        next.starts_with("/compte/cles-d-acces?request="),
        "a passkey to add instead: {next}"
    );
}

#[tokio::test]
async fn administrators_may_be_required_a_passkey_for_the_console() {
    let app =
        TestApp::spawn_with(|c| c.credentials.phishing_resistant_for_administrators = true).await;
    let browser = browser();
    app.submit_login(
        &browser,
        "/login",
        "marc.rousseau@niort.example",
        "Demo-Passerelle-Admin-2026!",
    )
    .await;
    let console = browser.get(app.url("/console")).send().await.unwrap();
    assert_eq!(location(&console), "/compte/cles-d-acces");
    // On an issuer without a domain name the page says why it cannot offer one.
    let page = visit(&browser, &app.url("/compte/cles-d-acces")).await;
    assert!(page.text().await.unwrap().contains("nom de domaine"));
}

#[tokio::test]
async fn a_person_logs_in_with_a_passkey_alone_in_chromium() {
    let (app, origin, _driver, c) = with_authenticator().await;
    let at = |path: &str| format!("{origin}{path}");
    signed_in_as_claire(&c, &origin).await;
    c.goto(&at("/compte/cles-d-acces")).await.unwrap();
    name_and_add_passkey(&c, "Téléphone").await;
    assert_eq!(
        text_of(&c, "#message").await,
        "La clé « Téléphone » est ajoutée."
    );

    // Signed out, the login page offers the passkey; no email, no password.
    let secret = "alone-rp-secret-0123456789-0123456789-ab";
    let callback = stand_in_client(&app, "alone-rp", secret).await;
    c.delete_all_cookies().await.unwrap();
    let authorize = app
        .authorize_url(&[("client_id", "alone-rp"), ("redirect_uri", &callback)])
        .replace(&app.address, &origin);
    c.goto(&authorize).await.unwrap();
    click(&c, "a[href^='/login/cle-d-acces']").await;
    c.wait()
        .for_element(Locator::Css("form[data-passkey=get]"))
        .await
        .unwrap();
    let found = crate::accessibility::violations(&c).await;
    assert!(found.is_empty(), "the passkey login page: {found:?}");
    screenshot(&c, "passkey-login-1280").await;
    click(&c, "form[data-passkey=get] button[type=submit]").await;
    let landed = wait_until_on(&c, &callback).await;
    let claims = claims_after(&app, &landed, "alone-rp", secret, &callback).await;
    assert_eq!(claims["acr"], "urn:passerelle:acr:mfa");
    assert_eq!(claims["amr"], serde_json::json!(["hwk", "mfa"]));
    let account = app.account(CLAIRE).await.id.to_string();
    app.own_trace(|t| {
        t.action == "auth.login"
            && t.actor_account.as_deref() == Some(&account)
            && t.target.as_deref() == Some("passkey")
    })
    .await;
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_passkey_login_is_traced_and_counted_against_the_address() {
    let (app, _) = on_localhost().await;
    let browser = browser();
    let page = visit(&browser, &app.url("/login/cle-d-acces")).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("ceremony", hidden(&html, "ceremony").unwrap()),
        ("answer", "{\"id\":\"x\"}".to_owned()),
    ];
    let refused = browser
        .post(app.url("/login/cle-d-acces"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("n'a pas été reconnue")
    );
    let key = passerelle::accounts::throttle::ip_key("127.0.0.1".parse().unwrap());
    let attempts = app
        .state
        .stores
        .throttle
        .attempts(&key, app.state.clock.now())
        .await
        .unwrap();
    assert_eq!(attempts.recent.len(), 1);
    // The same ceremony cannot be tried again.
    let again = browser
        .post(app.url("/login/cle-d-acces"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 401);
}
