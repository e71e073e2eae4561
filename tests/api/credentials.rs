//! The credential lifecycle through HTTP and the outbox: activation links, password policies,
//! history, revocation after a password change, suspension, and delivery over real SMTP.

use crate::helpers::*;
use passerelle::accounts::lifecycle;
use passerelle::accounts::password::Password;
use passerelle::store::AccountProfile;
use passerelle::types::{ClientId, Email, PartnerId};

const NEW_PERSON: &str = "lucie.martin@roumois-seine.example";
const GOOD_PASSWORD: &str = "Trompette-Bleue-27";

fn profile(email: &str) -> AccountProfile {
    AccountProfile {
        email: Email::parse(email).unwrap(),
        civility: Some("Mme".into()),
        given_name: "Lucie".into(),
        family_name: "Martin".into(),
        function: Some("Chargée de mission".into()),
        partner: Some(PartnerId::parse("cc-roumois-seine").unwrap()),
        caf: None,
        services: vec![ClientId::parse("cooperation").unwrap()],
        admin_roles: vec![],
    }
}

async fn choose(
    app: &TestApp,
    browser: &reqwest::Client,
    link: &str,
    password: &str,
    confirmation: &str,
) -> reqwest::Response {
    let action = link.split('?').next().unwrap();
    app.fill(
        browser,
        link,
        action,
        &[("password", password), ("confirmation", confirmation)],
    )
    .await
}

#[tokio::test]
async fn a_new_account_is_activated_through_its_single_use_link() {
    let app = TestApp::spawn().await;
    lifecycle::create_account(&app.state, profile(NEW_PERSON))
        .await
        .unwrap();
    app.grant(NEW_PERSON, DEMO_ID, "utilisateur").await;
    let mails = app.mails_to(NEW_PERSON);
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.subject, "Activez votre compte Passerelle");
    assert!(
        mail.text.contains("Coopération") && mail.text.contains("Caf de l'Eure"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains("72 heures"));
    assert!(mail.html.contains("Choisir mon mot de passe"));
    let link = link_in(mail, &app.issuer);
    assert!(link.starts_with("/activation?jeton="));

    let browser = browser();
    let page = browser
        .get(app.url(&link))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("au moins une majuscule"),
        "the rules are shown before typing"
    );

    let weak = choose(&app, &browser, &link, "lucie2026", "lucie2026").await;
    assert_eq!(weak.status(), 422);
    let html = weak.text().await.unwrap();
    for expected in ["une majuscule", "un caractère spécial", "ni votre nom"] {
        assert!(
            html.contains(expected),
            "failure list should contain {expected:?}"
        );
    }
    let mismatch = choose(&app, &browser, &link, GOOD_PASSWORD, "Autre-Chose-27").await;
    assert_eq!(mismatch.status(), 422);
    assert!(mismatch.text().await.unwrap().contains("différentes"));

    let done = choose(&app, &browser, &link, GOOD_PASSWORD, GOOD_PASSWORD).await;
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Votre mot de passe est enregistré")
    );
    let again = browser.get(app.url(&link)).send().await.unwrap();
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("déjà été utilisé"));

    let notification = app.mails_to(NEW_PERSON).pop().unwrap();
    assert_eq!(
        notification.subject,
        "Votre mot de passe Passerelle a été modifié"
    );
    assert!(
        !notification.text.contains(GOOD_PASSWORD),
        "a mail never carries the password"
    );

    app.assert_logs_in(NEW_PERSON, GOOD_PASSWORD).await;
}

