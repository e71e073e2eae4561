//! Centralized mode carried to its end (MCP agreement §9.2): the partner's administrator files
//! requests in the console, the Caf's habilitation officer accepts (the change is made, by
//! the officer, through the same checked command) or refuses with a reason; both are mailed,
//! and the partner's history says so.

use crate::helpers::*;
use passerelle::habilitations::{Actor, manage};
use passerelle::store::HabilitationMode;
use passerelle::types::ConventionId;

const ADMIN_PASSWORD: &str = "Demo-Passerelle-Admin-2026!";
const CAF79: &str = "habilitations@caf79.example";
const MARC: &str = "marc.rousseau@niort.example";

pub(crate) async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = browser();
    let response = app
        .submit_login(&browser, "/login", email, ADMIN_PASSWORD)
        .await;
    assert_eq!(response.status(), 303, "{email} logs in");
    browser
}

pub(crate) async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let response = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

async fn post(
    app: &TestApp,
    browser: &reqwest::Client,
    path: &str,
    form: &[(&str, &str)],
) -> reqwest::Response {
    browser.post(app.url(path)).form(form).send().await.unwrap()
}

/// The request ids of the Caf's queue page, in its order.
fn queued(page: &str) -> Vec<String> {
    page.split("action=\"/console/demandes/")
        .skip(1)
        .map(|s| s[..s.find('"').unwrap()].to_owned())
        .collect()
}

