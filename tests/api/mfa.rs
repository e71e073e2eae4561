//! The TOTP second factor: enrolment, the second login step, single use of codes, recovery
//! codes, services that require it, and step-up through acr_values.

use crate::code_flow::base64_decode;
use crate::helpers::*;

const MFA_SERVICE: &str = r#"
[[service]]
client_id = "sensitive-app"
name = "Application sensible"
type = "confidential"
secret = "sensitive-app-secret-0123456789-abcdefgh"
redirect_uris = ["https://sensitive.example/cb"]
mfa = "required"
roles = [{ code = "agent", label = "Agent" }]

[[convention]]
id = "sensitive-27"
number = "SENSIBLE-027"
kind = "mon_compte_partenaire"
partner = "cc-roumois-seine"
services = ["sensitive-app"]
starts_on = "2024-01-01"
quotas = [{ service = "sensitive-app", role = "agent", maximum = 50 }]

[[group]]
partner = "cc-roumois-seine"
name = "Agents habilités à l'application sensible"
members = ["claire.dubois@roumois-seine.example"]
habilitations = [{ service = "sensitive-app", role = "agent" }]
"#;

pub(crate) fn code_at(secret_base32: &str, offset_seconds: u64) -> String {
    let secret = totp_rs::Secret::try_from_base32(secret_base32).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build_noncompliant();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + offset_seconds).to_string()
}

fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} in {html}"))
        + start.len();
    &html[from..from + html[from..].find(end).unwrap()]
}

