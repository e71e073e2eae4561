//! Accessibility (RGAA, through WCAG 2.1 A and AA): every console page, at 1280 px and on a
//! 320 px wide screen, passes axe-core with no violation and reflows without horizontal
//! scrolling (WCAG 1.4.10). axe-core comes from the npm registry
//! (`tests/run.sh` installs it under `target/axe`); it is injected through WebDriver, which the
//! pages' content security policy does not govern.

use crate::browser::{chromium_width, start_driver, submit, type_into, wait_for_path};
use crate::helpers::*;
use crate::security::wait_for_alert;
use fantoccini::{Client, Locator};

const AXE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/target/axe/node_modules/axe-core/axe.min.js"
);

/// What axe-core finds on the current page: one line per violation with its first targets.
pub(crate) async fn violations(c: &Client) -> Vec<String> {
    let source = std::fs::read_to_string(AXE)
        .expect("axe-core is missing: run ./tests/run.sh, which installs it under target/axe");
    c.execute(&source, vec![]).await.expect("axe-core loads");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })
                .then(r => done(r.violations.map(v => v.id + ': ' + v.help + ' — ' +
                    v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))))
                .catch(e => done(['axe failed: ' + e]));",
            vec![],
        )
        .await
        .expect("axe-core runs");
    let mut found: Vec<String> = found
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    // WCAG 1.4.10: the page reflows, without horizontal scrolling, down to 320 px.
    let overflow = c
        .execute(
            "const d = document.documentElement; const over = d.scrollWidth - d.clientWidth;
             if (over <= 0) { return 0; }
             const wide = [...document.querySelectorAll('main *')]
                .filter(e => e.getBoundingClientRect().right > d.clientWidth + 1
                    && ![...e.children].some(c => c.getBoundingClientRect().right > d.clientWidth + 1))
                .slice(0, 4)
                .map(e => e.tagName.toLowerCase() + (e.className ? '.' + e.className : ''));
             return over + ' px too wide, widest: ' + wide.join(', ');",
            vec![],
        )
        .await
        .unwrap();
    if overflow.as_i64() != Some(0) {
        found.push(format!("reflow: {overflow}"));
    }
    found
}

