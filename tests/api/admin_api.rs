//! The admin API under `/api/v1`: personal API tokens, the OpenAPI document, and the access
//! matrix — every administrative role × every action × its own partner and another partner.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

const NATIONAL: &str = "exploitation@cnaf.example";
const CAF79: &str = "habilitations@caf79.example";
const CAF42: &str = "habilitations@caf42.example";
const CAF79_SECURITY: &str = "rssi@caf79.example";
const NIORT_PRINCIPAL: &str = "marc.rousseau@niort.example";
const NIORT_SUBSTITUTE: &str = "lucie.bernard@niort.example";
const NIORT_MANAGER: &str = "thomas.petit@niort.example";
const NIORT_SECURITY: &str = "helene.faure@niort.example";

/// Extra data the matrix acts on: a person without habilitation in each partner, and a group
/// at Pilat Rhodanien.
const FIXTURES: &str = r#"
[[account]]
email = "cible@niort.example"
given_name = "Camille"
family_name = "Cible"
partner = "ville-de-niort"

[[account]]
email = "cible@pilat-rhodanien.example"
given_name = "Dominique"
family_name = "Cible"
partner = "cc-pilat-rhodanien"

[[group]]
partner = "cc-pilat-rhodanien"
name = "Relais petite enfance"
habilitations = [{ service = "demo-app", role = "utilisateur" }]
"#;

/// What the matrix needs to know of one partner to act on it.
struct Partner {
    id: &'static str,
    convention: &'static str,
    /// A person without habilitations, the target of grants and closure.
    target: String,
    /// A person holding a habilitation, the target of suspensions.
    holder: String,
    holder_habilitation: String,
    /// The partner's principal administrator (a plain holder where it has none).
    administrator: String,
    group: String,
    /// A grant of a role delegated to the Niort manager (or the partner's main role).
    grant_delegated: Value,
    grant_other: Value,
    delegation: Value,
    quota: Value,
    mode: &'static str,
    appointment: (String, Value),
}

async fn partner(app: &TestApp, which: &str) -> Partner {
    let state = &app.state;
    let group_named = |partner: &'static str, name: &'static str| async move {
        state
            .stores
            .habilitations
            .groups_of_partner(&passerelle::types::PartnerId::parse(partner).unwrap())
            .await
            .unwrap()
            .into_iter()
            .find(|g| g.name == name)
            .unwrap()
            .id
            .to_string()
    };
    let habilitation_of = |email: &'static str, service: &'static str| async move {
        let account = app.account(email).await;
        state
            .stores
            .habilitations
            .habilitations_of_account(&account.id)
            .await
            .unwrap()
            .into_iter()
            .find(|h| h.client_id.as_str() == service)
            .unwrap()
            .id
            .to_string()
    };
    if which == "niort" {
        let target = app.account("cible@niort.example").await.id.to_string();
        Partner {
            id: "ville-de-niort",
            convention: "mcp-79-niort",
            holder: app.account(SOPHIE).await.id.to_string(),
            holder_habilitation: habilitation_of(SOPHIE, "cdap").await,
            administrator: app.account(NIORT_PRINCIPAL).await.id.to_string(),
            group: group_named("ville-de-niort", "Service instructeur RSA").await,
            grant_delegated: json!({ "account": target, "service": "cdap", "role": "T4" }),
            grant_other: json!({ "account": target, "service": "cdap", "role": "T1" }),
            delegation: json!({ "delegations": [{ "service": "cdap", "role": "T4" }] }),
            quota: json!({ "service": "cdap", "role": "T1", "maximum": 5 }),
            mode: "centralise",
            appointment: (
                app.account(NIORT_SUBSTITUTE).await.id.to_string(),
                json!({ "role": "substitute", "appointed": false }),
            ),
            target,
        }
    } else {
        let julien = "julien.moreau@pilat-rhodanien.example";
        let target = app
            .account("cible@pilat-rhodanien.example")
            .await
            .id
            .to_string();
        Partner {
            id: "cc-pilat-rhodanien",
            convention: "mef-42-pilat-rhodanien",
            holder: app.account(julien).await.id.to_string(),
            holder_habilitation: habilitation_of(julien, "monenfant-extranet").await,
            administrator: app.account(julien).await.id.to_string(),
            group: group_named("cc-pilat-rhodanien", "Relais petite enfance").await,
            grant_delegated: json!({
                "account": target, "service": "monenfant-extranet",
                "role": "lieu-information", "scope": ["42168"]
            }),
            grant_other: json!({ "account": target, "service": "demo-app", "role": "utilisateur" }),
            delegation: json!({ "delegations": [{ "service": "monenfant-extranet" }] }),
            quota: json!({ "service": "monenfant-extranet", "role": "lieu-information", "maximum": 4 }),
            mode: "delegue",
            appointment: (
                app.account(julien).await.id.to_string(),
                json!({ "role": "principal", "appointed": true }),
            ),
            target,
        }
    }
}

