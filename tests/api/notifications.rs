//! People are mailed what is done to their access — suspension, reactivation, closure, a
//! habilitation suspended or withdrawn, a delegation that ends, a password change the Caf asks
//! for — with the reason and whom to contact; a suspended person asking for a new password
//! keeps the neutral page and is told by mail why no link comes.

use crate::helpers::*;
use crate::throttling::{ask_reset, wait_for_mail};
use passerelle::habilitations::{Actor, manage};

const CAF79: &str = "habilitations@caf79.example";
const MARC: &str = "marc.rousseau@niort.example";
const CONTACT: &str =
    "Marc Rousseau (marc.rousseau@niort.example), responsable des habilitations de votre organisme";

async fn actor(app: &TestApp, email: &str) -> Actor {
    Actor::load(&app.state, &app.account(email).await.id)
        .await
        .unwrap()
}

#[tokio::test]
async fn people_are_told_what_was_done_to_their_access_and_whom_to_contact() {
    // The security officers' alerts (a delegated manager named is an administrative role
    // granted) are mailed from a background task: off here, where every mail is counted.
    let app = TestApp::spawn_with(|c| c.alerts.enabled = false).await;
    let quiet = app.mails().len();
    let caf = actor(&app, CAF79).await;
    let marc = actor(&app, MARC).await;
    let sophie = app.account(SOPHIE).await;

    // Suspended by the Caf: mailed with the reason and the partner's contact…
    manage::suspend_person(&app.state, &caf, &sophie.id, true, Some("enquête en cours"))
        .await
        .unwrap();
    let mail = wait_for_mail(&app, SOPHIE, "Votre accès aux services est suspendu").await;
    assert!(
        mail.text.contains("Motif indiqué : enquête en cours"),
        "{}",
        mail.text
    );
    assert!(mail.text.contains(CONTACT), "{}", mail.text);

    // …told on login once the password is right…
    let response = app.login_fresh(SOPHIE, PASSWORD).await;
    let page = response.text().await.unwrap();
    assert!(page.contains("Votre compte est suspendu"), "{page}");

    // …and a reset request keeps the neutral page, the mail says why no link comes.
    let asked = ask_reset(&app, SOPHIE).await;
    assert_eq!(asked.status(), 200);
    let why = wait_for_mail(&app, SOPHIE, "Votre demande de nouveau mot de passe").await;
    assert!(why.text.contains("Votre compte Passerelle est suspendu"));
    assert!(!why.text.contains("/reinitialisation"), "no link");
    assert!(why.text.contains(CONTACT));

    // Reactivated: mailed too.
    manage::suspend_person(&app.state, &caf, &sophie.id, false, Some("enquête close"))
        .await
        .unwrap();
    wait_for_mail(&app, SOPHIE, "Votre accès aux services est rétabli").await;

    // A habilitation suspended, then withdrawn, by the partner's administrator.
    let t1 = app
        .state
        .stores
        .habilitations
        .habilitations_of_account(&sophie.id)
        .await
        .unwrap()
        .into_iter()
        .find(|h| h.role.as_str() == "T1")
        .unwrap();
    manage::change_status(
        &app.state,
        &marc,
        &t1.id,
        manage::StatusChange::Suspend,
        Some("absence"),
    )
    .await
    .unwrap();
    let mail = wait_for_mail(&app, SOPHIE, "Une de vos habilitations est suspendue").await;
    assert!(
        mail.text
            .contains("Le rôle « Action sociale (T1) » du service « CDAP"),
        "{}",
        mail.text
    );
    manage::change_status(
        &app.state,
        &marc,
        &t1.id,
        manage::StatusChange::Close,
        Some("changement de poste"),
    )
    .await
    .unwrap();
    wait_for_mail(&app, SOPHIE, "Une de vos habilitations vous est retirée").await;

    // The Caf asks for a new password: mailed, and the page says who asked.
    manage::force_password_change(&app.state, &caf, &sophie.id, Some("mot de passe exposé"))
        .await
        .unwrap();
    wait_for_mail(
        &app,
        SOPHIE,
        "Changement de mot de passe demandé par la Caf",
    )
    .await;
    let browser = browser();
    let response = app.submit_login(&browser, "/login", SOPHIE, PASSWORD).await;
    assert_eq!(response.status(), 303);
    let page = browser
        .get(app.url("/compte/mot-de-passe"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("La Caf vous demande de choisir un nouveau mot de passe"),
        "{page}"
    );

    // Joining and leaving a group: told what it gives.
    let group = app
        .state
        .stores
        .habilitations
        .groups_of_partner(&sophie.profile.partner.clone().unwrap())
        .await
        .unwrap()
        .into_iter()
        .find(|g| g.name == "Service instructeur RSA")
        .unwrap();
    manage::add_member(&app.state, &marc, &group.id, &sophie.id)
        .await
        .unwrap();
    let joined = wait_for_mail(&app, SOPHIE, "Vous rejoignez un groupe d'habilitations").await;
    assert!(
        joined.text.contains("groupe « Service instructeur RSA »")
            && joined.text.contains("Services instructeurs (T4)"),
        "{}",
        joined.text
    );
    manage::remove_member(
        &app.state,
        &marc,
        &group.id,
        &sophie.id,
        Some("fin de renfort"),
    )
    .await
    .unwrap();
    wait_for_mail(&app, SOPHIE, "Vous quittez un groupe d'habilitations").await;

    // The delegated manager whose delegation ends is told.
    let thomas = app.account("thomas.petit@niort.example").await;
    manage::name_delegated_manager(
        &app.state,
        &marc,
        &thomas.id,
        vec![],
        Some("réorganisation"),
    )
    .await
    .unwrap();
    wait_for_mail(
        &app,
        "thomas.petit@niort.example",
        "Vous n'êtes plus gestionnaire délégué",
    )
    .await;

    // Closed: the last mail it gets.
    manage::close_person(&app.state, &marc, &sophie.id, Some("départ le 31/12"))
        .await
        .unwrap();
    wait_for_mail(&app, SOPHIE, "Votre accès aux services est fermé").await;
    assert!(app.mails().len() > quiet);

    // Provisioning again writes nothing new and mails no one.
    let before = app.mails().len();
    let demo =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/demo.toml")).unwrap();
    let file = passerelle::provision::parse(&demo, "demo").unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();
    assert_eq!(app.mails().len(), before, "provisioning mails no one");
}

/// The Caf edits a convention's contacts in the console; the mails then name them.
#[tokio::test]
async fn the_contacts_the_caf_enters_are_the_ones_the_mails_name() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    let browser = browser();
    let response = app
        .submit_login(&browser, "/login", CAF79, "Demo-Passerelle-Admin-2026!")
        .await;
    assert_eq!(response.status(), 303);
    let page = browser
        .get(app.url("/console/partenaires/ville-de-niort"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Ajouter un interlocuteur à la convention MCP-079-2023-0101"));
    let csrf = hidden(&page, "csrf").unwrap();
    let post = |form: Vec<(&'static str, String)>| {
        let (app, browser) = (&app, &browser);
        async move {
            browser
                .post(app.url("/console/conventions/mcp-79-niort/interlocuteurs"))
                .form(&form)
                .send()
                .await
                .unwrap()
        }
    };
    let refused = post(vec![
        ("csrf", csrf.clone()),
        ("action", "add".into()),
        ("side", "caf".into()),
        ("role", "habilitation_officer".into()),
        ("name", "Agnès Roux".into()),
    ])
    .await;
    assert_eq!(refused.status(), 422, "a contact can be reached");
    let added = post(vec![
        ("csrf", csrf.clone()),
        ("action", "add".into()),
        ("side", "caf".into()),
        ("role", "habilitation_officer".into()),
        ("name", "Agnès Roux".into()),
        ("email", "habilitations@caf79.example".into()),
    ])
    .await;
    assert_eq!(added.status(), 303);
    assert_eq!(
        location(&added),
        "/console/partenaires/ville-de-niort?fait=interlocuteurs#message"
    );
    // The first contact (Marc Rousseau) is removed: the mail names the Caf's instead.
    let removed = post(vec![
        ("csrf", csrf.clone()),
        ("action", "remove".into()),
        ("index", "0".into()),
    ])
    .await;
    assert_eq!(removed.status(), 303);
    let caf = actor(&app, CAF79).await;
    let sophie = app.account(SOPHIE).await;
    manage::suspend_person(&app.state, &caf, &sophie.id, true, Some("contrôle"))
        .await
        .unwrap();
    let mail = wait_for_mail(&app, SOPHIE, "Votre accès aux services est suspendu").await;
    assert!(
        mail.text.contains(
            "Agnès Roux (habilitations@caf79.example), responsable des habilitations à la Caf"
        ),
        "{}",
        mail.text
    );
    assert!(!mail.text.contains("Marc Rousseau"), "{}", mail.text);
}
