//! Traces: relying applications submit their users' actions (durable before the answer,
//! idempotent, only for their own service), security officers search within their reach,
//! Passerelle records its own events, and the chain shows any tampering.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

const NATIONAL: &str = "exploitation@cnaf.example";
const NIORT_SECURITY: &str = "helene.faure@niort.example";

/// A client_credentials token of the demo application carrying `traces:write`.
pub async fn rp_token(app: &TestApp) -> String {
    let response = app
        .token(&[
            ("grant_type", "client_credentials"),
            ("scope", "traces:write"),
        ])
        .await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

pub async fn submit(app: &TestApp, token: &str, events: Value) -> (u16, Value) {
    let response = app
        .api
        .post(app.url("/api/v1/traces"))
        .bearer_auth(token)
        .json(&json!({ "events": events }))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn events(sub: &str, ids: &[&str]) -> Value {
    Value::Array(
        ids.iter()
            .map(|id| {
                json!({ "id": id, "sub": sub, "sid": "abcdefghijklmnopqrstuv", "action": "dossier.consultation",
                        "target": format!("dossier:{id}"), "ip": "192.0.2.10" })
            })
            .collect(),
    )
}

#[tokio::test]
async fn a_relying_application_submits_idempotent_batches_for_its_own_service() {
    let app = TestApp::spawn().await;
    let token = rp_token(&app).await;
    let claire = app.account(CLAIRE).await.id.to_string();

    let (status, body) = submit(&app, &token, events(&claire, &["e1", "e2", "e3"])).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (200, Some(3)),
        "{body}"
    );
    let (status, body) = submit(&app, &token, events(&claire, &["e2", "e3", "e4"])).await;
    assert_eq!(status, 200);
    assert_eq!(
        (body["accepted"].as_u64(), body["duplicates"].as_u64()),
        (Some(1), Some(2))
    );

    // A bad event refuses the whole batch, with its index; nothing of it is stored.
    let mut bad = events(&claire, &["e5", "e6"]);
    bad[1]["action"] = json!("Dossier Consulté");
    let (status, problem) = submit(&app, &token, bad).await;
    assert_eq!(status, 400);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("events[1].action")
    );
    let (status, problem) = submit(&app, &token, events("no-such-person", &["e7"])).await;
    assert_eq!(status, 400, "{problem}");
    let too_many: Vec<String> = (0..1001).map(|i| format!("m{i}")).collect();
    let ids: Vec<&str> = too_many.iter().map(String::as_str).collect();
    let (status, _) = submit(&app, &token, events(&claire, &ids)).await;
    assert_eq!(status, 400, "at most 1000 events per request");

    // Tokens that do not act for a service with the scope are refused.
    let (status, _) = submit(&app, "not-a-token", events(&claire, &["x"])).await;
    assert_eq!(status, 401);
    let person = app.tokens(&browser()).await;
    let (status, _) = submit(
        &app,
        person["access_token"].as_str().unwrap(),
        events(&claire, &["x"]),
    )
    .await;
    assert_eq!(status, 403);

    // What was stored: the application's own stream, the person and her partner, the session
    // as a digest, and nothing else.
    let stored = app
        .state
        .stores
        .traces
        .stream_records(DEMO_ID, 0, 100)
        .await
        .unwrap();
    assert_eq!(stored.len(), 4);
    let t = &stored[0].trace;
    assert_eq!(t.actor_account.as_deref(), Some(claire.as_str()));
    assert_eq!(t.partner.as_deref(), Some("cc-roumois-seine"));
    assert_eq!(t.client_id.as_deref(), Some(DEMO_ID));
    assert_eq!(
        t.session.as_deref(),
        Some(passerelle::traces::session_digest("abcdefghijklmnopqrstuv").as_str())
    );
    assert_ne!(t.session.as_deref(), Some("abcdefghijklmnopqrstuv"));
}