/// The actions of the matrix, in the order they run (later ones rely on earlier successes
/// only where the expected outcomes say so).
fn actions(p: &Partner) -> Vec<(&'static str, Method, String, Option<Value>)> {
    let reason = || Some(json!({ "reason": "Contrôle de la matrice des droits" }));
    let with_reason = |mut v: Value| {
        v["reason"] = json!("Contrôle de la matrice des droits");
        Some(v)
    };
    vec![
        (
            "voir le partenaire",
            Method::GET,
            format!("/api/v1/partners/{}", p.id),
            None,
        ),
        (
            "lister les personnes",
            Method::GET,
            format!("/api/v1/partners/{}/accounts", p.id),
            None,
        ),
        (
            "lister les habilitations",
            Method::GET,
            format!("/api/v1/partners/{}/habilitations", p.id),
            None,
        ),
        (
            "lister les groupes",
            Method::GET,
            format!("/api/v1/partners/{}/groups", p.id),
            None,
        ),
        (
            "historique",
            Method::GET,
            format!("/api/v1/partners/{}/changes", p.id),
            None,
        ),
        (
            "voir une personne",
            Method::GET,
            format!("/api/v1/accounts/{}", p.holder),
            None,
        ),
        (
            "créer une personne",
            Method::POST,
            format!("/api/v1/partners/{}/accounts", p.id),
            Some(
                json!({ "email": format!("nouvelle.{}@agents.example", p.id),
                "given_name": "Nouvelle", "family_name": "Personne" }),
            ),
        ),
        (
            "corriger une personne",
            Method::PATCH,
            format!("/api/v1/accounts/{}", p.target),
            Some(json!({ "given_name": "Camille", "family_name": "Cible-Martin" })),
        ),
        (
            "corriger un titulaire",
            Method::PATCH,
            format!("/api/v1/accounts/{}", p.holder),
            Some(json!({ "function": "Instructrice" })),
        ),
        (
            "corriger l'administrateur principal",
            Method::PATCH,
            format!("/api/v1/accounts/{}", p.administrator),
            Some(json!({ "family_name": "Renommé" })),
        ),
        (
            "attribuer un rôle délégué",
            Method::POST,
            format!("/api/v1/partners/{}/habilitations", p.id),
            Some(p.grant_delegated.clone()),
        ),
        (
            "attribuer un autre rôle",
            Method::POST,
            format!("/api/v1/partners/{}/habilitations", p.id),
            Some(p.grant_other.clone()),
        ),
        (
            "suspendre une habilitation",
            Method::POST,
            format!("/api/v1/habilitations/{}/status", p.holder_habilitation),
            with_reason(json!({ "change": "suspend" })),
        ),
        (
            "suspendre un compte",
            Method::POST,
            format!("/api/v1/accounts/{}/suspend", p.holder),
            reason(),
        ),
        (
            "forcer le changement de mot de passe",
            Method::POST,
            format!("/api/v1/accounts/{}/force-password-change", p.holder),
            reason(),
        ),
        (
            "nommer un gestionnaire délégué",
            Method::PUT,
            format!("/api/v1/accounts/{}/delegations", p.target),
            Some(p.delegation.clone()),
        ),
        (
            "créer un groupe",
            Method::POST,
            format!("/api/v1/partners/{}/groups", p.id),
            Some(json!({ "name": "Nouveau groupe" })),
        ),
        (
            "ajouter au groupe",
            Method::POST,
            format!("/api/v1/groups/{}/members", p.group),
            Some(json!({ "account": p.target })),
        ),
        (
            "fixer un quota",
            Method::PUT,
            format!("/api/v1/conventions/{}/quotas", p.convention),
            with_reason(p.quota.clone()),
        ),
        (
            "changer de mode",
            Method::PUT,
            format!("/api/v1/conventions/{}/mode", p.convention),
            with_reason(json!({ "mode": p.mode })),
        ),
        (
            "fermer un compte",
            Method::POST,
            format!("/api/v1/accounts/{}/close", p.target),
            reason(),
        ),
        (
            "désigner les administrateurs",
            Method::POST,
            format!("/api/v1/accounts/{}/appointment", p.appointment.0),
            Some(p.appointment.1.clone()),
        ),
        (
            "exporter l'annexe 1",
            Method::GET,
            format!("/api/v1/partners/{}/annexe1?service=demo-app", p.id),
            None,
        ),
        (
            "lister les revues",
            Method::GET,
            format!("/api/v1/partners/{}/reviews", p.id),
            None,
        ),
        (
            "commencer la revue",
            Method::POST,
            format!("/api/v1/partners/{}/reviews", p.id),
            None,
        ),
        (
            "ajouter une convention",
            Method::POST,
            format!("/api/v1/partners/{}/conventions", p.id),
            Some(
                json!({ "number": format!("MATRICE-{}", p.id), "kind": "cooperation",
                "services": ["demo-app"], "starts_on": "2026-01-01" }),
            ),
        ),
    ]
}