/// Goes through the enrolment page reached at `path`; returns the secret, the recovery codes
/// and the answer to "continue".
pub(crate) async fn enrol(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
) -> (String, Vec<String>, reqwest::Response) {
    let page = browser
        .get(app.url(path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("data:image/png;base64,"), "a QR code");
    assert!(page.contains("otpauth://totp/"), "the otpauth URI");
    let secret = between(&page, "<code id=\"cle\">", "<").to_owned();
    let mut form = vec![
        ("csrf", hidden(&page, "csrf").unwrap()),
        ("code", code_at(&secret, 0)),
    ];
    if let Some(r) = hidden(&page, "request") {
        form.push(("request", r));
    }
    let done = browser
        .post(app.url("/compte/double-authentification"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let html = done.text().await.unwrap();
    let codes: Vec<String> = between(&html, "<ul id=\"codes-secours\">", "</ul>")
        .split("<code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    let mut next = vec![("csrf", hidden(&html, "csrf").unwrap())];
    if let Some(r) = hidden(&html, "request") {
        next.push(("request", r));
    }
    let response = browser
        .post(app.url("/compte/double-authentification/continuer"))
        .form(&next)
        .send()
        .await
        .unwrap();
    (secret, codes, response)
}

pub(crate) fn id_token_claims(tokens: &serde_json::Value) -> serde_json::Value {
    let id_token = tokens["id_token"].as_str().unwrap();
    serde_json::from_slice(&base64_decode(id_token.split('.').nth(1).unwrap())).unwrap()
}

/// Logs in with the password; expects the second-factor page and submits `code` there.
async fn login_with_code(app: &TestApp, code: &str) -> reqwest::Response {
    let browser = browser();
    let response = app
        .login(&browser, &app.authorize_url(&[]), CLAIRE, PASSWORD)
        .await;
    let step = location(&response);
    assert!(step.starts_with("/login/otp?request="), "{step}");
    app.fill(&browser, &step, "/login/otp", &[("code", code)])
        .await
}

#[tokio::test]
async fn an_enrolled_person_gives_a_code_once_per_login_and_the_id_token_says_so() {
    let app = TestApp::spawn().await;
    let browser = browser();
    app.submit_login(&browser, "/login", CLAIRE, PASSWORD).await;
    let (secret, recovery, response) =
        enrol(&app, &browser, "/compte/double-authentification").await;
    assert_eq!(location(&response), "/compte");

    // The enrolment used the current step: the next one is needed now.
    let code = code_at(&secret, 30);
    let response = login_with_code(&app, &code).await;
    let code_param = redirect_params(&response, DEMO_REDIRECT)["code"].clone();
    let tokens: serde_json::Value = app.exchange(&code_param).await.json().await.unwrap();
    let claims = id_token_claims(&tokens);
    assert_eq!(claims["acr"], "urn:passerelle:acr:mfa");
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));

    let replay = login_with_code(&app, &code).await;
    assert_eq!(replay.status(), 401, "a TOTP code is accepted once");
    let rescue = login_with_code(&app, &recovery[3].to_uppercase()).await;
    assert!(
        redirect_params(&rescue, DEMO_REDIRECT).contains_key("code"),
        "a recovery code works"
    );
    let again = login_with_code(&app, &recovery[3]).await;
    assert_eq!(again.status(), 401, "a recovery code works once");
    // Without the second factor the session does not authenticate anyone.
    let half = crate::helpers::browser();
    app.login(&half, &app.authorize_url(&[]), CLAIRE, PASSWORD)
        .await;
    let silent = half
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "login_required"
    );
}

#[tokio::test]
async fn a_service_that_requires_mfa_makes_the_person_enrol_before_the_code() {
    let app = TestApp::spawn().await;
    let file = passerelle::provision::parse(MFA_SERVICE, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, false)
        .await
        .unwrap();
    let browser = browser();
    let url = app.authorize_url(&[
        ("client_id", "sensitive-app"),
        ("redirect_uri", "https://sensitive.example/cb"),
    ]);
    let response = app.login(&browser, &url, CLAIRE, PASSWORD).await;
    let target = location(&response);
    assert!(
        target.starts_with("/compte/double-authentification?request="),
        "{target}"
    );
    let (_, _, response) = enrol(&app, &browser, &target).await;
    let params = redirect_params(&response, "https://sensitive.example/cb");
    assert!(params.contains_key("code"));
}

#[tokio::test]
async fn acr_values_ask_for_a_second_factor_on_top_of_a_password_session() {
    let app = TestApp::spawn().await;
    let browser = browser();
    app.tokens(&browser).await;
    let mfa = [("acr_values", "urn:passerelle:acr:mfa")];
    let silent = browser
        .get(app.authorize_url(&[mfa[0], ("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "interaction_required"
    );
    let response = browser.get(app.authorize_url(&mfa)).send().await.unwrap();
    let target = location(&response);
    assert!(
        target.starts_with("/compte/double-authentification?request="),
        "{target}"
    );
    let (_, _, response) = enrol(&app, &browser, &target).await;
    let code = redirect_params(&response, DEMO_REDIRECT)["code"].clone();
    let tokens: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    assert_eq!(id_token_claims(&tokens)["acr"], "urn:passerelle:acr:mfa");
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    assert!(
        discovery["acr_values_supported"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "urn:passerelle:acr:mfa")
    );
}

#[tokio::test]
async fn holders_of_an_administrative_role_need_a_second_factor_and_the_administrator_profile() {
    let app = TestApp::spawn().await;
    let file = passerelle::provision::parse(
        "[[account]]\nemail = \"rssi@roumois-seine.example\"\ngiven_name = \"Rose\"\nfamily_name = \"Sigal\"\npartner = \"cc-roumois-seine\"\nadmin_roles = [\"security_officer\"]\npassword = \"Demo-Passerelle-2026!\"\nhabilitations = [{ service = \"demo-app\", role = \"utilisateur\" }]\n",
        "test",
    )
    .unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();
    let account = app.account("rssi@roumois-seine.example").await;
    let policy = passerelle::accounts::lifecycle::applicable_policy(&app.state, &account)
        .await
        .unwrap();
    assert_eq!(policy.name, "administrator");

    let browser = browser();
    let response = app
        .login(
            &browser,
            &app.authorize_url(&[]),
            "rssi@roumois-seine.example",
            PASSWORD,
        )
        .await;
    let target = location(&response);
    assert!(
        target.starts_with("/compte/double-authentification?request="),
        "{target}"
    );
    let (_, _, response) = enrol(&app, &browser, &target).await;
    let code = redirect_params(&response, DEMO_REDIRECT)["code"].clone();
    let tokens: serde_json::Value = app.exchange(&code).await.json().await.unwrap();
    assert_eq!(id_token_claims(&tokens)["acr"], "urn:passerelle:acr:mfa");
}

#[tokio::test]
async fn an_administrator_lands_on_the_console_after_login_and_after_enrolment() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let response = app
        .submit_login(
            &browser,
            "/login",
            "marc.rousseau@niort.example",
            "Demo-Passerelle-Admin-2026!",
        )
        .await;
    assert_eq!(location(&response), "/console", "not the welcome page");
    let response = browser.get(app.url("/console")).send().await.unwrap();
    assert_eq!(location(&response), "/compte/double-authentification");
    let (_, _, response) = enrol(&app, &browser, "/compte/double-authentification").await;
    assert_eq!(
        location(&response),
        "/console",
        "back to the console, not /compte"
    );
    let response = browser.get(app.url("/console")).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn the_caf_resets_a_lost_second_factor_and_the_person_enrols_again() {
    let app = TestApp::spawn().await;
    let marc = browser();
    let admin = "marc.rousseau@niort.example";
    let password = "Demo-Passerelle-Admin-2026!";
    app.submit_login(&marc, "/login", admin, password).await;
    enrol(&app, &marc, "/compte/double-authentification").await;
    // Marc lost his phone: the Caf's officer (with her own second factor) resets it.
    let officer = browser();
    app.submit_login(&officer, "/login", "habilitations@caf79.example", password)
        .await;
    enrol(&app, &officer, "/compte/double-authentification").await;
    let marc_id = app.account(admin).await.id;
    let path = format!("/console/personnes/{marc_id}");
    let page = officer
        .get(app.url(&path))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Réinitialiser les seconds facteurs"));
    let csrf = hidden(&page, "csrf").unwrap();
    let response = officer
        .post(app.url(&format!("{path}/second-facteur")))
        .form(&[
            ("csrf", csrf.as_str()),
            ("reason", "Téléphone perdu"),
            ("confirme", "oui"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303, "{:?}", response.text().await);
    assert!(
        app.state
            .stores
            .factors
            .get_totp(&marc_id)
            .await
            .unwrap()
            .is_none()
    );
    // His sessions ended; at his next login he enrols a new factor before the console.
    let response = marc.get(app.url("/console")).send().await.unwrap();
    assert_eq!(location(&response), "/login");
    let again = browser();
    app.submit_login(&again, "/login", admin, password).await;
    let response = again.get(app.url("/console")).send().await.unwrap();
    assert_eq!(location(&response), "/compte/double-authentification");
}