#[tokio::test]
async fn a_newer_link_replaces_the_older_and_links_expire() {
    let app = TestApp::spawn_with(|c| c.credentials.activation_link_lifetime_seconds = 2).await;
    let account = lifecycle::create_account(&app.state, profile(NEW_PERSON))
        .await
        .unwrap();
    let first = link_in(&app.mails_to(NEW_PERSON)[0], &app.issuer);
    lifecycle::send_activation(&app.state, &account)
        .await
        .unwrap();
    let links: Vec<String> = app
        .mails_to(NEW_PERSON)
        .iter()
        .map(|m| link_in(m, &app.issuer))
        .collect();
    assert_eq!(links.len(), 2);
    let second = links
        .into_iter()
        .find(|l| l != &first)
        .expect("a second, different link");
    let old = browser().get(app.url(&first)).send().await.unwrap();
    assert_eq!(old.status(), 400);
    assert!(old.text().await.unwrap().contains("plus récent"));
    assert_eq!(
        browser()
            .get(app.url(&second))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.state.clock.advance(2);
    let expired = browser().get(app.url(&second)).send().await.unwrap();
    assert_eq!(expired.status(), 400);
    assert!(expired.text().await.unwrap().contains("expiré"));
    let unknown = browser()
        .get(app.url("/activation?jeton=nothing"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 400);
}

#[tokio::test]
async fn creating_an_account_twice_or_for_an_unknown_partner_is_refused() {
    let app = TestApp::spawn().await;
    let existing = lifecycle::create_account(&app.state, profile(CLAIRE)).await;
    assert!(
        matches!(existing, Err(lifecycle::LifecycleError::Invalid(m)) if m.contains("already exists"))
    );
    let mut unknown = profile(NEW_PERSON);
    unknown.partner = Some(PartnerId::parse("nowhere").unwrap());
    assert!(matches!(
        lifecycle::create_account(&app.state, unknown).await,
        Err(lifecycle::LifecycleError::Invalid(_))
    ));
    assert!(app.mails().is_empty());
}

#[tokio::test]
async fn a_password_change_refuses_recent_passwords_and_revokes_every_session_and_token() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let tokens = app.tokens(&browser).await;
    let claire = app.account(CLAIRE).await;

    let reused =
        lifecycle::check_new_password(&app.state, &claire, &Password::new(PASSWORD.into()))
            .await
            .unwrap();
    assert!(
        reused
            .iter()
            .any(|f| f.french().contains("derniers mots de passe")),
        "{reused:?}"
    );
    lifecycle::set_password(&app.state, &claire, Password::new(GOOD_PASSWORD.into()))
        .await
        .unwrap();

    assert_eq!(
        app.introspect(tokens["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    let refresh = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_oauth_error(refresh, 400, "invalid_grant").await;
    let silent = browser
        .get(app.authorize_url(&[("prompt", "none")]))
        .send()
        .await
        .unwrap();
    assert_eq!(
        redirect_params(&silent, DEMO_REDIRECT)["error"],
        "login_required"
    );
    assert_eq!(
        app.mails_to(CLAIRE).last().unwrap().subject,
        "Votre mot de passe Passerelle a été modifié"
    );

    let claire = app.account(CLAIRE).await;
    let back = lifecycle::check_new_password(&app.state, &claire, &Password::new(PASSWORD.into()))
        .await
        .unwrap();
    assert!(!back.is_empty(), "the previous password is in the history");
}

#[tokio::test]
async fn a_suspended_account_cannot_log_in_nor_use_its_tokens_and_is_told_after_its_password() {
    let app = TestApp::spawn().await;
    let tokens = app.tokens(&browser()).await;
    let claire = app.account(CLAIRE).await;
    lifecycle::set_suspended(&app.state, &claire, true, Some("test"))
        .await
        .unwrap();
    assert_eq!(
        app.introspect(tokens["access_token"].as_str().unwrap())
            .await["active"],
        false
    );
    // With the right password the person is told, and whom to ask; a wrong one still gets
    // the generic answer, so the page tells nothing to whoever does not know the password.
    let response = app.login_fresh(CLAIRE, PASSWORD).await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains("Votre compte est suspendu"), "{page}");
    assert!(
        page.contains("Nathalie Girard") && !page.contains("claire.dubois@roumois"),
        "whom to ask, never herself: {page}"
    );
    let response = app.login_fresh(CLAIRE, "Pas-Le-Bon-1!").await;
    assert_eq!(response.status(), 401);
    assert!(!response.text().await.unwrap().contains("suspendu"));
    // A partner's person is pointed to whom the convention names (as the mails do).
    let sophie = app.account("sophie.lambert@niort.example").await;
    lifecycle::set_suspended(&app.state, &sophie, true, Some("test"))
        .await
        .unwrap();
    let page = app
        .login_fresh("sophie.lambert@niort.example", PASSWORD)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(
            "Marc Rousseau (marc.rousseau@niort.example), responsable des habilitations de votre organisme"
        ),
        "{page}"
    );

    let claire = app.account(CLAIRE).await;
    lifecycle::set_suspended(&app.state, &claire, false, Some("test"))
        .await
        .unwrap();
    app.assert_logs_in(CLAIRE, PASSWORD).await;
}

/// aiosmtpd on a free port, writing what it receives to a maildir; stopped when dropped.
struct SmtpServer {
    child: std::process::Child,
    port: u16,
    maildir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn smtp_server() -> SmtpServer {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let maildir = tempfile::tempdir().unwrap();
    let child = std::process::Command::new("python3")
        .args([
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            &format!("127.0.0.1:{port}"),
            "-c",
            "aiosmtpd.handlers.Mailbox",
        ])
        .arg(maildir.path().join("box"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("python3 -m aiosmtpd (tests/run.sh installs aiosmtpd)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    SmtpServer {
        child,
        port,
        maildir,
    }
}

#[tokio::test]
async fn activation_mail_is_delivered_through_a_real_smtp_server() {
    let smtp = smtp_server().await;
    let port = smtp.port;
    let app = TestApp::spawn_with(|c| {
        c.mail.smtp_host = "127.0.0.1".into();
        c.mail.smtp_port = port;
        c.mail.smtp_tls = "none".into();
    })
    .await;
    lifecycle::create_account(&app.state, profile(NEW_PERSON))
        .await
        .unwrap();
    assert!(
        app.mails().is_empty(),
        "nothing in the outbox when SMTP is configured"
    );
    let new_dir = smtp.maildir.path().join("box").join("new");
    let mut delivered = Vec::new();
    for _ in 0..100 {
        if let Ok(entries) = std::fs::read_dir(&new_dir) {
            delivered = entries
                .filter_map(|e| e.ok())
                .map(|e| std::fs::read(e.path()).unwrap())
                .collect();
            if !delivered.is_empty() {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(delivered.len(), 1, "one message delivered over SMTP");
    let mail = parse_mail(&delivered[0]);
    assert_eq!(mail.to, NEW_PERSON);
    assert!(link_in(&mail, &app.issuer).starts_with("/activation?jeton="));
}