/// Logs the Caf's habilitation officer in and visits every kind of console page, returning
/// what axe-core says of each.
async fn console_pages(app: &TestApp, c: &Client) -> Vec<(String, Vec<String>)> {
    c.goto(&app.url("/login")).await.unwrap();
    type_into(c, "#email", "habilitations@caf79.example").await;
    type_into(c, "#password", "Demo-Passerelle-Admin-2026!").await;
    submit(c).await;
    wait_for_path(c, "/console").await;
    let sophie = app.account("sophie.lambert@niort.example").await;
    let niort = passerelle::types::PartnerId::parse("ville-de-niort").unwrap();
    let group = app
        .state
        .stores
        .habilitations
        .groups_of_partner(&niort)
        .await
        .unwrap()
        .remove(0);
    let review = app
        .state
        .stores
        .habilitations
        .reviews_of_partner(&niort)
        .await
        .unwrap()
        .remove(0);
    // A pending request in the Caf's queue: Niort switched to centralized mode, its
    // administrator asks for an account.
    let load = |email: &'static str| async move {
        passerelle::habilitations::Actor::load(&app.state, &app.account(email).await.id)
            .await
            .unwrap()
    };
    let officer = load("habilitations@caf79.example").await;
    passerelle::habilitations::manage::switch_mode(
        &app.state,
        &officer,
        &passerelle::types::ConventionId::parse("mcp-79-niort").unwrap(),
        passerelle::store::HabilitationMode::Centralized,
        Some("test"),
    )
    .await
    .unwrap();
    passerelle::habilitations::manage::file_request(
        &app.state,
        &load("marc.rousseau@niort.example").await,
        &niort,
        passerelle::store::request::RequestedChange::CreatePerson {
            email: passerelle::types::Email::parse("julie.martin@niort.example").unwrap(),
            civility: None,
            given_name: "Julie".into(),
            family_name: "Martin".into(),
            function: None,
            named_person: false,
        },
        Some("arrivée"),
    )
    .await
    .unwrap();
    let pages = [
        "/console".to_owned(),
        "/console/demandes".to_owned(),
        "/console/partenaires/ville-de-niort".to_owned(),
        format!("/console/personnes/{}", sophie.id),
        format!("/console/groupes/{}", group.id),
        format!("/console/revues/{}", review.id),
        format!("/console/revues/{}/rapport", review.id),
        "/console/revues/verifier".to_owned(),
        "/console/partenaires/ville-de-niort/annexe1?service=cdap".to_owned(),
        "/console/jetons".to_owned(),
        "/compte".to_owned(),
        "/compte/cles-d-acces".to_owned(),
        "/console/recherche?q=niort".to_owned(),
        "/console/recherche?type=habilitations&limit=2".to_owned(),
        "/console/recherche?type=personnes&sort=created&order=desc".to_owned(),
        "/console/groupes/00000000-0000-4000-8000-000000000000".to_owned(),
    ];
    let mut found = Vec::new();
    for path in pages {
        c.goto(&app.url(&path)).await.unwrap();
        found.push((path, violations(c).await));
    }
    // The confirmation a destructive action asks for.
    c.goto(&app.url(&format!("/console/personnes/{}", sophie.id)))
        .await
        .unwrap();
    let form = c
        .find(Locator::Css("form[action$='/compte']"))
        .await
        .unwrap();
    let reason = form.find(Locator::Css("input[name=reason]")).await.unwrap();
    reason.send_keys("Absence prolongée").await.unwrap();
    let button = form
        .find(Locator::Css("button[value=suspend]"))
        .await
        .unwrap();
    // Clicked from the page itself: on a narrow screen the button may sit below the fold.
    c.execute(
        "arguments[0].scrollIntoView(); arguments[0].click();",
        vec![serde_json::to_value(&button).unwrap()],
    )
    .await
    .unwrap();
    c.wait()
        .for_element(Locator::Css("input[name=confirme]"))
        .await
        .unwrap();
    found.push(("confirmation".to_owned(), violations(c).await));
    // An open review's decision form, as the partner's principal administrator sees it.
    c.delete_all_cookies().await.unwrap();
    c.goto(&app.url("/login")).await.unwrap();
    type_into(c, "#email", "marc.rousseau@niort.example").await;
    type_into(c, "#password", "Demo-Passerelle-Admin-2026!").await;
    submit(c).await;
    wait_for_path(c, "/console").await;
    let open = passerelle::habilitations::review::start(
        &app.state,
        &load("marc.rousseau@niort.example").await,
        &niort,
    )
    .await
    .unwrap();
    c.goto(&app.url(&format!("/console/revues/{}", open.id)))
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("button[value=confirm_all]"))
        .await
        .unwrap();
    found.push(("revue ouverte".to_owned(), violations(c).await));
    // The trace search with results, as the Caf's security officer sees it.
    c.delete_all_cookies().await.unwrap();
    c.goto(&app.url("/login")).await.unwrap();
    type_into(c, "#email", "rssi@caf79.example").await;
    type_into(c, "#password", "Demo-Passerelle-Admin-2026!").await;
    submit(c).await;
    wait_for_path(c, "/console").await;
    c.goto(&app.url("/console/traces?search=1")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("#traces tbody tr"))
        .await
        .unwrap();
    found.push(("traces".to_owned(), violations(c).await));
    // The security dashboard, its charts' tables opened.
    c.goto(&app.url("/console/securite")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("figure.chart svg"))
        .await
        .unwrap();
    c.execute(
        "document.querySelectorAll('details').forEach(d => d.open = true);",
        vec![],
    )
    .await
    .unwrap();
    found.push(("tableau de bord".to_owned(), violations(c).await));
    // An alert to acknowledge: two failures on Sophie's account (the threshold of this test).
    for _ in 0..2 {
        app.login_fresh("sophie.lambert@niort.example", "Pas-Le-Bon-1!")
            .await;
    }
    wait_for_alert(app, "failures_per_account").await;
    c.goto(&app.url("/console/alertes")).await.unwrap();
    c.wait()
        .for_element(Locator::Css("section.alert-item textarea"))
        .await
        .unwrap();
    found.push(("alertes".to_owned(), violations(c).await));
    // The checker itself can fail: an image without text is reported.
    c.execute(
        "document.querySelector('main').appendChild(document.createElement('img'));",
        vec![],
    )
    .await
    .unwrap();
    let planted = violations(c).await;
    assert!(
        planted.iter().any(|v| v.starts_with("image-alt")),
        "axe-core reports a planted violation: {planted:?}"
    );
    found
}

