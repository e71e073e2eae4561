//! Self-service and forced password changes, and the legacy temporary-password onboarding.

use crate::helpers::*;
use passerelle::accounts::lifecycle;
use passerelle::store::AccountProfile;
use passerelle::types::{ClientId, Email, PartnerId};

const LEGACY: &str = r#"
[[service]]
client_id = "legacy-extranet"
name = "Extranet historique"
type = "confidential"
secret = "legacy-extranet-secret-0123456789-abcdef"
redirect_uris = ["https://legacy-extranet.example/cb"]
onboarding = "temporary_password"
password_policy = "monenfant"
roles = [{ code = "agent", label = "Agent" }]

[[convention]]
id = "legacy-42"
number = "HISTORIQUE-042"
kind = "monenfant"
partner = "cc-pilat-rhodanien"
services = ["legacy-extranet"]
starts_on = "2024-01-01"
quotas = [{ service = "legacy-extranet", role = "agent", maximum = 50 }]
"#;
const PERSON: &str = "marc.blanc@pilat-rhodanien.example";

async fn legacy_account(app: &TestApp) -> String {
    let file = passerelle::provision::parse(LEGACY, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, false)
        .await
        .unwrap();
    let profile = AccountProfile {
        email: Email::parse(PERSON).unwrap(),
        civility: None,
        given_name: "Marc".into(),
        family_name: "Blanc".into(),
        function: None,
        partner: Some(PartnerId::parse("cc-pilat-rhodanien").unwrap()),
        caf: None,
        services: vec![ClientId::parse("legacy-extranet").unwrap()],
        admin_roles: vec![],
    };
    lifecycle::create_account(&app.state, profile)
        .await
        .unwrap();
    app.grant(PERSON, "legacy-extranet", "agent").await;
    app.grant(PERSON, DEMO_ID, "utilisateur").await;
    let mail = app.mails_to(PERSON).pop().expect("a mail");
    assert_eq!(mail.subject, "Votre mot de passe temporaire Passerelle");
    let marker = "Votre mot de passe temporaire est : ";
    let start = mail.text.find(marker).expect("the temporary password") + marker.len();
    let password: String = mail.text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric())
        .collect();
    assert_eq!(password.len(), 12);
    password
}

/// Submits the password-change page reached at `path`.
async fn change(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    current: &str,
    new: &str,
) -> reqwest::Response {
    let fields = [
        ("current", current),
        ("password", new),
        ("confirmation", new),
    ];
    app.fill(browser, path, "/compte/mot-de-passe", &fields)
        .await
}

#[tokio::test]
async fn a_temporary_password_works_once_and_must_be_replaced_before_any_code() {
    let app = TestApp::spawn().await;
    let temporary = legacy_account(&app).await;
    let browser = browser();
    let response = app
        .login(&browser, &app.authorize_url(&[]), PERSON, &temporary)
        .await;
    let target = location(&response);
    assert!(
        target.starts_with("/compte/mot-de-passe?request="),
        "{target}"
    );
    let page = browser
        .get(app.url(&target))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("choisissez votre propre mot de passe"));
    assert!(
        page.contains("uniquement des lettres non accentuées et des chiffres"),
        "the legacy service's policy applies"
    );

    // A second browser cannot reuse the temporary password.
    let again = app.login_fresh(PERSON, &temporary).await;
    assert_eq!(again.status(), 401);

    let done = change(&app, &browser, &target, &temporary, "Peuplier42Vent").await;
    assert!(
        redirect_params(&done, DEMO_REDIRECT).contains_key("code"),
        "the pending authorization completes"
    );
    app.assert_logs_in(PERSON, "Peuplier42Vent").await;
}

#[tokio::test]
async fn an_expired_temporary_password_is_refused() {
    let app = TestApp::spawn_with(|c| c.credentials.temporary_password_lifetime_seconds = 1).await;
    let temporary = legacy_account(&app).await;
    app.state.clock.advance(2);
    let response = app.login_fresh(PERSON, &temporary).await;
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn a_forced_change_holds_back_codes_even_in_an_open_session() {
    let app = TestApp::spawn().await;
    let browser = browser();
    app.tokens(&browser).await;
    let claire = app.account(CLAIRE).await;
    lifecycle::force_password_change(&app.state, &claire)
        .await
        .unwrap();

    let silent = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "interaction_required"
    );
    let response = browser.get(app.authorize_url(&[])).send().await.unwrap();
    let target = location(&response);
    assert!(
        target.starts_with("/compte/mot-de-passe?request="),
        "{target}"
    );
    let done = change(&app, &browser, &target, PASSWORD, "Vent-Du-Nord-2027").await;
    assert!(redirect_params(&done, DEMO_REDIRECT).contains_key("code"));
}

#[tokio::test]
async fn a_person_changes_their_password_and_ends_their_other_sessions() {
    let app = TestApp::spawn().await;
    let (first, second) = (browser(), browser());
    app.tokens(&first).await;
    let other_tokens = app.tokens(&second).await;

    let overview = first
        .get(app.url("/compte"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        overview.matches("name=\"sid\"").count(),
        2,
        "both sessions are listed"
    );
    assert!(overview.contains("(cette session)"));
    let csrf = hidden(&overview, "csrf").unwrap();
    // The row that is not "(cette session)" is the second browser's.
    let other_row = overview
        .split("<tr>")
        .find(|row| row.contains("name=\"sid\"") && !row.contains("(cette session)"))
        .expect("the other session's row");
    let other_sid = hidden(other_row, "sid").unwrap();
    let response = first
        .post(app.url("/compte/sessions/fermer"))
        .form(&[("csrf", csrf.as_str()), ("sid", other_sid.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(location(&response), "/compte");
    let ended = second
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&ended, DEMO_REDIRECT)["error"],
        "login_required"
    );

    let wrong = change(
        &app,
        &first,
        "/compte/mot-de-passe",
        "not-my-password",
        "Vent-Du-Nord-2027",
    )
    .await;
    assert_eq!(wrong.status(), 422);
    assert!(wrong.text().await.unwrap().contains("actuel est incorrect"));
    let weak = change(&app, &first, "/compte/mot-de-passe", PASSWORD, "azerty").await;
    assert_eq!(weak.status(), 422);
    let done = change(
        &app,
        &first,
        "/compte/mot-de-passe",
        PASSWORD,
        "Vent-Du-Nord-2027",
    )
    .await;
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Votre mot de passe est changé")
    );
    assert_eq!(
        app.introspect(other_tokens["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    let still = first
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert!(
        redirect_params(&still, DEMO_REDIRECT).contains_key("code"),
        "this browser got a new session"
    );
    let anonymous = browser().get(app.url("/compte")).send().await.unwrap();
    assert_eq!(location(&anonymous), "/login");
}