#[tokio::test]
async fn security_officers_search_within_their_reach_and_their_searches_are_traced() {
    let app = TestApp::spawn().await;
    let token = rp_token(&app).await;
    let claire = app.account(CLAIRE).await.id.to_string();
    let sophie = app.account(SOPHIE).await.id.to_string();
    submit(&app, &token, events(&claire, &["c1", "c2"])).await;
    submit(&app, &token, events(&sophie, &["s1"])).await;

    let niort = app.api_token(NIORT_SECURITY).await;
    let (status, page) = app
        .api(
            Method::GET,
            &format!("/api/v1/traces?person={CLAIRE}"),
            &niort,
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["traces"], json!([]), "Claire's partner is not Niort's");
    let (_, page) = app
        .api(Method::GET, "/api/v1/traces?service=demo-app", &niort, None)
        .await;
    let people: Vec<&str> = page["traces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["actor_account"].as_str().unwrap())
        .collect();
    assert_eq!(people, [sophie.as_str()]);
    // A person may be given by name: the one person of that name in the officer's reach.
    let (status, page) = app
        .api(
            Method::GET,
            "/api/v1/traces?person=lambert&service=demo-app",
            &niort,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["traces"][0]["actor_account"], sophie.as_str());
    let (status, problem) = app
        .api(Method::GET, "/api/v1/traces?person=niort", &niort, None)
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Plusieurs personnes"),
        "{problem}"
    );
    let (status, problem) = app
        .api(Method::GET, "/api/v1/traces?person=claire", &niort, None)
        .await;
    assert_eq!(
        status, 422,
        "a name outside the reach finds no one: {problem}"
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("Aucune personne de votre périmètre"),
        "{problem}"
    );

    let national = app.api_token(NATIONAL).await;
    let (_, page) = app
        .api(
            Method::GET,
            &format!("/api/v1/traces?person={CLAIRE}&service=demo-app&limit=1"),
            &national,
            None,
        )
        .await;
    assert_eq!(page["traces"][0]["id"], "c2", "newest first");
    let next = page["next"].as_str().expect("a next page").to_owned();
    let (_, page) = app
        .api(
            Method::GET,
            &format!("/api/v1/traces?person={CLAIRE}&service=demo-app&limit=1&after={next}"),
            &national,
            None,
        )
        .await;
    assert_eq!(page["traces"][0]["id"], "c1");
    assert_eq!(page["next"], Value::Null);

    // Who looked at traces is itself traced.
    let (_, page) = app
        .api(
            Method::GET,
            "/api/v1/traces?action=trace.query",
            &national,
            None,
        )
        .await;
    let queries = page["traces"].as_array().unwrap();
    assert!(queries.len() >= 3, "{page}");
    assert!(queries.iter().any(|q| {
        q["target"]
            .as_str()
            .unwrap()
            .contains(&format!("person:{claire}"))
    }));

    // A partner administrator is not a security officer.
    let marc = app.api_token("marc.rousseau@niort.example").await;
    let (status, _) = app.api(Method::GET, "/api/v1/traces", &marc, None).await;
    assert_eq!(status, 403);

    // Export as JSON lines.
    let response =
        app.api
            .get(app.url(
                "/api/v1/traces/export?format=jsonl&service=demo-app&action=dossier.consultation",
            ))
            .bearer_auth(&national)
            .send()
            .await
            .unwrap();
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    assert_eq!(body.lines().count(), 3, "{body}");
}

#[tokio::test]
async fn passerelle_traces_logins_failures_admin_changes_and_tokens() {
    let app = TestApp::spawn().await;
    app.login_fresh(CLAIRE, "wrong-password").await;
    app.tokens(&browser()).await;
    let marc = app.api_token("marc.rousseau@niort.example").await;
    let (status, _) = app
        .api(
            Method::POST,
            "/api/v1/partners/ville-de-niort/groups",
            &marc,
            Some(json!({ "name": "Accueil" })),
        )
        .await;
    assert_eq!(status, 201);
    // The failed login is traced from a background task.
    app.own_trace(|t| t.action == "auth.login" && t.outcome.as_str() == "failure")
        .await;
    let own = app
        .state
        .stores
        .traces
        .stream_records("passerelle", 0, 1000)
        .await
        .unwrap();
    let claire = app.account(CLAIRE).await.id.to_string();
    let find = |action: &str, outcome: &str| {
        own.iter().find(|r| {
            r.trace.action == action
                && r.trace.outcome.as_str() == outcome
                && r.trace.actor_account.as_deref() == Some(claire.as_str())
        })
    };
    let failure = find("auth.login", "failure").expect("the failed login");
    assert_eq!(failure.trace.reason.as_deref(), Some("wrong_password"));
    assert_eq!(failure.trace.ip.as_deref(), Some("127.0.0.1"));
    assert!(failure.trace.request_id.is_some());
    assert!(find("auth.login", "success").is_some());
    assert!(find("token.issue", "success").is_some());
    let marc_id = app
        .account("marc.rousseau@niort.example")
        .await
        .id
        .to_string();
    let change = own
        .iter()
        .find(|r| {
            r.trace.action == "admin.change"
                && r.trace
                    .target
                    .as_deref()
                    .is_some_and(|t| t.starts_with("group.create group:"))
                // The demo's own group was created by provisioning, with no account.
                && r.trace.actor_account.is_some()
        })
        .expect("the group creation");
    assert_eq!(
        change.trace.actor_account.as_deref(),
        Some(marc_id.as_str())
    );
    assert_eq!(change.trace.partner.as_deref(), Some("ville-de-niort"));
    // No secret in any trace.
    for r in &own {
        let text = serde_json::to_string(&r.trace).unwrap();
        assert!(!text.contains(PASSWORD) && !text.contains("wrong-password"));
    }
}

