//! What security officers look at: the dashboard (`/console/securite`) over HTTP and in
//! Chromium.

use crate::browser::{
    click, console_as, download, start_driver, text_of, type_into, wait_for_url_with,
};
use crate::helpers::*;
use crate::requests::{page, signed_in};
use fantoccini::Locator;

const PAUL: &str = "paul.martin@niort.example";
const CAF_SECURITY: &str = "rssi@caf79.example";

/// The figure of the summary that ends with `words`.
fn figure(page: &str, words: &str) -> u64 {
    let end = page
        .find(words)
        .unwrap_or_else(|| panic!("{words} in {page}"));
    let start = page[..end].rfind("<strong>").unwrap() + "<strong>".len();
    page[start..end]
        .trim_end_matches("</strong> ")
        .parse()
        .unwrap()
}

/// The part of the page under the heading of `id`, up to the next heading.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page.find(&format!("<h2 id=\"{id}\"")).unwrap();
    let rest = &page[start..];
    &rest[..rest[1..].find("<h2").map_or(rest.len(), |e| e + 1)]
}

#[tokio::test]
async fn the_dashboard_counts_within_reach_and_lists_locked_and_dormant_accounts() {
    let app = TestApp::spawn_with(|c| {
        c.credentials.mfa_for_administrators = false;
        c.throttling.delay_after = 10;
    })
    .await;
    // Niort: Sophie fails twice then logs in, Paul fails until his account locks. Claire
    // (another Caf's partner) fails once.
    for _ in 0..2 {
        assert_eq!(app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await.status(), 401);
    }
    app.assert_logs_in(SOPHIE, PASSWORD).await;
    for _ in 0..app.state.settings.throttling.lock_after {
        app.login_fresh(PAUL, "Pas-Le-Bon-1!").await;
    }
    app.login_fresh(CLAIRE, "Pas-Le-Bon-1!").await;
    let caf = signed_in(&app, CAF_SECURITY).await;
    let niort = signed_in(&app, "helene.faure@niort.example").await;
    let national = signed_in(&app, "exploitation@cnaf.example").await;
    app.state.tracer.flush().await.unwrap();

    let board = page(&app, &caf, "/console/securite").await;
    // Failures by reason: Sophie's two and Paul's wrong passwords (the attempts a CAPTCHA
    // stopped are counted apart).
    let wrong = 2 + app.state.settings.throttling.lock_after;
    // Every figure leads to its search.
    let reason_count = |board: &str| -> u64 {
        let at = board.find("reason=wrong_password&amp;from=").unwrap();
        let rest = &board[at..];
        let start = rest.find("\">").unwrap() + 2;
        rest[start..start + rest[start..].find('<').unwrap()]
            .parse()
            .unwrap()
    };
    assert_eq!(reason_count(&board), u64::from(wrong), "{board}");
    assert!(board.contains("mot de passe erroné"));
    let failures = figure(&board, "échecs de connexion");
    assert!(failures >= u64::from(wrong));
    // Sophie's login, Niort's officer's and the Caf's own officer's: its staff is in reach.
    assert_eq!(figure(&board, "connexions réussies"), 3);
    assert_eq!(figure(&board, "comptes verrouillés en ce moment"), 1);
    let locked = section(&board, "verrouilles");
    assert!(
        locked.contains("Paul Martin") && locked.contains(PAUL),
        "{locked}"
    );
    assert!(!locked.contains("Sophie"), "{locked}");
    // The same figures for tools, through the API.
    let token = app.api_token(CAF_SECURITY).await;
    let (status, api) = app
        .api(
            reqwest::Method::GET,
            "/api/v1/traces/dashboard",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 200, "{api}");
    let api_failures: u64 = api["days"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["failures"].as_u64().unwrap())
        .sum();
    assert_eq!(api_failures, failures, "{api}");
    assert_eq!(api["locked"][0]["email"], PAUL);
    let (status, _) = app
        .api(
            reqwest::Method::GET,
            "/api/v1/traces/dashboard?from=2026-13-01",
            &token,
            None,
        )
        .await;
    assert_eq!(status, 400);
    // The partner's officer: Niort only (not the Caf's staff); the national operator: all.
    let board = page(&app, &niort, "/console/securite").await;
    assert_eq!(figure(&board, "échecs de connexion"), failures);
    assert_eq!(figure(&board, "connexions réussies"), 2);
    let board = page(&app, &national, "/console/securite").await;
    assert!(
        figure(&board, "échecs de connexion") > failures,
        "Claire's failure too"
    );
    // A search by another officer is listed, in words.
    page(
        &app,
        &niort,
        &format!("/console/traces?search=1&person={SOPHIE}"),
    )
    .await;
    app.state.tracer.flush().await.unwrap();
    let board = page(&app, &caf, "/console/securite").await;
    let searches = &board[board.find("id=\"recherches\"").unwrap()..];
    assert!(
        searches.contains("Hélène Faure") && searches.contains("personne : Sophie Lambert"),
        "{searches}"
    );

    // Four months on, the accounts created by the demo that have not logged in since are
    // candidates for closure; Sophie's last login is said.
    app.state.clock.advance(4 * 30 * 86_400);
    let caf = signed_in(&app, CAF_SECURITY).await;
    let board = page(&app, &caf, "/console/securite?inactifs=3").await;
    let dormant = section(&board, "inactifs");
    assert!(dormant.contains("Sophie Lambert"), "{dormant}");
    assert!(
        dormant.contains("aucune dans les traces conservées"),
        "{dormant}"
    );
    assert_eq!(figure(&board, "échecs de connexion"), 0, "a new period");
    let board = page(&app, &caf, "/console/securite?inactifs=6").await;
    assert!(!section(&board, "inactifs").contains("Sophie Lambert"));
    // A period to correct is said, and the default one shown.
    let board = page(&app, &caf, "/console/securite?du=2026-12-05&au=2026-12-01").await;
    assert!(board.contains("role=\"alert\"") && board.contains("inversez-les"));
    // Only security officers.
    let officer = signed_in(&app, "habilitations@caf79.example").await;
    let response = officer
        .get(app.url("/console/securite"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn a_caf_security_officer_follows_a_failure_spike_to_the_traces_and_their_csv_in_chromium() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    for _ in 0..3 {
        app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await;
    }
    app.state.tracer.flush().await.unwrap();
    let driver = start_driver().await;
    let c = console_as(&app, &driver, CAF_SECURITY).await;
    c.find(Locator::LinkText("Sécurité"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&c, "/console/securite").await;
    assert_eq!(
        c.title().await.unwrap(),
        "Tableau de bord de sécurité – Console Passerelle"
    );
    // The hour of the spike, in the hour-by-hour chart's table.
    c.find(Locator::Css("#heures-titre ~ details summary"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut spike = None;
    for link in c
        .find_all(Locator::Css(
            "#heures-titre ~ details td[data-label='Échecs'] a",
        ))
        .await
        .unwrap()
    {
        if link.text().await.unwrap() == "3" {
            spike = Some(link);
        }
    }
    spike
        .expect("the hour of the three failures")
        .click()
        .await
        .unwrap();
    wait_for_url_with(&c, "/console/traces").await;
    let table = text_of(&c, "#traces tbody").await;
    assert_eq!(
        table.matches("mot de passe erroné").count(),
        3,
        "the three failures of that hour: {table}"
    );
    assert!(table.contains("Sophie Lambert"), "{table}");
    let export = c
        .find(Locator::LinkText("Exporter pour un tableur (CSV)"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let csv = download(&c, &app.url(&export)).await;
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(';').collect()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    let at = |name: &str| header.iter().position(|h| *h == name).expect(name);
    for row in &rows {
        assert_eq!(row[at("personne")], "Sophie Lambert");
        assert_eq!(row[at("libelle_action")], "Connexion par mot de passe");
        assert_eq!(row[at("motif")], "mot de passe erroné");
    }
    c.close().await.unwrap();
}

/// The first alert of `rule`, once the rules have seen the traces (bounded wait).
pub(crate) async fn wait_for_alert(
    app: &TestApp,
    rule: &str,
) -> passerelle::store::security::Alert {
    let everything = passerelle::store::security::SecurityReach {
        everything: true,
        ..Default::default()
    };
    for _ in 0..400 {
        let alerts = app
            .state
            .stores
            .security
            .alerts(&everything, 50)
            .await
            .unwrap();
        if let Some(a) = alerts.into_iter().find(|a| a.rule == rule) {
            return a;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no alert {rule}");
}

fn alert_mails(app: &TestApp, to: &str) -> usize {
    app.mails_to(to)
        .iter()
        .filter(|m| m.subject.starts_with("Alerte de sécurité Passerelle"))
        .count()
}

#[tokio::test]
async fn a_burst_of_failures_raises_one_alert_mailed_once_and_acknowledged_in_chromium() {
    let app = TestApp::spawn_with(|c| {
        c.credentials.mfa_for_administrators = false;
        c.alerts.failures_per_account = 3;
    })
    .await;
    // Three wrong passwords on Sophie's account, then two more attempts of the same burst.
    for _ in 0..3 {
        app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await;
    }
    let alert = wait_for_alert(&app, "failures_per_account").await;
    assert_eq!(
        alert.partner.as_ref().map(|p| p.as_str()),
        Some("ville-de-niort")
    );
    for _ in 0..2 {
        app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await;
    }
    // The same burst goes on: counted, not mailed again.
    for _ in 0..400 {
        let a = app
            .state
            .stores
            .security
            .get_alert(&alert.id)
            .await
            .unwrap()
            .unwrap();
        if a.events >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let again = app
        .state
        .stores
        .security
        .get_alert(&alert.id)
        .await
        .unwrap()
        .unwrap();
    assert!(again.events >= 2, "{again:?}");
    // Mailed to the partner's security officer and the Caf's, once; not to the person.
    for officer in ["helene.faure@niort.example", CAF_SECURITY] {
        assert_eq!(alert_mails(&app, officer), 1, "{officer}");
    }
    assert_eq!(alert_mails(&app, SOPHIE), 0);
    let mail = app
        .mails_to("helene.faure@niort.example")
        .into_iter()
        .find(|m| m.subject.starts_with("Alerte"))
        .unwrap();
    assert!(
        mail.text.contains("sur le compte de Sophie Lambert")
            && mail.text.contains("/console/alertes#alerte-"),
        "{}",
        mail.text
    );

    let driver = start_driver().await;
    let c = console_as(&app, &driver, "helene.faure@niort.example").await;
    c.find(Locator::LinkText("Alertes"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&c, "/console/alertes").await;
    let item = text_of(&c, &format!("#alerte-{}", alert.id)).await;
    assert!(item.contains("Échecs répétés sur un même compte"), "{item}");
    assert!(
        item.contains("Sophie Lambert") && item.contains("Mairie de Niort"),
        "{item}"
    );
    type_into(
        &c,
        &format!("#commentaire-{}", alert.id),
        "Appel de Sophie : elle avait oublié son mot de passe.",
    )
    .await;
    click(&c, &format!("#alerte-{} button[type=submit]", alert.id)).await;
    wait_for_url_with(&c, "fait=alerte").await;
    let item = text_of(&c, &format!("#alerte-{}", alert.id)).await;
    assert!(
        item.contains("Acquittée")
            && item.contains("Hélène Faure")
            && item.contains("oublié son mot de passe"),
        "{item}"
    );
    c.close().await.unwrap();
    // The acknowledgement is traced.
    app.own_trace(|t| {
        t.action == "alert.acknowledge"
            && t.target.as_deref() == Some(&format!("alert:{}", alert.id))
    })
    .await;
    // An alert is acknowledged once.
    let other = app
        .state
        .stores
        .security
        .acknowledge_alert(&alert.id, &app.account(CAF_SECURITY).await.id, 0, "encore")
        .await
        .unwrap();
    assert!(!other, "acknowledged once");
}

#[tokio::test]
async fn every_alert_rule_raises_its_alert() {
    let app = TestApp::spawn_with(|c| {
        c.credentials.mfa_for_administrators = false;
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
        c.throttling.delay_after = 10;
        c.throttling.lock_seconds = 60;
        c.alerts.failures_per_address = 3;
        c.alerts.failure_window_seconds = 3_600;
        c.alerts.distant_networks = 2;
        c.alerts.large_export_rows = 1;
    })
    .await;
    // Paul's account locks under failures from one address; once the lock is over, he logs in.
    for _ in 0..app.state.settings.throttling.lock_after {
        app.login_fresh(PAUL, "Pas-Le-Bon-1!").await;
    }
    let burst = wait_for_alert(&app, "failures_per_address").await;
    assert_eq!(burst.subject, "127.0.0.1");
    app.state.clock.advance(61);
    app.assert_logs_in(PAUL, PASSWORD).await;
    let after_lock = wait_for_alert(&app, "login_after_lock").await;
    assert!(
        after_lock.evidence["summary"]
            .as_str()
            .unwrap()
            .contains("Paul Martin"),
        "{after_lock:?}"
    );
    // Sophie from two distant networks within the hour.
    for ip in ["192.0.2.10", "198.51.100.20"] {
        let response = app
            .submit_login_from(&browser(), "/login", SOPHIE, PASSWORD, Some(ip))
            .await;
        assert_eq!(response.status(), 303);
    }
    let distant = wait_for_alert(&app, "distant_addresses").await;
    let summary = distant.evidence["summary"].as_str().unwrap();
    assert!(
        summary.contains("192.0.2.10") && summary.contains("198.51.100.20"),
        "{summary}"
    );
    // The Caf's officer appoints another substitute administrator at Niort (an end of
    // appointment raises nothing).
    let officer = app.api_token("habilitations@caf79.example").await;
    let sophie = app.account(SOPHIE).await;
    let lucie = app.account("lucie.bernard@niort.example").await;
    let (status, body) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/{}/appointment", lucie.id),
            &officer,
            Some(serde_json::json!({ "role": "substitute", "appointed": false })),
        )
        .await;
    assert!((200..300).contains(&status), "{body}");
    let (status, body) = app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/accounts/{}/appointment", sophie.id),
            &officer,
            Some(serde_json::json!({ "role": "substitute", "appointed": true })),
        )
        .await;
    assert!((200..300).contains(&status), "{body}");
    let granted = wait_for_alert(&app, "admin_role_granted").await;
    assert!(
        granted.evidence["summary"]
            .as_str()
            .unwrap()
            .contains("Sophie Lambert"),
        "{granted:?}"
    );
    // An export of traces above the threshold.
    let security = app.api_token(CAF_SECURITY).await;
    let export = app
        .api
        .get(app.url("/api/v1/traces/export?format=csv"))
        .bearer_auth(&security)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 200);
    let export = wait_for_alert(&app, "large_export").await;
    assert!(
        export.evidence["summary"]
            .as_str()
            .unwrap()
            .contains("Yann Le Goff"),
        "{export:?}"
    );
    // Each new alert is traced.
    app.own_trace(|t| t.action == "alert.raise" && t.reason.as_deref() == Some("large_export"))
        .await;
}

/// The lines of a CSV export after its header, as cells.
fn csv_rows(csv: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header = lines
        .next()
        .unwrap()
        .split(';')
        .map(str::to_owned)
        .collect();
    (
        header,
        lines
            .map(|l| l.split(';').map(str::to_owned).collect())
            .collect(),
    )
}

#[tokio::test]
async fn a_partner_officer_asks_the_caf_for_traces_and_downloads_its_answer_in_chromium() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    // The demo application traces who opened a family's file: Sophie (Niort), and an officer
    // of the Caf, whose traces Niort's officer does not see.
    let token = crate::traces::rp_token(&app).await;
    let sophie = app.account(SOPHIE).await.id.to_string();
    let caf_staff = app
        .account("habilitations@caf79.example")
        .await
        .id
        .to_string();
    let events = serde_json::json!([
        { "id": "r1", "sub": sophie, "action": "dossier.consultation", "target": "dossier:2026-0042" },
        { "id": "r2", "sub": caf_staff, "action": "dossier.consultation", "target": "dossier:2026-0042" },
        { "id": "r3", "sub": sophie, "action": "dossier.consultation", "target": "dossier:2026-0099" },
    ]);
    let (status, body) = crate::traces::submit(&app, &token, events).await;
    assert_eq!(status, 200, "{body}");
    let niort_token = app.api_token("helene.faure@niort.example").await;
    let (_, own) = app
        .api(
            reqwest::Method::GET,
            "/api/v1/traces?target=dossier:2026-0042",
            &niort_token,
            None,
        )
        .await;
    assert_eq!(
        own["traces"].as_array().unwrap().len(),
        1,
        "Niort sees its own: {own}"
    );

    // One Chromium profile per person (two sessions cannot share one).
    let drivers = [start_driver().await, start_driver().await];
    let partner = console_as(&app, &drivers[0], "helene.faure@niort.example").await;
    partner
        .find(Locator::LinkText("Demandes de traces"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&partner, "/console/demandes-de-traces").await;
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Paris)
        .date_naive()
        .to_string();
    partner
        .find(Locator::Css("#purpose"))
        .await
        .unwrap()
        .send_keys("Réclamation d'une famille : qui a consulté son dossier ?")
        .await
        .unwrap();
    partner
        .find(Locator::Css("#service"))
        .await
        .unwrap()
        .select_by_value("demo-app")
        .await
        .unwrap();
    crate::browser::type_into(&partner, "#target", "dossier:2026-0042").await;
    partner
        .execute(
            "document.getElementById('from').value = arguments[0]; document.getElementById('to').value = arguments[0];",
            vec![serde_json::Value::String(today)],
        )
        .await
        .unwrap();
    partner
        .find(Locator::Css(
            "form[action='/console/demandes-de-traces'] button[type=submit]",
        ))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&partner, "fait=demande-traces").await;
    let list = text_of(&partner, "main").await;
    assert!(
        list.contains("en attente de la Caf") && list.contains("objet : dossier:2026-0042"),
        "{list}"
    );
    let request = app
        .state
        .stores
        .security
        .trace_requests(&passerelle::store::security::SecurityReach {
            everything: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .remove(0);
    assert!(
        app.mails_to(CAF_SECURITY)
            .iter()
            .any(|m| m.subject == "Demande de traces de « Mairie de Niort »"),
        "the Caf's security officer is told"
    );

    // The Caf's security officer answers with the export attached.
    let caf = console_as(&app, &drivers[1], CAF_SECURITY).await;
    caf.goto(&app.url("/console/demandes-de-traces"))
        .await
        .unwrap();
    caf.wait()
        .for_element(Locator::Css(&format!("#reponse-{}", request.id)))
        .await
        .unwrap();
    let found = crate::accessibility::violations(&caf).await;
    assert!(found.is_empty(), "{found:?}");
    type_into(
        &caf,
        &format!("#reponse-{}", request.id),
        "Voici les consultations du dossier.",
    )
    .await;
    click(
        &caf,
        &format!("#demande-{} button[value=answer]", request.id),
    )
    .await;
    wait_for_url_with(&caf, "fait=traces-jointes").await;
    caf.close().await.unwrap();
    assert!(
        app.mails_to("helene.faure@niort.example")
            .iter()
            .any(
                |m| m.subject == "Réponse de la Caf à votre demande de traces"
                    && m.text.contains("2 trace(s)")
            ),
        "the requester is told"
    );

    // The requester downloads the answer: both consultations, the Caf's officer's included.
    partner
        .goto(&app.url("/console/demandes-de-traces"))
        .await
        .unwrap();
    let href = partner
        .find(Locator::Css("a[href$='/export']"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    let csv = download(&partner, &app.url(&href)).await;
    partner.close().await.unwrap();
    let (header, rows) = csv_rows(&csv);
    let at = |name: &str| header.iter().position(|h| h == name).expect(name);
    let staff = app.account("habilitations@caf79.example").await.profile;
    let mut people: Vec<String> = rows.iter().map(|r| r[at("personne")].clone()).collect();
    people.sort();
    let mut expected = vec![
        "Sophie Lambert".to_owned(),
        format!("{} {}", staff.given_name, staff.family_name),
    ];
    expected.sort();
    assert_eq!(people, expected, "{csv}");
    assert!(
        rows.iter().all(|r| r[at("target")] == "dossier:2026-0042"),
        "{csv}"
    );
    // Each step is traced.
    for action in [
        "trace.request",
        "trace.request.answer",
        "trace.request.download",
    ] {
        app.own_trace(|t| {
            t.action == action
                && t.target.as_deref() == Some(&format!("trace_request:{}", request.id))
        })
        .await;
    }
}

#[tokio::test]
async fn trace_requests_are_checked_answered_once_and_kept_to_their_parties() {
    use passerelle::store::security::TraceRequestFilter;
    use passerelle::traces::requests::{self, Filing};
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    let load = |email: &'static str| {
        let app = &app;
        async move {
            passerelle::habilitations::Actor::load(&app.state, &app.account(email).await.id)
                .await
                .unwrap()
        }
    };
    let origin = passerelle::traces::Origin::default();
    let niort = load("helene.faure@niort.example").await;
    let caf = load(CAF_SECURITY).await;
    let filing = |target: Option<&str>, from: &str| Filing {
        purpose: "Contrôle".into(),
        filter: TraceRequestFilter {
            target: target.map(str::to_owned),
            from: from.into(),
            to: "2026-12-01".into(),
            ..Default::default()
        },
    };
    fn refused<T>(r: Result<T, passerelle::habilitations::HabilitationError>) -> String {
        passerelle::labels::refusal(&r.err().expect("refused"))
    }
    assert!(
        refused(requests::file(&app.state, &niort, filing(None, "2026-11-01"), &origin).await)
            .contains("Précisez ce qui est cherché")
    );
    assert!(
        refused(
            requests::file(
                &app.state,
                &niort,
                filing(Some("dossier:1"), "2026-12-05"),
                &origin
            )
            .await
        )
        .contains("inversez-les")
    );
    assert!(
        refused(
            requests::file(
                &app.state,
                &caf,
                filing(Some("dossier:1"), "2026-11-01"),
                &origin
            )
            .await
        )
        .contains("Seuls les responsables sécurité d'un partenaire")
    );
    let request = requests::file(
        &app.state,
        &niort,
        filing(Some("dossier:1"), "2026-11-01"),
        &origin,
    )
    .await
    .unwrap();
    // Only the Caf answers; a refusal says why; an answer is given once.
    assert!(
        refused(requests::answer(&app.state, &niort, &request.id, true, "", &origin).await)
            .contains("Seul le responsable sécurité de la Caf")
    );
    assert!(
        refused(requests::answer(&app.state, &caf, &request.id, false, " ", &origin).await)
            .contains("pourquoi la demande est refusée")
    );
    requests::answer(
        &app.state,
        &caf,
        &request.id,
        false,
        "Hors du champ de la convention.",
        &origin,
    )
    .await
    .unwrap();
    assert!(
        refused(requests::answer(&app.state, &caf, &request.id, true, "", &origin).await)
            .contains("déjà reçu une réponse")
    );
    assert!(
        refused(requests::download(&app.state, &niort, &request.id, &origin).await)
            .contains("Aucun export")
    );
    // Another partner's security officer, or another Caf's, does not see it, nor reach it by
    // its id; the Caf's own officer still lists it.
    let others = passerelle::provision::parse(
        "[[account]]\nemail = \"rssi@roumois-seine.example\"\ngiven_name = \"Rose\"\nfamily_name = \"Sigal\"\npartner = \"cc-roumois-seine\"\nadmin_roles = [\"security_officer\"]\npassword = \"Demo-Passerelle-Admin-2026!\"\n\n[[account]]\nemail = \"rssi@caf42.example\"\ngiven_name = \"Rémi\"\nfamily_name = \"Vidal\"\ncaf = \"42\"\nadmin_roles = [\"security_officer\"]\npassword = \"Demo-Passerelle-Admin-2026!\"\n",
        "test",
    )
    .unwrap();
    passerelle::provision::apply(&app.state, &others, true)
        .await
        .unwrap();
    for email in ["rssi@roumois-seine.example", "rssi@caf42.example"] {
        let other = load(email).await;
        assert!(
            requests::list(&app.state, &other).await.unwrap().is_empty(),
            "{email} lists another's request"
        );
        assert!(
            refused(requests::download(&app.state, &other, &request.id, &origin).await)
                .contains("introuvable"),
            "{email} reaches another's request"
        );
    }
    assert_eq!(requests::list(&app.state, &caf).await.unwrap().len(), 1);
    assert!(
        app.mails_to("helene.faure@niort.example")
            .iter()
            .any(|m| m.text.contains("Hors du champ de la convention.")),
        "the refusal is mailed with its reason"
    );
}