#[tokio::test]
async fn the_caf_accepts_one_request_and_refuses_another_and_both_sides_are_told() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    let officer = Actor::load(&app.state, &app.account(CAF79).await.id)
        .await
        .unwrap();
    manage::switch_mode(
        &app.state,
        &officer,
        &ConventionId::parse("mcp-79-niort").unwrap(),
        HabilitationMode::Centralized,
        Some("partenaire sans administrateur disponible"),
    )
    .await
    .unwrap();

    // The partner's administrator sees the request forms instead of the management forms.
    let marc = signed_in(&app, MARC).await;
    let partner = page(&app, &marc, "/console/partenaires/ville-de-niort").await;
    assert!(partner.contains("id=\"demandes\""), "{partner}");
    assert!(partner.contains("Demander la création d'un compte"));
    assert!(!partner.contains("Créer la personne"));
    let csrf = hidden(&partner, "csrf").unwrap();
    let response = post(
        &app,
        &marc,
        "/console/partenaires/ville-de-niort/demandes",
        &[
            ("csrf", &csrf),
            ("kind", "create_person"),
            ("email", "julie.martin@niort.example"),
            ("civility", "Mme"),
            ("given_name", "Julie"),
            ("family_name", "Martin"),
            ("function", "Instructrice RSA"),
            ("reason", "arrivée le 1er décembre"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert_eq!(
        location(&response),
        "/console/partenaires/ville-de-niort?fait=demande#message"
    );
    let twice = post(
        &app,
        &marc,
        "/console/partenaires/ville-de-niort/demandes",
        &[
            ("csrf", &csrf),
            ("kind", "create_person"),
            ("email", "julie.martin@niort.example"),
            ("civility", "Mme"),
            ("given_name", "Julie"),
            ("family_name", "Martin"),
            ("function", "Instructrice RSA"),
        ],
    )
    .await;
    assert_eq!(twice.status(), 409, "the same request is not filed twice");
    let sophie = app.account(SOPHIE).await;
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
    assert!(partner.contains(&format!("name=\"habilitation\" value=\"{}\"", t1.id)));
    let response = post(
        &app,
        &marc,
        "/console/partenaires/ville-de-niort/demandes",
        &[
            ("csrf", &csrf),
            ("kind", "withdraw"),
            ("habilitation", t1.id.as_str()),
            ("reason", "changement de poste"),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    assert!(
        app.state
            .stores
            .accounts
            .find_account_by_email(
                &passerelle::types::Email::parse("julie.martin@niort.example").unwrap()
            )
            .await
            .unwrap()
            .is_none(),
        "nothing is done before the Caf decides"
    );
    let told = app.mails_to(CAF79);
    assert_eq!(told.len(), 2, "the Caf's officer is mailed each request");
    assert!(told[0].text.contains("Marc Rousseau"));
    assert!(told.iter().any(|m| m.text.contains(
        "créer le compte de Julie Martin (julie.martin@niort.example, Instructrice RSA)"
    )));

    // The Caf's queue names everything; the partner cannot decide.
    let caf = signed_in(&app, CAF79).await;
    let queue = page(&app, &caf, "/console/demandes").await;
    assert!(queue.contains("Demandes en attente (2)"), "{queue}");
    assert!(queue.contains("Mairie de Niort : créer le compte de Julie Martin"));
    assert!(queue.contains("retirer le rôle « Action sociale (T1) » du service « CDAP"));
    assert!(queue.contains("Motif : changement de poste"));
    assert_eq!(queued(&queue).len(), 2);
    let requests = app
        .state
        .stores
        .habilitations
        .requests_of_partner(
            &passerelle::types::PartnerId::parse("ville-de-niort").unwrap(),
            10,
        )
        .await
        .unwrap();
    let id_of = |code: &str| {
        requests
            .iter()
            .find(|r| r.change.code() == code)
            .unwrap()
            .id
            .to_string()
    };
    let ids = [id_of("create_person"), id_of("withdraw")];
    let caf_csrf = hidden(&queue, "csrf").unwrap();
    let response = post(
        &app,
        &marc,
        &format!("/console/demandes/{}", ids[0]),
        &[("csrf", &csrf), ("decision", "approve")],
    )
    .await;
    assert_eq!(response.status(), 403, "the partner does not decide");

    // Accepted: the account exists, its activation is mailed, Marc is told.
    let response = post(
        &app,
        &caf,
        &format!("/console/demandes/{}", ids[0]),
        &[("csrf", &caf_csrf), ("decision", "approve")],
    )
    .await;
    assert_eq!(response.status(), 303);
    let julie = app.account("julie.martin@niort.example").await;
    assert_eq!(julie.profile.function.as_deref(), Some("Instructrice RSA"));
    assert_eq!(app.mails_to("julie.martin@niort.example").len(), 1);
    let to_marc = app.mails_to(MARC);
    assert!(
        to_marc
            .iter()
            .any(|m| m.subject.contains("acceptée") && m.text.contains("Julie Martin")),
        "{:?}",
        to_marc.iter().map(|m| &m.subject).collect::<Vec<_>>()
    );
    let again = post(
        &app,
        &caf,
        &format!("/console/demandes/{}", ids[0]),
        &[("csrf", &caf_csrf), ("decision", "approve")],
    )
    .await;
    assert_eq!(again.status(), 409, "a request is decided once");

    // Refused: a reason is required, the habilitation stays, Marc gets the reason.
    let response = post(
        &app,
        &caf,
        &format!("/console/demandes/{}", ids[1]),
        &[("csrf", &caf_csrf), ("decision", "refuse")],
    )
    .await;
    assert_eq!(response.status(), 422);
    let response = post(
        &app,
        &caf,
        &format!("/console/demandes/{}", ids[1]),
        &[
            ("csrf", &caf_csrf),
            ("decision", "refuse"),
            (
                "reason",
                "Sophie Lambert garde l'action sociale jusqu'à fin décembre",
            ),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let still = app
        .state
        .stores
        .habilitations
        .get_habilitation(&t1.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(still.status, passerelle::store::HabilitationStatus::Active);
    assert!(
        app.mails_to(MARC)
            .iter()
            .any(|m| m.subject.contains("refusée") && m.text.contains("garde l'action sociale"))
    );
    let queue = page(&app, &caf, "/console/demandes").await;
    assert!(queue.contains("Aucune demande en attente."));

    // The partner sees the outcome, and the history says who did what.
    let partner = page(&app, &marc, "/console/partenaires/ville-de-niort").await;
    assert!(partner.contains("acceptée et réalisée"));
    assert!(partner.contains("refusée"));
    let history = &partner[partner.find("id=\"historique\"").unwrap()..];
    assert!(
        history.contains("a demandé à la Caf la création d'un compte"),
        "{history}"
    );
    assert!(
        history.contains("a accepté la demande du partenaire portant sur la création d'un compte")
    );
    assert!(
        history.contains(
            "a refusé la demande du partenaire portant sur le retrait d'une habilitation"
        )
    );
}

/// A centralized partner without an administrator has its yearly review done by the Caf; a
/// partner with one does its own.
#[tokio::test]
async fn the_caf_reviews_a_centralized_partner_that_has_no_administrator() {
    let app = TestApp::spawn().await;
    let caf42 = Actor::load(
        &app.state,
        &app.account("habilitations@caf42.example").await.id,
    )
    .await
    .unwrap();
    let pilat = passerelle::types::PartnerId::parse("cc-pilat-rhodanien").unwrap();
    let review = passerelle::habilitations::review::start(&app.state, &caf42, &pilat)
        .await
        .expect("the Caf reviews Pilat Rhodanien, centralized, without administrator");
    assert_eq!(review.partner, pilat);
    let caf79 = Actor::load(&app.state, &app.account(CAF79).await.id)
        .await
        .unwrap();
    let niort = passerelle::types::PartnerId::parse("ville-de-niort").unwrap();
    let refused = passerelle::habilitations::review::start(&app.state, &caf79, &niort).await;
    assert!(
        matches!(
            refused,
            Err(passerelle::habilitations::HabilitationError::Forbidden(_))
        ),
        "Niort has its administrator: {refused:?}"
    );
}

/// The Caf completes the review of a centralized partner without administrator: its officers
/// are mailed the report, which reads as a page (people and group members by name, services and
/// roles by label, who decided and when) and whose signature the console checks; a changed
/// copy fails the check.
#[tokio::test]
async fn a_completed_review_is_sent_to_the_caf_as_a_readable_signed_report() {
    use passerelle::habilitations::review;
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    let group = r#"
[[group]]
partner = "cc-pilat-rhodanien"
name = "Relais petite enfance"
members = ["julien.moreau@pilat-rhodanien.example"]
habilitations = [{ service = "demo-app", role = "utilisateur" }]
"#;
    let file = passerelle::provision::parse(group, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, true)
        .await
        .unwrap();
    let officer_email = "habilitations@caf42.example";
    let officer = Actor::load(&app.state, &app.account(officer_email).await.id)
        .await
        .unwrap();
    let pilat = passerelle::types::PartnerId::parse("cc-pilat-rhodanien").unwrap();
    let started = review::start(&app.state, &officer, &pilat).await.unwrap();
    let items = review::items(&app.state, &started).await.unwrap();
    assert!(!items.is_empty());
    for (h, _) in &items {
        review::decide(
            &app.state,
            &officer,
            &started.id,
            &h.id,
            passerelle::store::ReviewDecision::Confirm,
        )
        .await
        .unwrap();
    }
    review::complete(&app.state, &officer, &started.id)
        .await
        .unwrap();
    let mail = app
        .mails_to(officer_email)
        .into_iter()
        .find(|m| m.subject.contains("Revue annuelle"))
        .expect("the Caf is sent the completed review");
    assert!(
        mail.subject
            .contains("Communauté de communes du Pilat Rhodanien")
    );
    assert!(
        mail.text
            .contains(&format!("/console/revues/{}/rapport", started.id))
    );

    let caf = signed_in(&app, officer_email).await;
    let report = page(
        &app,
        &caf,
        &format!("/console/revues/{}/rapport", started.id),
    )
    .await;
    assert!(report.contains("Communauté de communes du Pilat Rhodanien"));
    assert!(
        report.contains("Julien Moreau &lt;julien.moreau@pilat-rhodanien.example&gt;"),
        "{report}"
    );
    let group = &report[report
        .find("Groupe « Relais petite enfance »")
        .expect("the group")..];
    assert!(
        group.starts_with("Groupe « Relais petite enfance »<ul><li>Julien Moreau &lt;julien.moreau@pilat-rhodanien.example&gt;</li></ul>"),
        "its members named: {group}"
    );
    assert!(report.contains("Caf de la Loire"), "the Caf by name");
    assert!(report.contains("confirmée"));
    assert!(
        !report.contains("monenfant-extranet</td>"),
        "services by name"
    );
    let jws = hidden(&report, "jws").unwrap();
    let csrf = hidden(&report, "csrf").unwrap();
    let checked = post(
        &app,
        &caf,
        "/console/revues/verifier",
        &[("csrf", &csrf), ("jws", &jws)],
    )
    .await;
    assert_eq!(checked.status(), 200);
    let checked = checked.text().await.unwrap();
    assert!(checked.contains("Signature valable"), "{checked}");
    // One changed character of the payload breaks it.
    let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
    let flipped = if parts[1].ends_with('A') { 'B' } else { 'A' };
    parts[1].pop();
    parts[1].push(flipped);
    let forged = parts.join(".");
    let checked = post(
        &app,
        &caf,
        "/console/revues/verifier",
        &[("csrf", &csrf), ("jws", &forged)],
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(
        checked.contains("La signature n'est pas valable"),
        "{checked}"
    );
    assert!(!checked.contains("Signature valable"));
}

/// The same workflow through the administration API: the partner files, the Caf works its
/// queue, refusals need a reason, a request is decided once, and both sides read it in words.
#[tokio::test]
async fn requests_are_filed_and_decided_through_the_api() {
    use reqwest::Method;
    use serde_json::json;
    let app = TestApp::spawn().await;
    let caf = app.api_token(CAF79).await;
    let marc = app.api_token(MARC).await;
    let (status, _) = app
        .api(
            Method::PUT,
            "/api/v1/conventions/mcp-79-niort/mode",
            &caf,
            Some(json!({ "mode": "centralise", "reason": "plan d'action" })),
        )
        .await;
    assert_eq!(status, 200);
    for who in [MARC, "thomas.petit@niort.example"] {
        let told = app.mails_to(who);
        assert!(
            told.iter()
                .any(|m| m.subject.contains("La Caf gère désormais")
                    && m.text.contains("plan d'action")),
            "{who} is told the delegation was withdrawn, and why"
        );
    }
    let file = |body: serde_json::Value| {
        let (app, marc) = (&app, &marc);
        async move {
            app.api(
                Method::POST,
                "/api/v1/partners/ville-de-niort/requests",
                marc,
                Some(body),
            )
            .await
        }
    };
    // Malformed requests are refused whole, with the field named.
    let (status, problem) = file(json!({ "kind": "promote" })).await;
    assert_eq!(status, 400, "{problem}");
    let (status, problem) = file(json!({ "kind": "create_person", "given_name": "Julie" })).await;
    assert_eq!(status, 400, "{problem}");
    assert!(
        problem["detail"].as_str().unwrap().contains("email"),
        "{problem}"
    );

    let (status, created) = file(json!({
        "kind": "create_person", "email": "julie.martin@niort.example",
        "given_name": "Julie", "family_name": "Martin", "function": "Instructrice",
        "reason": "arrivée au CCAS"
    }))
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["status"], "pending");
    assert!(
        created["description"]
            .as_str()
            .unwrap()
            .contains("Julie Martin"),
        "{created}"
    );
    assert!(
        created["requested_by_name"]
            .as_str()
            .unwrap()
            .contains("Marc Rousseau")
    );
    let (status, _) = file(json!({
        "kind": "create_person", "email": "julie.martin@niort.example",
        "given_name": "Julie", "family_name": "Martin"
    }))
    .await;
    assert_eq!(status, 409, "the same request is pending");
    let sophie = app.account(SOPHIE).await;
    // What could not be carried out is refused when filed, not left to fail at the Caf.
    for (body, expected, words) in [
        (
            json!({ "kind": "grant", "account": sophie.id.as_str(), "service": "cdap", "role": "T1" }),
            409,
            "déjà attribué",
        ),
        (
            json!({ "kind": "create_person", "email": "paul.martin@niort.example", "given_name": "Paul", "family_name": "Martin" }),
            409,
            "a déjà un compte",
        ),
        (
            json!({ "kind": "grant", "account": sophie.id.as_str(), "service": "cdap", "role": "T4", "valid_until": "2020-01-01" }),
            422,
            "déjà passé",
        ),
    ] {
        let (status, problem) = file(body).await;
        assert_eq!(status, expected, "{problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains(words),
            "{problem}"
        );
    }
    // A delegated manager asks only within the roles delegated (T4 for Thomas Petit).
    let thomas = app.api_token("thomas.petit@niort.example").await;
    let (status, problem) = app
        .api(
            Method::POST,
            "/api/v1/partners/ville-de-niort/requests",
            &thomas,
            Some(json!({ "kind": "withdraw", "habilitation": app.state.stores.habilitations.habilitations_of_account(&sophie.id).await.unwrap().iter().find(|h| h.role.as_str() == "T1").unwrap().id.as_str() })),
        )
        .await;
    assert_eq!(status, 403, "{problem}");
    // The last day asked for is the last day included, in Paris.
    let (status, dated) = file(json!({
        "kind": "grant", "account": sophie.id.as_str(), "service": "cdap", "role": "T4",
        "valid_until": "2030-06-30"
    }))
    .await;
    assert_eq!(status, 201, "{dated}");
    assert!(
        dated["description"]
            .as_str()
            .unwrap()
            .contains("jusqu'au 30/06/2030"),
        "{dated}"
    );
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/requests/{}/cancel", dated["id"].as_str().unwrap()),
            &marc,
            None,
        )
        .await;
    assert_eq!(status, 200);
    app.state.clock.advance(60);
    let (status, closing) =
        file(json!({ "kind": "close_account", "account": sophie.id.as_str(), "reason": "départ" }))
            .await;
    assert_eq!(status, 201, "{closing}");

    // The Caf's queue, oldest first; a partner administrator has none to decide.
    let (status, queue) = app.api(Method::GET, "/api/v1/requests", &caf, None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = queue
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        vec![
            created["id"].as_str().unwrap(),
            closing["id"].as_str().unwrap()
        ]
    );
    let (_, none) = app.api(Method::GET, "/api/v1/requests", &marc, None).await;
    assert_eq!(none, json!([]));
    let decide = |id: &str, body: serde_json::Value, token: &str| {
        let (app, path, token) = (
            &app,
            format!("/api/v1/requests/{id}/decision"),
            token.to_owned(),
        );
        async move { app.api(Method::POST, &path, &token, Some(body)).await }
    };
    let (status, _) = decide(
        created["id"].as_str().unwrap(),
        json!({ "decision": "approve" }),
        &marc,
    )
    .await;
    assert_eq!(status, 403, "the partner does not decide its own requests");
    let (status, problem) = decide(
        closing["id"].as_str().unwrap(),
        json!({ "decision": "refuse" }),
        &caf,
    )
    .await;
    assert_eq!(status, 422, "a refusal needs a reason: {problem}");
    let (status, refused) = decide(
        closing["id"].as_str().unwrap(),
        json!({ "decision": "refuse", "reason": "dossier en cours" }),
        &caf,
    )
    .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["status"], "refused");
    assert_eq!(refused["decision_reason"], "dossier en cours");
    let (status, approved) = decide(
        created["id"].as_str().unwrap(),
        json!({ "decision": "approve" }),
        &caf,
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["status"], "approved");
    assert!(
        approved["decided_by_name"]
            .as_str()
            .unwrap()
            .contains("caf79")
    );
    let (status, _) = decide(
        created["id"].as_str().unwrap(),
        json!({ "decision": "refuse", "reason": "x" }),
        &caf,
    )
    .await;
    assert_eq!(status, 409, "decided once");
    assert!(
        app.state
            .stores
            .accounts
            .find_account_by_email(
                &passerelle::types::Email::parse("julie.martin@niort.example").unwrap()
            )
            .await
            .unwrap()
            .is_some(),
        "the approved request was carried out"
    );
    assert!(
        app.account(SOPHIE).await.closed_at.is_none(),
        "the refused one was not"
    );

    // The partner reads its requests and their outcomes; the OpenAPI document lists the routes.
    let (status, mine) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/requests",
            &marc,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        mine.as_array().unwrap().len(),
        3,
        "two decided, one withdrawn: {mine}"
    );
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == "cancelled")
    );
    assert!(
        mine.as_array()
            .unwrap()
            .iter()
            .any(|r| r["status_label"] == "refusée")
    );
    let doc = app.get_json("/api/v1/openapi.json").await;
    for path in [
        "/api/v1/partners/{id}/requests",
        "/api/v1/requests",
        "/api/v1/requests/{id}/decision",
        "/api/v1/requests/{id}/cancel",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}
