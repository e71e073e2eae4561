//! What security officers look at: the dashboard (`/console/securite`) over HTTP and in
//! Chromium.

use crate::browser::{console_as, start_driver, text_of, wait_for_url_with};
use crate::helpers::*;
use fantoccini::Locator;

const ADMIN_PASSWORD: &str = "Demo-Passerelle-Admin-2026!";
const PAUL: &str = "paul.martin@niort.example";
const CAF_SECURITY: &str = "rssi@caf79.example";

async fn signed_in(app: &TestApp, email: &str) -> reqwest::Client {
    let browser = browser();
    let response = app
        .submit_login(&browser, "/login", email, ADMIN_PASSWORD)
        .await;
    assert_eq!(response.status(), 303, "{email} logs in");
    browser
}

async fn page(app: &TestApp, browser: &reqwest::Client, path: &str) -> String {
    let response = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

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
    let cookies = c
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ");
    let csv = reqwest::Client::new()
        .get(app.url(&export))
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