async fn no_violation_at(width: Option<u32>) {
    let app = TestApp::spawn_with(|c| {
        c.credentials.mfa_for_administrators = false;
        c.alerts.failures_per_account = 2;
    })
    .await;
    let driver = start_driver().await;
    let c = chromium_width(&driver, width).await;
    let found = console_pages(&app, &c).await;
    c.close().await.unwrap();
    let failing: Vec<_> = found.iter().filter(|(_, v)| !v.is_empty()).collect();
    assert!(
        failing.is_empty(),
        "axe-core violations at {}:\n{failing:#?}",
        width.map_or("1280 px".to_owned(), |w| format!("{w} px"))
    );
}

#[tokio::test]
async fn every_console_page_passes_axe_core_at_1280_px() {
    no_violation_at(None).await;
}

#[tokio::test]
async fn every_console_page_passes_axe_core_at_320_px() {
    no_violation_at(Some(320)).await;
}

#[tokio::test]
async fn a_failed_login_focuses_its_error_and_marks_the_fields() {
    let app = TestApp::spawn().await;
    let driver = start_driver().await;
    let c = chromium_width(&driver, None).await;
    c.goto(&app.url("/login")).await.unwrap();
    type_into(&c, "#email", "sophie.lambert@niort.example").await;
    type_into(&c, "#password", "Pas-Le-Bon-1!").await;
    submit(&c).await;
    c.wait().for_element(Locator::Css("#erreur")).await.unwrap();
    let focused = c
        .execute("return document.activeElement.id;", vec![])
        .await
        .unwrap();
    assert_eq!(focused, "erreur", "the error summary takes the focus");
    for field in ["#email", "#password"] {
        let invalid = c
            .find(Locator::Css(field))
            .await
            .unwrap()
            .attr("aria-invalid")
            .await
            .unwrap();
        assert_eq!(invalid.as_deref(), Some("true"), "{field}");
    }
    assert!(violations(&c).await.is_empty());
    c.close().await.unwrap();
}

/// The form_post page submits itself at once; what a person sees and uses is that page when
/// its script does not run. Served unchanged from a test origin whose policy blocks scripts
/// (WebDriver's own scripts, axe-core among them, still run), at 1280 and 320 px.
#[tokio::test]
async fn the_form_post_page_without_its_script_passes_axe_core_at_1280_and_320_px() {
    let app = TestApp::spawn().await;
    let html = crate::helpers::visit(
        &crate::helpers::browser(),
        &app.authorize_url(&[("response_mode", "form_post"), ("prompt", "none")]),
    )
    .await
    .text()
    .await
    .unwrap();
    assert!(html.contains("id=\"reponse\""), "{html}");
    let css = reqwest::get(app.url("/static/passerelle.css"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let router = axum::Router::new()
        .route(
            "/",
            axum::routing::get(move || async move {
                (
                    [
                        ("content-type", "text/html; charset=utf-8"),
                        ("content-security-policy", "script-src 'none'"),
                    ],
                    html,
                )
            }),
        )
        .route(
            "/static/passerelle.css",
            axum::routing::get(move || async move { ([("content-type", "text/css")], css) }),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let driver = start_driver().await;
    for width in [None, Some(320)] {
        let c = chromium_width(&driver, width).await;
        c.goto(&origin).await.unwrap();
        assert_eq!(
            c.current_url().await.unwrap().as_str(),
            format!("{origin}/"),
            "the page stayed (its script blocked)"
        );
        let found = violations(&c).await;
        assert!(found.is_empty(), "{width:?}: {found:#?}");
        c.close().await.unwrap();
    }
}