#[tokio::test]
async fn verification_finds_the_first_changed_record_and_the_store_refuses_changes() {
    let app = TestApp::spawn().await;
    let token = rp_token(&app).await;
    let claire = app.account(CLAIRE).await.id.to_string();
    submit(&app, &token, events(&claire, &["v1", "v2", "v3"])).await;
    let report = passerelle::traces::verify::stream(&app.state, DEMO_ID)
        .await
        .unwrap();
    assert_eq!((report.records, report.first_break), (3, None));

    let url = format!("sqlite://{}", app.traces_db.display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let update = sqlx::query("UPDATE traces SET target = 'dossier:999' WHERE id = 'v2'")
        .execute(&pool)
        .await;
    assert!(update.is_err(), "traces are written once");
    let delete = sqlx::query("DELETE FROM traces WHERE id = 'v2'")
        .execute(&pool)
        .await;
    assert!(delete.is_err(), "only retention deletes");

    // Someone with the file's rights drops the guard and rewrites a record: the chain shows it.
    sqlx::query("DROP TRIGGER traces_write_once")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE traces SET target = 'dossier:999' WHERE id = 'v2'")
        .execute(&pool)
        .await
        .unwrap();
    let v2 = app
        .state
        .stores
        .traces
        .stream_records(DEMO_ID, 0, 10)
        .await
        .unwrap()[1]
        .seq;
    let report = passerelle::traces::verify::stream(&app.state, DEMO_ID)
        .await
        .unwrap();
    assert_eq!(
        report.first_break,
        Some(passerelle::traces::verify::Break::Content { seq: v2 })
    );
}

#[tokio::test]
async fn an_acknowledged_trace_survives_a_kill_9_of_passerelle() {
    let data = tempfile::tempdir().unwrap();
    let (mut child, issuer, _) = crate::cli::spawn_demo(data.path()).await;
    install_tls_provider();
    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{issuer}/token"))
        .basic_auth(DEMO_ID, Some(DEMO_SECRET))
        .form(&[
            ("grant_type", "client_credentials"),
            ("scope", "traces:write"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap();
    // Claire's id, from the database the demo created.
    let pool = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        data.path().join("passerelle.db").display()
    ))
    .await
    .unwrap();
    let claire: String = sqlx::query_scalar("SELECT id FROM accounts WHERE email = ?")
        .bind(CLAIRE)
        .fetch_one(&pool)
        .await
        .unwrap();
    let ids: Vec<String> = (0..500).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    let response = http
        .post(format!("{issuer}/api/v1/traces"))
        .bearer_auth(token)
        .json(&json!({ "events": events(&claire, &refs) }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // The acknowledgement is in; the process dies without any chance to flush.
    child.kill().unwrap();
    child.wait().unwrap();

    let (code, out, err) = crate::cli::run_in(
        data.path(),
        &[
            "traces",
            "export",
            "--as",
            NATIONAL,
            "--service",
            DEMO_ID,
            "--action",
            "dossier.consultation",
            "--format",
            "jsonl",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 500);
    let (code, out, err) = crate::cli::run_in(
        data.path(),
        &[
            "traces",
            "verify",
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("demo-app: 500 record(s)"), "{out}");
}

#[tokio::test]
async fn retention_destroys_old_traces_with_a_signed_attestation_and_seals_keep_verifying() {
    let app = TestApp::spawn().await;
    let token = rp_token(&app).await;
    let claire = app.account(CLAIRE).await.id.to_string();
    // Two events stored 240 days ago (the API refuses to date one that far back today), one
    // submitted now.
    let old_us = (chrono::Utc::now() - chrono::Duration::days(240)).timestamp_micros();
    let old = ["old1", "old2"].map(|id| passerelle::store::NewTrace {
        id: id.into(),
        stream: DEMO_ID.into(),
        at_us: old_us,
        actor_account: Some(claire.clone()),
        actor_partner: Some("cc-roumois-seine".into()),
        actor_caf: None,
        partner: Some("cc-roumois-seine".into()),
        session: None,
        client_id: Some(DEMO_ID.into()),
        action: "dossier.consultation".into(),
        target: Some(format!("dossier:{id}")),
        outcome: passerelle::store::Outcome::Success,
        reason: None,
        ip: None,
        user_agent: None,
        request_id: None,
        received_at_us: Some(old_us),
    });
    app.state.tracer.append_durable(old.to_vec()).await.unwrap();
    let (status, body) = submit(&app, &token, events(&claire, &["new1"])).await;
    assert_eq!(status, 200, "{body}");
    let niort = passerelle::types::PartnerId::parse("ville-de-niort").unwrap();
    let recent = app
        .state
        .stores
        .habilitations
        .changes_of_partner(&niort, 1000)
        .await
        .unwrap()
        .len();
    app.state
        .stores
        .habilitations
        .record_change(&passerelle::store::ChangeRecord {
            at: passerelle::store::now() - 240 * 86_400,
            actor: "test".into(),
            partner: Some(niort.clone()),
            action: "account.suspend".into(),
            target: "account:x".into(),
            reason: Some("un motif qui peut nommer quelqu'un".into()),
            detail: json!({}),
        })
        .await
        .unwrap();
    assert_eq!(
        passerelle::traces::seal::seal_all(&app.state)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        passerelle::traces::seal::seal_all(&app.state)
            .await
            .unwrap(),
        0,
        "nothing new"
    );

    let report = passerelle::retention::run_all(
        &app.state,
        &passerelle::config::RetentionConfig::default(),
        6,
        passerelle::store::now(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.changes, 1,
        "the change record past six months is deleted"
    );
    assert_eq!(
        app.state
            .stores
            .habilitations
            .changes_of_partner(&niort, 1000)
            .await
            .unwrap()
            .len(),
        recent
    );
    let attestation = report
        .attestations
        .iter()
        .find(|a| a.stream == DEMO_ID)
        .expect("an attestation for the application's stream");
    assert_eq!(attestation.count, 2);
    let signed = app
        .state
        .keys
        .verify_compact(&attestation.signature)
        .unwrap();
    assert_eq!(signed["count"], 2);
    assert_eq!(signed["stream"], DEMO_ID);
    let left = app
        .state
        .stores
        .traces
        .stream_records(DEMO_ID, 0, 10)
        .await
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].trace.id, "new1");
    let report = passerelle::traces::verify::stream(&app.state, DEMO_ID)
        .await
        .unwrap();
    assert_eq!(
        report.first_break, None,
        "what stays verifies from the new origin"
    );
    assert_eq!(report.seals, 1);

    let caf = app.api_token("habilitations@caf79.example").await;
    let (status, list) = app
        .api(Method::GET, "/api/v1/traces/attestations", &caf, None)
        .await;
    assert_eq!(status, 200);
    assert!(list.as_array().unwrap().iter().any(|a| a["count"] == 2));

    // A stream whose every record retention destroyed, after a seal: nothing reads as a lost
    // tail.
    let only_old = old.map(|mut t| {
        t.stream = "only-old".into();
        t
    });
    app.state
        .tracer
        .append_durable(only_old.to_vec())
        .await
        .unwrap();
    passerelle::traces::seal::seal_all(&app.state)
        .await
        .unwrap();
    passerelle::retention::run_all(
        &app.state,
        &passerelle::config::RetentionConfig::default(),
        6,
        passerelle::store::now(),
    )
    .await
    .unwrap();
    let report = passerelle::traces::verify::stream(&app.state, "only-old")
        .await
        .unwrap();
    assert_eq!((report.records, report.first_break), (0, None));
}

#[tokio::test]
async fn personal_data_is_erased_six_months_after_the_last_habilitation_ended() {
    let app = TestApp::spawn().await;
    let store = &app.state.stores.habilitations;
    let sophie = app.account(SOPHIE).await;
    let long_ago = passerelle::store::now() - 200 * 86_400;
    for h in store.habilitations_of_account(&sophie.id).await.unwrap() {
        if h.holder == passerelle::store::Holder::Account(sophie.id.clone()) {
            store
                .set_habilitation_status(
                    &h.id,
                    passerelle::store::HabilitationStatus::Closed,
                    "test",
                    Some("départ"),
                    long_ago,
                )
                .await
                .unwrap();
        }
    }
    let report = passerelle::retention::run_all(
        &app.state,
        &passerelle::config::RetentionConfig::default(),
        6,
        passerelle::store::now(),
    )
    .await
    .unwrap();
    assert_eq!(report.erased_accounts, 1);
    let erased = app
        .state
        .stores
        .accounts
        .get_account(&sophie.id)
        .await
        .unwrap()
        .unwrap();
    assert!(erased.profile.email.as_str().starts_with("efface-"));
    assert_eq!(erased.profile.family_name, "");
    assert!(erased.password_hash.is_none());
    // The habilitation records stay (their own retention is longer) and refer to the id only.
    assert!(
        !store
            .habilitations_of_account(&sophie.id)
            .await
            .unwrap()
            .is_empty()
    );
    let response = app.login_fresh(SOPHIE, PASSWORD).await;
    assert_eq!(response.status(), 401, "the person no longer exists");

    // The erasure is attested and signed: the accounts by their opaque id only.
    let erasure = report.erasure.expect("a signed attestation of the erasure");
    assert_eq!(erasure.accounts, vec![sophie.id.clone()]);
    let signed = app.state.keys.verify_compact(&erasure.signature).unwrap();
    assert_eq!(signed["count"], 1);
    assert_eq!(signed["accounts"][0], sophie.id.as_str());
    assert!(!erasure.signature.contains("Lambert"));
    let caf = app.api_token("habilitations@caf79.example").await;
    let (status, list) = app
        .api(Method::GET, "/api/v1/retention/erasures", &caf, None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["accounts"][0], sophie.id.as_str());

    // Annexe 1's list 2 still names her: the habilitation kept who held it.
    let (status, annex) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/annexe1?service=cdap",
            &caf,
            None,
        )
        .await;
    assert_eq!(status, 200, "{annex}");
    let closed = annex["closed"].as_array().unwrap();
    assert!(
        closed.iter().any(|r| r["family_name"] == "Lambert"
            && r["email"] == SOPHIE
            && r["function"] == "Assistante de service social"
            && r["roles"][0] == "T1"),
        "{annex}"
    );
    assert!(
        annex["open"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["email"] != SOPHIE)
    );
    // She is no longer among the partner's people, and a second run erases nothing more.
    let (_, people) = app
        .api(
            Method::GET,
            "/api/v1/partners/ville-de-niort/accounts",
            &caf,
            None,
        )
        .await;
    assert!(!people.to_string().contains("efface-"), "{people}");
    let again = passerelle::retention::run_all(
        &app.state,
        &passerelle::config::RetentionConfig::default(),
        6,
        passerelle::store::now(),
    )
    .await
    .unwrap();
    assert_eq!(again.erased_accounts, 0);
    assert!(again.erasure.is_none());
}

/// The Caf's security officer also reads the logins of the Caf's own staff; a partner's officer
/// and another Caf's staff stay out of each other's reach.
#[tokio::test]
async fn a_caf_security_officer_reads_the_caf_staff_traces() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    // Their password logins are traced, whatever the demo application then makes of them.
    for who in ["habilitations@caf79.example", "habilitations@caf42.example"] {
        app.login_fresh(who, "Demo-Passerelle-Admin-2026!").await;
    }
    app.state.tracer.flush().await.unwrap();
    let logins = |token: String, person: &'static str| {
        let app = &app;
        async move {
            let (status, page) = app
                .api(
                    Method::GET,
                    &format!("/api/v1/traces?person={person}&action=auth.login"),
                    &token,
                    None,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            page["traces"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|t| t["outcome"] == "success")
                .count()
        }
    };
    let caf79_security = app.api_token("rssi@caf79.example").await;
    assert_eq!(
        logins(caf79_security.clone(), "habilitations@caf79.example").await,
        1,
        "the Caf's own staff"
    );
    assert_eq!(
        logins(caf79_security, "habilitations@caf42.example").await,
        0,
        "not another Caf's"
    );
    let niort = app.api_token(NIORT_SECURITY).await;
    assert_eq!(
        logins(niort, "habilitations@caf79.example").await,
        0,
        "a partner's officer reads its partner only"
    );
    let national = app.api_token(NATIONAL).await;
    assert_eq!(
        logins(national, "habilitations@caf42.example").await,
        1,
        "the national operator reads everything"
    );
}