const READ: [u16; 6] = [200; 6];

/// Reads, changes, then the annex, reviews and conventions (two reads, the review, a
/// convention).
fn expected(reads: [u16; 6], changes: [u16; 16], tail: [u16; 4]) -> Vec<u16> {
    reads.into_iter().chain(changes).chain(tail).collect()
}

const CAF_TAIL: [u16; 4] = [200, 200, 403, 201];
const ADMIN_TAIL: [u16; 4] = [200, 200, 200, 403];
const READER_TAIL: [u16; 4] = [200, 200, 403, 403];

/// Runs every action as `actor`, first on the other partner (all must be "not found" and
/// change nothing), then on the own partner, and compares each status with `own`.
async fn check_actor(actor: &str, own: &str, other: Option<&str>, expected_own: Vec<u16>) {
    let app = TestApp::spawn().await;
    let file = passerelle::provision::parse(FIXTURES, "matrix").unwrap();
    passerelle::provision::apply(&app.state, &file, false)
        .await
        .unwrap();
    let token = app.api_token(actor).await;
    if let Some(other) = other {
        let p = partner(&app, other).await;
        let other_id = passerelle::types::PartnerId::parse(p.id).unwrap();
        let before = app
            .state
            .stores
            .habilitations
            .habilitations_of_partner(&other_id)
            .await
            .unwrap();
        for (name, method, path, body) in actions(&p) {
            let (status, problem) = app.api(method, &path, &token, body).await;
            assert_eq!(
                status, 404,
                "{actor} on another partner, « {name} »: {problem}"
            );
        }
        let after = app
            .state
            .stores
            .habilitations
            .habilitations_of_partner(&other_id)
            .await
            .unwrap();
        assert_eq!(
            before, after,
            "{actor} changed another partner's habilitations"
        );
    }
    let p = partner(&app, own).await;
    let mut mismatches = Vec::new();
    for ((name, method, path, body), want) in actions(&p).into_iter().zip(expected_own) {
        let (status, problem) = app.api(method, &path, &token, body).await;
        if status != want {
            mismatches.push(format!(
                "« {name} »: expected {want}, got {status} {problem}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{actor} on {own}:\n{}",
        mismatches.join("\n")
    );
}

#[tokio::test]
async fn national_operator_acts_as_the_caf_on_every_partner() {
    let caf_delegated = [
        201, 200, 200, 200, 403, 403, 200, 200, 204, 403, 403, 403, 204, 200, 204, 200,
    ];
    check_actor(
        NATIONAL,
        "niort",
        None,
        expected(READ, caf_delegated, CAF_TAIL),
    )
    .await;
    let caf_centralized = [
        201, 200, 200, 200, 201, 201, 200, 200, 204, 403, 201, 204, 204, 200, 204, 200,
    ];
    check_actor(
        NATIONAL,
        "pilat",
        None,
        expected(READ, caf_centralized, CAF_TAIL),
    )
    .await;
}

#[tokio::test]
async fn a_caf_habilitation_officer_supervises_delegated_partners_and_manages_centralized_ones() {
    // Delegated mode: the Caf suspends, forces password changes, sets quotas, switches the
    // mode, appoints administrators; it does not grant nor manage groups for the partner.
    let delegated = [
        201, 200, 200, 200, 403, 403, 200, 200, 204, 403, 403, 403, 204, 200, 204, 200,
    ];
    check_actor(
        CAF79,
        "niort",
        Some("pilat"),
        expected(READ, delegated, CAF_TAIL),
    )
    .await;
    // Centralized mode: the Caf grants and manages groups on the partner's request.
    let centralized = [
        201, 200, 200, 200, 201, 201, 200, 200, 204, 403, 201, 204, 204, 200, 204, 200,
    ];
    check_actor(
        CAF42,
        "pilat",
        Some("niort"),
        expected(READ, centralized, CAF_TAIL),
    )
    .await;
}

#[tokio::test]
async fn partner_administrators_manage_their_own_partner_in_delegated_mode() {
    let admin = [
        201, 200, 200, 403, 201, 201, 200, 200, 403, 200, 201, 204, 403, 403, 204, 403,
    ];
    check_actor(
        NIORT_PRINCIPAL,
        "niort",
        Some("pilat"),
        expected(READ, admin, ADMIN_TAIL),
    )
    .await;
    check_actor(
        NIORT_SUBSTITUTE,
        "niort",
        Some("pilat"),
        expected(READ, admin, ADMIN_TAIL),
    )
    .await;
}

#[tokio::test]
async fn a_delegated_manager_acts_only_within_the_roles_delegated_to_them() {
    // Thomas holds CDAP T4 only: T1 grants, Sophie's T1 and the group holding the demo role
    // are outside his delegation.
    let manager = [
        201, 200, 403, 403, 201, 403, 403, 403, 403, 403, 201, 403, 403, 403, 204, 403,
    ];
    check_actor(
        NIORT_MANAGER,
        "niort",
        Some("pilat"),
        expected(READ, manager, READER_TAIL),
    )
    .await;
}

#[tokio::test]
async fn security_officers_read_without_changing_anything() {
    let read_only = [403; 16];
    check_actor(
        NIORT_SECURITY,
        "niort",
        Some("pilat"),
        expected(READ, read_only, READER_TAIL),
    )
    .await;
    check_actor(
        CAF79_SECURITY,
        "niort",
        Some("pilat"),
        expected(READ, read_only, READER_TAIL),
    )
    .await;
}

#[tokio::test]
async fn each_role_lists_only_the_partners_in_its_reach() {
    let app = TestApp::spawn().await;
    for (actor, partners) in [
        (
            NATIONAL,
            vec![
                "cc-pilat-rhodanien",
                "cc-roumois-seine",
                "commune-de-mouries",
                "ville-de-niort",
            ],
        ),
        (CAF79, vec!["ville-de-niort"]),
        (CAF42, vec!["cc-pilat-rhodanien"]),
        (CAF79_SECURITY, vec!["ville-de-niort"]),
        (NIORT_PRINCIPAL, vec!["ville-de-niort"]),
        (NIORT_MANAGER, vec!["ville-de-niort"]),
        (NIORT_SECURITY, vec!["ville-de-niort"]),
    ] {
        let token = app.api_token(actor).await;
        let (status, list) = app.api(Method::GET, "/api/v1/partners", &token, None).await;
        assert_eq!(status, 200);
        let mut ids: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        ids.sort();
        assert_eq!(ids, partners, "{actor}");
    }
}

#[tokio::test]
async fn the_api_refuses_missing_revoked_and_non_administrator_tokens() {
    let app = TestApp::spawn().await;
    let response = app.api.get(app.url("/api/v1/me")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let (status, _) = app
        .api(Method::GET, "/api/v1/me", "psr_not-a-token", None)
        .await;
    assert_eq!(status, 401);

    // A person without an administrative role gets no token.
    let sophie = app.account(SOPHIE).await;
    assert!(
        passerelle::accounts::api_token::create(&app.state, &sophie, "script", 30)
            .await
            .is_err()
    );

    let token = app.api_token(NIORT_PRINCIPAL).await;
    let (status, me) = app.api(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(status, 200);
    assert_eq!(me["email"], NIORT_PRINCIPAL);
    assert_eq!(me["admin_roles"], json!(["partner_administrator"]));

    // A password change revokes every API token with the other credentials.
    let marc = app.account(NIORT_PRINCIPAL).await;
    passerelle::accounts::lifecycle::revoke_everything(&app.state, &marc)
        .await
        .unwrap();
    let (status, _) = app.api(Method::GET, "/api/v1/me", &token, None).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn quota_problems_name_the_role_and_bad_bodies_are_problems_too() {
    let app = TestApp::spawn().await;
    let token = app.api_token(NIORT_PRINCIPAL).await;
    let (status, partner) = app
        .api(Method::GET, "/api/v1/partners/ville-de-niort", &token, None)
        .await;
    assert_eq!(status, 200);
    let t1 = partner["quotas"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["service"] == "cdap" && q["role"] == "T1")
        .unwrap();
    assert_eq!(t1["used"], 1);
    assert_eq!(t1["maximum"], 4);
    assert_eq!(t1["remaining"], 3);

    let mut last = (0, Value::Null);
    for i in 0..4 {
        let (status, person) = app
            .api(
                Method::POST,
                "/api/v1/partners/ville-de-niort/accounts",
                &token,
                Some(json!({ "email": format!("agent{i}@niort.example"),
                    "given_name": "Agent", "family_name": format!("N{i}") })),
            )
            .await;
        assert_eq!(status, 201, "{person}");
        last = app
            .api(
                Method::POST,
                "/api/v1/partners/ville-de-niort/habilitations",
                &token,
                Some(json!({ "account": person["id"], "service": "cdap", "role": "T1" })),
            )
            .await;
    }
    assert_eq!(last.0, 409, "the fifth T1 holder is one too many");
    assert_eq!(last.1["code"], "quota_reached");
    assert!(last.1["detail"].as_str().unwrap().contains("T1"));

    // A group's members count too: CDAP T4 allows 3 people, Paul holds it through the group.
    let (_, groups) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/groups",
            &token,
            None,
        )
        .await;
    let group = groups
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "Service instructeur RSA")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, people) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/accounts",
            &token,
            None,
        )
        .await;
    let agents: Vec<String> = people
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["email"].as_str().unwrap().starts_with("agent"))
        .map(|p| p["id"].as_str().unwrap().to_owned())
        .collect();
    let mut statuses = Vec::new();
    for agent in &agents[..3] {
        let (status, _) = app
            .api(
                Method::POST,
                &format!("/api/v1/groups/{group}/members"),
                &token,
                Some(json!({ "account": agent })),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(statuses, [204, 204, 409], "the fourth T4 holder is refused");

    let (status, problem) = app
        .api(
            Method::POST,
            "/api/v1/partners/ville-de-niort/groups",
            &token,
            Some(json!({ "nom": "faute de frappe" })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(problem["code"], "invalid_request");
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/api/v1/openapi.json").await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/api/v1/me",
        "/api/v1/partners",
        "/api/v1/accounts",
        "/api/v1/habilitations",
        "/api/v1/partners/{id}",
        "/api/v1/partners/{id}/accounts",
        "/api/v1/partners/{id}/habilitations",
        "/api/v1/partners/{id}/groups",
        "/api/v1/partners/{id}/changes",
        "/api/v1/accounts/{id}",
        "/api/v1/accounts/{id}/suspend",
        "/api/v1/accounts/{id}/reactivate",
        "/api/v1/accounts/{id}/close",
        "/api/v1/accounts/{id}/force-password-change",
        "/api/v1/accounts/{id}/appointment",
        "/api/v1/accounts/{id}/delegations",
        "/api/v1/habilitations/{id}/status",
        "/api/v1/groups/{id}/members",
        "/api/v1/groups/{id}/members/{account}",
        "/api/v1/groups/{id}/close",
        "/api/v1/conventions/{id}/quotas",
        "/api/v1/conventions/{id}/mode",
        "/api/v1/conventions/{id}",
        "/api/v1/partners/{id}/conventions",
        "/api/v1/partners/{id}/reviews",
        "/api/v1/reviews/overdue",
        "/api/v1/reviews/{id}",
        "/api/v1/reviews/{id}/decisions/{habilitation}",
        "/api/v1/reviews/{id}/complete",
        "/api/v1/reviews/{id}/report",
        "/api/v1/partners/{id}/annexe1",
        "/api/v1/traces",
        "/api/v1/traces/export",
        "/api/v1/traces/actions",
        "/api/v1/traces/attestations",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    assert!(doc["components"]["securitySchemes"]["personal_token"].is_object());
    assert!(doc["components"]["securitySchemes"]["client_credentials"].is_object());
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    let list = &doc["paths"]["/api/v1/habilitations"]["get"];
    let names: Vec<&str> = list["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "q",
        "sort",
        "order",
        "after",
        "limit",
        "partner",
        "service",
        "role",
        "status",
        "expiring_within",
    ] {
        assert!(names.contains(&name), "{name} is not documented: {names:?}");
    }
    assert!(list["responses"]["200"]["headers"]["link"].is_object());
}

#[tokio::test]
async fn the_yearly_review_ends_in_a_signed_report_the_caf_downloads() {
    let app = TestApp::spawn().await;
    let marc = app.api_token(NIORT_PRINCIPAL).await;
    let caf = app.api_token(CAF79).await;
    let security = app.api_token(NIORT_SECURITY).await;

    // The demo completed Niort's review today; Pilat Rhodanien (convention of March 2025)
    // never had one and is overdue for its Caf.
    let (_, overdue) = app
        .api(Method::GET, "/api/v1/reviews/overdue", &caf, None)
        .await;
    assert_eq!(overdue, json!([]));
    let caf42 = app.api_token(CAF42).await;
    let (_, overdue) = app
        .api(Method::GET, "/api/v1/reviews/overdue", &caf42, None)
        .await;
    assert_eq!(
        overdue[0]["partner"]["id"], "cc-pilat-rhodanien",
        "{overdue}"
    );
    assert_eq!(overdue[0]["last_completed_at"], Value::Null);
    assert_eq!(overdue[0]["due_since"], "2026-03-01T00:00:00Z");
    let (_, reviews) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/reviews",
            &caf,
            None,
        )
        .await;
    assert_eq!(reviews.as_array().unwrap().len(), 1, "the demo's review");

    let path = "/api/v1/partners/ville-de-niort/reviews";
    let (status, _) = app.api(Method::POST, path, &security, None).await;
    assert_eq!(status, 403, "security officers read, they do not review");
    let (status, review) = app.api(Method::POST, path, &marc, None).await;
    assert_eq!(status, 200, "{review}");
    let id = review["id"].as_str().unwrap().to_owned();
    let items = review["items"].as_array().unwrap().clone();
    assert!(items.len() >= 3, "{review}");

    let (status, problem) = app
        .api(
            Method::POST,
            &format!("/api/v1/reviews/{id}/complete"),
            &marc,
            None,
        )
        .await;
    assert_eq!(status, 422, "undecided habilitations remain: {problem}");

    let sophie = app.account(SOPHIE).await.id.to_string();
    let mut withdrawn = String::new();
    for item in &items {
        let h = &item["habilitation"];
        let withdraw = h["holder"]["id"] == sophie.as_str() && h["service"] == "cdap";
        if withdraw {
            withdrawn = h["id"].as_str().unwrap().to_owned();
        }
        let (status, body) = app
            .api(
                Method::PUT,
                &format!(
                    "/api/v1/reviews/{id}/decisions/{}",
                    h["id"].as_str().unwrap()
                ),
                &marc,
                Some(json!({ "decision": if withdraw { "withdraw" } else { "confirm" } })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(!withdrawn.is_empty());
    let (status, done) = app
        .api(
            Method::POST,
            &format!("/api/v1/reviews/{id}/complete"),
            &marc,
            None,
        )
        .await;
    assert_eq!(status, 200, "{done}");
    assert!(done["completed_at"].is_string());

    // The Caf downloads the report; it verifies against the published keys.
    let response = app
        .api
        .get(app.url(&format!("/api/v1/reviews/{id}/report")))
        .bearer_auth(&caf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/jose");
    let report = response.text().await.unwrap();
    let claims = app.state.keys.verify_compact(&report).expect("signed");
    assert_eq!(claims["partner"]["id"], "ville-de-niort");
    assert_eq!(claims["completed_by"]["email"], NIORT_PRINCIPAL);
    assert!(claims["iat"].as_i64().unwrap() > 0);
    let decisions: Vec<&str> = claims["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions.len(), items.len());
    assert_eq!(decisions.iter().filter(|d| **d == "withdraw").count(), 1);

    // The withdrawn habilitation is closed; Niort is no longer overdue.
    let (_, habilitations) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/habilitations",
            &caf,
            None,
        )
        .await;
    let closed = habilitations
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["id"] == withdrawn.as_str())
        .unwrap();
    assert_eq!(closed["status"], "closed");
    let (_, overdue) = app
        .api(Method::GET, "/api/v1/reviews/overdue", &caf, None)
        .await;
    assert_eq!(overdue, json!([]));
    // Another partner's administrator cannot even see the review.
    let other = app.api_token(CAF42).await;
    let (status, _) = app
        .api(Method::GET, &format!("/api/v1/reviews/{id}"), &other, None)
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_caf_registers_a_partner_and_its_convention_then_terminates_it() {
    let app = TestApp::spawn().await;
    let caf = app.api_token(CAF79).await;
    let marc = app.api_token(NIORT_PRINCIPAL).await;
    let partner = json!({ "id": "ccas-de-niort", "name": "CCAS de Niort", "caf": "79" });
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/partners",
            &marc,
            Some(partner.clone()),
        )
        .await;
    assert_eq!(status, 403, "partners are registered by their Caf");
    let other_caf = json!({ "id": "ccas-de-lyon", "name": "CCAS de Lyon", "caf": "42" });
    let (status, _) = app
        .api(Method::POST, "/api/v1/partners", &caf, Some(other_caf))
        .await;
    assert_eq!(status, 403, "not for another Caf");
    let (status, created) = app
        .api(
            Method::POST,
            "/api/v1/partners",
            &caf,
            Some(partner.clone()),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (status, _) = app
        .api(Method::POST, "/api/v1/partners", &caf, Some(partner))
        .await;
    assert_eq!(status, 409);

    let body = json!({
        "number": "MCP-079-2026-0200", "kind": "mon_compte_partenaire",
        "services": ["cdap"], "starts_on": "2026-01-01", "mode": "centralise",
        "contacts": [{ "side": "caf", "role": "habilitation_officer", "name": "Agnès Roux" }]
    });
    let (status, convention) = app
        .api(
            Method::POST,
            "/api/v1/partners/ccas-de-niort/conventions",
            &caf,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 201, "{convention}");
    assert_eq!(convention["mode"], "centralise");
    assert_eq!(convention["in_force"], true);
    assert_eq!(convention["current_period_end"], "2027-01-01");
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/partners/ccas-de-niort/conventions",
            &caf,
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 409, "a convention number is unique");

    // Terminated in the past: no longer in force, so nobody can be granted CDAP there.
    let mut terminated = body;
    terminated["terminated_on"] = json!("2026-02-01");
    let id = convention["id"].as_str().unwrap();
    let (status, updated) = app
        .api(
            Method::PUT,
            &format!("/api/v1/conventions/{id}"),
            &caf,
            Some(terminated),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["in_force"], false);
    let (status, person) = app
        .api(
            Method::POST,
            "/api/v1/partners/ccas-de-niort/accounts",
            &caf,
            Some(json!({ "email": "agent@ccas-niort.example", "given_name": "Ana", "family_name": "Gent" })),
        )
        .await;
    assert_eq!(status, 201, "{person}");
    let (status, problem) = app
        .api(
            Method::POST,
            "/api/v1/partners/ccas-de-niort/habilitations",
            &caf,
            Some(json!({ "account": person["id"], "service": "cdap", "role": "T1" })),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("convention"));
}

/// The list endpoints search, filter, sort and page: `Link: rel="next"` walks every row once,
/// the reach bounds the answers, a suspended holder's habilitations are not effective, and bad
/// parameters are problems in French.
#[tokio::test]
async fn lists_search_filter_sort_and_page_through_link_headers() {
    let app = TestApp::spawn().await;
    let national = app.api_token(NATIONAL).await;
    let get = |path: String, token: String| {
        let app = &app;
        async move {
            let response = app
                .api
                .get(app.url(&path))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let link = response
                .headers()
                .get("link")
                .map(|v| v.to_str().unwrap().to_owned());
            let body: Value = response.json().await.unwrap();
            (status, link, body)
        }
    };
    let ids = |body: &Value, field: &str| -> Vec<String> {
        body.as_array()
            .unwrap()
            .iter()
            .map(|v| v[field].as_str().unwrap().to_owned())
            .collect()
    };

    // A commune typed without its accent, and a SIRET.
    let (status, _, body) = get("/api/v1/partners?q=pelussin".into(), national.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&body, "id"), ["cc-pilat-rhodanien"]);
    let (_, _, body) = get("/api/v1/partners?q=21790191700013".into(), national.clone()).await;
    assert_eq!(ids(&body, "id"), ["ville-de-niort"]);
    assert_eq!(body[0]["commune"], "Niort");

    // Every partner, one per page, newest name first, following the Link header.
    let mut seen = Vec::new();
    let mut next = Some("/api/v1/partners?limit=1&sort=name&order=desc".to_owned());
    while let Some(path) = next.take() {
        let (status, link, body) = get(path, national.clone()).await;
        assert_eq!(status, 200);
        seen.extend(ids(&body, "name"));
        next = link.map(|l| {
            assert!(l.ends_with(">; rel=\"next\""), "{l}");
            l[1..l.find('>').unwrap()].to_owned()
        });
        assert!(seen.len() <= 4, "the pages end");
    }
    // In the order people read (case and accents ignored), not the bytes'.
    let mut sorted = seen.clone();
    sorted.sort_by_key(|n| n.to_lowercase().replace(['é', 'è'], "e"));
    sorted.reverse();
    assert_eq!(seen.len(), 4);
    assert_eq!(seen, sorted);

    // People of the reach only: Niort's administrator does not find Pilat's people.
    let niort = app.api_token(NIORT_PRINCIPAL).await;
    let (_, _, body) = get("/api/v1/accounts?q=helene".into(), niort.clone()).await;
    assert_eq!(ids(&body, "email"), ["helene.faure@niort.example"]);
    let (_, _, body) = get("/api/v1/accounts?q=julien".into(), niort.clone()).await;
    assert_eq!(body, json!([]));
    let (_, _, body) = get("/api/v1/accounts?q=julien".into(), national.clone()).await;
    assert_eq!(
        ids(&body, "email"),
        ["julien.moreau@pilat-rhodanien.example"]
    );

    // Sophie suspended: her habilitations stay listed, not effective.
    let caf = app.api_token(CAF79).await;
    let sophie = app.account(SOPHIE).await.id.to_string();
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/accounts/{sophie}/suspend"),
            &caf,
            Some(json!({ "reason": "enquête en cours" })),
        )
        .await;
    assert_eq!(status, 200);
    let (_, _, body) = get(
        "/api/v1/habilitations?q=sophie&service=cdap".into(),
        caf.clone(),
    )
    .await;
    let list = body.as_array().unwrap();
    assert!(!list.is_empty());
    for h in list {
        assert_eq!(h["holder_name"], "Lambert Sophie");
        assert_eq!(h["partner_name"], "Mairie de Niort");
        assert_eq!(h["effective"], false, "{h}");
        assert_eq!(h["service"], "cdap");
    }
    let (_, _, body) = get("/api/v1/habilitations?status=closed".into(), caf.clone()).await;
    assert!(
        body.as_array()
            .unwrap()
            .iter()
            .all(|h| h["status"] == "closed")
    );

    // Bad parameters are refused with the reason.
    for (query, says) in [
        ("sort=couleur", "Ce tri n'existe pas"),
        ("limit=0", "de 1 à 200"),
        ("limit=beaucoup", "nombre entier"),
        ("after=nimporte", "curseur"),
        ("expiring_within=0", "jours"),
        ("status=perdue", "statut"),
    ] {
        let (status, body) = app
            .api(
                Method::GET,
                &format!("/api/v1/habilitations?{query}"),
                &caf,
                None,
            )
            .await;
        assert_eq!(status, 422, "{query}");
        assert!(
            body["detail"].as_str().unwrap().contains(says),
            "{query}: {body}"
        );
    }
}
