//! The habilitation model seen from logins and relying applications: no code without an
//! active habilitation, roles in the claims, suspension ending sessions, quotas holding under
//! concurrent grants.

use crate::helpers::*;
use passerelle::habilitations::manage::{self, GrantRequest, PersonFields, StatusChange};
use passerelle::habilitations::{Actor, HabilitationError};
use passerelle::store::Holder;
use passerelle::types::{ClientId, PartnerId, RoleCode};

const KARIM: &str = "karim.benali@mouries.example";
const NATIONAL: &str = "exploitation@cnaf.example";
const NIORT_ADMIN: &str = "marc.rousseau@niort.example";

fn cooperation_authorize(app: &TestApp) -> String {
    app.authorize_url(&[
        ("client_id", "cooperation"),
        (
            "redirect_uri",
            "https://cooperation.caf.example/oidc/callback",
        ),
    ])
}

async fn actor(app: &TestApp, email: &str) -> Actor {
    Actor::of(&app.state, app.account(email).await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_person_without_a_habilitation_for_the_service_gets_a_french_page_and_no_code() {
    let app = TestApp::spawn().await;
    let browser = browser();
    // Karim's commune has a Coopération convention, but Karim holds no Coopération role.
    let response = app
        .login(&browser, &cooperation_authorize(&app), KARIM, PASSWORD)
        .await;
    assert_eq!(response.status(), 403);
    let page = response.text().await.unwrap();
    assert!(page.contains("Accès non habilité"), "{page}");
    assert!(page.contains("Coopération (plateforme des CTG et SDSF)"));

    // prompt=none in the open session: the relying application is told, without a page.
    let url = format!("{}&prompt=none", cooperation_authorize(&app));
    let response = browser.get(&url).send().await.unwrap();
    let params = redirect_params(&response, "https://cooperation.caf.example/oidc/callback");
    assert_eq!(params["error"], "access_denied");

    // Once granted, the same session gets its code.
    app.grant(KARIM, "cooperation", "lecteur").await;
    let response = browser
        .get(cooperation_authorize(&app))
        .send()
        .await
        .unwrap();
    let params = redirect_params(&response, "https://cooperation.caf.example/oidc/callback");
    assert!(params.contains_key("code"), "{params:?}");
}

#[tokio::test]
async fn suspending_a_habilitation_ends_the_sessions_and_the_tokens_of_its_holder() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let tokens = app.tokens(&browser).await;
    let claire = app.account(CLAIRE).await;
    let held = app
        .state
        .stores
        .habilitations
        .habilitations_of_account(&claire.id)
        .await
        .unwrap();
    let demo = held
        .iter()
        .find(|h| h.client_id.as_str() == DEMO_ID)
        .expect("Claire holds the demo role");
    let national = actor(&app, NATIONAL).await;

    let refused =
        manage::change_status(&app.state, &national, &demo.id, StatusChange::Suspend, None)
            .await
            .unwrap_err();
    assert!(
        matches!(refused, HabilitationError::Invalid(ref m) if m.contains("motif")),
        "a suspension needs a reason: {refused:?}"
    );
    manage::change_status(
        &app.state,
        &national,
        &demo.id,
        StatusChange::Suspend,
        Some("Signalement d'un usage anormal"),
    )
    .await
    .unwrap();

    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.userinfo(access).await.status(), 401);
    let refresh = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", tokens["refresh_token"].as_str().unwrap()),
        ])
        .await;
    assert_eq!(refresh.status(), 400);
    // The session is over: the next authorization asks for a login again.
    let response = browser.get(app.authorize_url(&[])).send().await.unwrap();
    assert!(location(&response).starts_with("/login?request="));

    // Reactivated: Claire logs in again and the relying application gets her role back.
    manage::change_status(
        &app.state,
        &national,
        &demo.id,
        StatusChange::Reactivate,
        Some("Levée de la mesure conservatoire"),
    )
    .await
    .unwrap();
    app.assert_logs_in(CLAIRE, PASSWORD).await;
    let changes = app
        .state
        .stores
        .habilitations
        .changes_of_partner(&PartnerId::parse("cc-roumois-seine").unwrap(), 10)
        .await
        .unwrap();
    let actions: Vec<&str> = changes.iter().map(|c| c.action.as_str()).collect();
    assert_eq!(
        &actions[..2],
        ["habilitation.reactivate", "habilitation.suspend"]
    );
    assert!(changes[..2].iter().all(|c| c.actor == national.reference()));
    assert_eq!(
        changes[1].reason.as_deref(),
        Some("Signalement d'un usage anormal")
    );
}

#[tokio::test]
async fn two_concurrent_grants_at_quota_minus_one_do_not_both_succeed() {
    let app = TestApp::spawn().await;
    let admin = actor(&app, NIORT_ADMIN).await;
    let niort = PartnerId::parse("ville-de-niort").unwrap();
    // CDAP T4 allows 3 people at Niort; Paul holds it through his group.
    let mut people = Vec::new();
    for (i, name) in ["Alves", "Brun", "Colin"].iter().enumerate() {
        let fields = PersonFields::parse(
            &format!("agent{i}@niort.example"),
            None,
            "Agent",
            name,
            Some("Instructeur"),
        )
        .unwrap();
        let account = manage::create_person(&app.state, &admin, &niort, fields, vec![])
            .await
            .unwrap();
        people.push(account.id);
    }
    let grant = |who: usize| {
        let state = app.state.clone();
        let admin = admin.clone();
        let niort = niort.clone();
        let holder = Holder::Account(people[who].clone());
        async move {
            manage::grant(
                &state,
                &admin,
                &niort,
                GrantRequest {
                    holder,
                    client_id: ClientId::parse("cdap").unwrap(),
                    role: RoleCode::parse("T4").unwrap(),
                    scope: vec![],
                    valid_from: None,
                    valid_until: None,
                },
                None,
            )
            .await
        }
    };
    grant(0).await.expect("second place of three");
    let (b, c) = tokio::join!(tokio::spawn(grant(1)), tokio::spawn(grant(2)));
    let outcomes = [b.unwrap(), c.unwrap()];
    let granted = outcomes.iter().filter(|o| o.is_ok()).count();
    assert_eq!(granted, 1, "{outcomes:?}");
    let refused = outcomes.into_iter().find_map(Result::err).unwrap();
    assert!(
        matches!(refused, HabilitationError::QuotaReached { maximum: 3, .. }),
        "{refused:?}"
    );
    assert_eq!(
        app.state
            .stores
            .habilitations
            .count_holders(
                &niort,
                &ClientId::parse("cdap").unwrap(),
                &RoleCode::parse("T4").unwrap()
            )
            .await
            .unwrap(),
        3
    );
}

#[tokio::test]
async fn retention_deletes_closed_habilitations_after_the_period_of_their_convention_kind() {
    use passerelle::store::HabilitationStatus;
    let app = TestApp::spawn().await;
    let year = 365 * 86_400;
    let now = passerelle::store::now();
    let store = &app.state.stores.habilitations;
    let of = |email: &'static str, service: &'static str| {
        let app = &app;
        async move {
            let account = app.account(email).await;
            store
                .habilitations_of_account(&account.id)
                .await
                .unwrap()
                .into_iter()
                .find(|h| h.client_id.as_str() == service)
                .unwrap()
        }
    };
    // Coopération (2 years): closed 3 years ago goes, closed 1 year ago stays.
    let old_cooperation = of(CLAIRE, "cooperation").await;
    let recent_cooperation = of(CLAIRE, DEMO_ID).await;
    // Mon Compte Partenaire (6 years): closed 3 years ago stays.
    let old_mcp = of(SOPHIE, "cdap").await;
    for (h, closed_at) in [
        (&old_cooperation, now - 3 * year),
        (&recent_cooperation, now - year),
        (&old_mcp, now - 3 * year),
    ] {
        assert!(
            store
                .set_habilitation_status(
                    &h.id,
                    HabilitationStatus::Closed,
                    "test",
                    Some("départ"),
                    closed_at
                )
                .await
                .unwrap()
        );
    }
    let config = passerelle::config::RetentionConfig::default();
    let report = passerelle::retention::run(&app.state, &config, now)
        .await
        .unwrap();
    let deleted: u64 = report.iter().map(|d| d.habilitations).sum();
    assert_eq!(deleted, 1, "{report:?}");
    assert!(
        store
            .get_habilitation(&old_cooperation.id)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_habilitation(&recent_cooperation.id)
            .await
            .unwrap()
            .is_some()
    );
    assert!(store.get_habilitation(&old_mcp.id).await.unwrap().is_some());
    // A second run finds nothing more to delete.
    let again = passerelle::retention::run(&app.state, &config, now)
        .await
        .unwrap();
    assert_eq!(again.iter().map(|d| d.habilitations).sum::<u64>(), 0);
}

#[tokio::test]
async fn a_habilitation_brings_the_password_policy_of_its_service() {
    // A lenient profile by default, so that Coopération's stricter one shows.
    let app = TestApp::spawn_with(|c| {
        let mut lenient = c.password_policies["monenfant"].clone();
        lenient.alphanumeric_only = false;
        c.password_policies.insert("lenient".into(), lenient);
        c.credentials.default_password_policy = "lenient".into();
    })
    .await;
    let policy = |app: &TestApp| {
        let state = app.state.clone();
        async move {
            let karim = state
                .stores
                .accounts
                .find_account_by_email(&passerelle::types::Email::parse(KARIM).unwrap())
                .await
                .unwrap()
                .unwrap();
            passerelle::accounts::lifecycle::applicable_policy(&state, &karim)
                .await
                .unwrap()
                .name
        }
    };
    assert_eq!(policy(&app).await, "lenient");
    app.grant(KARIM, "cooperation", "lecteur").await;
    assert_eq!(policy(&app).await, "cooperation");
}
