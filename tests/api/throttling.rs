//! Access restriction after failures, the temporary lock and its unlock link, "forgot
//! password" with its CAPTCHA and reset link, and the absence of any hint that an account
//! exists.

use crate::helpers::*;

/// Logs in with a wrong password from a fresh browser; returns status and page.
async fn fail_once(app: &TestApp, email: &str) -> (u16, String) {
    let (status, _, html) = fail_once_with_cookies(app, email).await;
    (status, html)
}

/// The same, with the names of the cookies the failed POST set.
async fn fail_once_with_cookies(app: &TestApp, email: &str) -> (u16, Vec<String>, String) {
    let response = app
        .login(
            &browser(),
            &app.authorize_url(&[]),
            email,
            "Wrong-Password-1",
        )
        .await;
    let cookies = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().split('=').next().unwrap().to_owned())
        .collect();
    (
        response.status().as_u16(),
        cookies,
        response.text().await.unwrap(),
    )
}

/// Replaces what legitimately differs between two answers (per-request tokens, the identifier
/// typed) so that the rest can be compared byte for byte.
fn neutral(html: &str, email: &str) -> String {
    let mut out = html.replace(email, "IDENTIFIANT");
    for name in ["csrf", "request", "captcha_id"] {
        let marker = format!("name=\"{name}\" value=\"");
        let mut from = 0;
        while let Some(found) = out[from..].find(&marker) {
            let start = from + found + marker.len();
            let end = start + out[start..].find('"').unwrap();
            out.replace_range(start..end, "X");
            from = start + 1;
        }
    }
    let mut from = 0;
    while let Some(found) = out[from..].find("data-work-salt=\"") {
        let start = from + found + "data-work-salt=\"".len();
        let end = start + out[start..].find('"').unwrap();
        out.replace_range(start..end, "X");
        from = start + 1;
    }
    let mut from = 0;
    while let Some(found) = out[from..].find("/captcha/") {
        let start = from + found + "/captcha/".len();
        let end = start + out[start..].find('"').unwrap();
        out.replace_range(start..end, "X");
        from = start + 1;
    }
    out
}

pub(crate) async fn wait_for_mail(app: &TestApp, to: &str, subject: &str) -> Received {
    for _ in 0..100 {
        if let Some(m) = app.mails_to(to).into_iter().find(|m| m.subject == subject) {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no mail {subject:?} to {to}");
}

#[tokio::test]
async fn a_captcha_after_three_failures_then_a_growing_delay() {
    let app = TestApp::spawn().await;
    for attempt in 1..=3 {
        let (status, html) = fail_once(&app, CLAIRE).await;
        assert_eq!(status, 401, "attempt {attempt}");
        assert_eq!(
            hidden(&html, "captcha_id").is_some(),
            attempt >= 3,
            "CAPTCHA from the third failure on"
        );
    }
    // Without the CAPTCHA answer the password is not even checked.
    let browser = browser();
    let response = browser.get(app.authorize_url(&[])).send().await.unwrap();
    let login = app.url(&location(&response));
    let html = browser
        .get(&login)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("request", hidden(&html, "request").unwrap()),
        ("email", CLAIRE.to_owned()),
        ("password", PASSWORD.to_owned()),
    ];
    let response = browser
        .post(app.url("/login"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(
        response
            .text()
            .await
            .unwrap()
            .contains("une vérification anti-robot se fait d'elle-même")
    );

    let (status, _) = fail_once(&app, CLAIRE).await;
    assert_eq!(status, 401);
    let (status, html) = fail_once(&app, CLAIRE).await;
    assert_eq!(status, 429, "the fifth failure starts the delay");
    assert!(html.contains("réessayez dans 1 minute"), "{html}");
    let right = app.login_fresh(CLAIRE, PASSWORD).await;
    assert_eq!(right.status(), 429, "even the right password waits");
    // Another person is not affected.
    app.assert_logs_in(SOPHIE, PASSWORD).await;
}

#[tokio::test]
async fn ten_failures_lock_temporarily_and_the_mailed_link_unlocks() {
    let app = TestApp::spawn_with(|c| c.throttling.delay_after = 10).await;
    for _ in 0..9 {
        assert_eq!(fail_once(&app, CLAIRE).await.0, 401);
    }
    let (status, html) = fail_once(&app, CLAIRE).await;
    assert_eq!(status, 429);
    assert!(html.contains("Trop de tentatives"));
    let mail = wait_for_mail(
        &app,
        CLAIRE,
        "Votre compte Passerelle est temporairement bloqué",
    )
    .await;
    let right = app.login_fresh(CLAIRE, PASSWORD).await;
    assert_eq!(right.status(), 429, "locked");

    let link = link_in(&mail, &app.issuer);
    assert!(link.starts_with("/deverrouillage?jeton="));
    let browser = browser();
    let done = app.fill(&browser, &link, "/deverrouillage", &[]).await;
    assert_eq!(done.status(), 200);
    assert!(
        done.text()
            .await
            .unwrap()
            .contains("Votre compte est débloqué")
    );
    let again = app.fill(&browser, &link, "/deverrouillage", &[]).await;
    assert_eq!(again.status(), 400, "an unlock link works once");

    app.assert_logs_in(CLAIRE, PASSWORD).await;
}

#[tokio::test]
async fn failures_answer_identically_whether_or_not_the_account_exists() {
    let app = TestApp::spawn_with(|c| c.throttling.delay_after = 10).await;
    let unknown = "claire.duboit@roumois-seine.example";
    for attempt in 1..=10 {
        let (status_known, cookies_known, known) = fail_once_with_cookies(&app, CLAIRE).await;
        let (status_unknown, cookies_unknown, other) = fail_once_with_cookies(&app, unknown).await;
        assert_eq!(status_known, status_unknown, "attempt {attempt}");
        assert_eq!(
            cookies_known, cookies_unknown,
            "attempt {attempt}: same cookies"
        );
        assert_eq!(
            neutral(&known, CLAIRE),
            neutral(&other, unknown),
            "attempt {attempt}"
        );
    }
    wait_for_mail(
        &app,
        CLAIRE,
        "Votre compte Passerelle est temporairement bloqué",
    )
    .await;
    assert!(app.mails_to(unknown).is_empty());
}

pub(crate) async fn ask_reset(app: &TestApp, email: &str) -> reqwest::Response {
    let browser = browser();
    let page = browser
        .get(app.url("/mot-de-passe-oublie"))
        .send()
        .await
        .unwrap();
    let set_cookies = page.headers().get_all("set-cookie").iter().count();
    assert_eq!(set_cookies, 1, "only the browser cookie");
    let html = page.text().await.unwrap();
    let id = hidden(&html, "captcha_id").expect("a CAPTCHA");
    let image = browser
        .get(app.url(&format!("/captcha/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(image.headers()["content-type"], "image/png");
    assert!(image.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("email", email.to_owned()),
        ("captcha_id", id.clone()),
        ("captcha", app.captcha_answer(&id).await),
    ];
    browser
        .post(app.url("/mot-de-passe-oublie"))
        .form(&form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn forgot_password_mails_a_single_use_reset_link_and_answers_neutrally() {
    let app = TestApp::spawn().await;
    let tokens = app.tokens(&browser()).await;

    let known = ask_reset(&app, CLAIRE).await;
    let unknown = ask_reset(&app, "personne@nulle-part.example").await;
    assert_eq!(known.status(), 200);
    assert_eq!(known.status(), unknown.status());
    assert_eq!(
        neutral(&known.text().await.unwrap(), CLAIRE),
        neutral(
            &unknown.text().await.unwrap(),
            "personne@nulle-part.example"
        )
    );
    let subject = "Choisissez un nouveau mot de passe Passerelle";
    let first = link_in(&wait_for_mail(&app, CLAIRE, subject).await, &app.issuer);
    assert!(first.starts_with("/reinitialisation?jeton="));
    // The current password keeps working until a link is used.
    app.assert_logs_in(CLAIRE, PASSWORD).await;

    // A second request revokes the first link.
    ask_reset(&app, CLAIRE).await;
    let mut second = first.clone();
    for _ in 0..100 {
        if let Some(l) = app
            .mails_to(CLAIRE)
            .iter()
            .filter(|m| m.subject == subject)
            .map(|m| link_in(m, &app.issuer))
            .find(|l| l != &first)
        {
            second = l;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_ne!(second, first);
    assert_eq!(
        browser()
            .get(app.url(&first))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let browser = browser();
    let done = app
        .fill(
            &browser,
            &second,
            "/reinitialisation",
            &[
                ("password", "Nouveau-Depart-2026"),
                ("confirmation", "Nouveau-Depart-2026"),
            ],
        )
        .await;
    assert_eq!(done.status(), 200);
    assert_eq!(
        app.introspect(tokens["access_token"].as_str().unwrap())
            .await["active"],
        false,
        "tokens revoked"
    );
    let old = app.login_fresh(CLAIRE, PASSWORD).await;
    assert_eq!(old.status(), 401);
    app.assert_logs_in(CLAIRE, "Nouveau-Depart-2026").await;
    assert!(app.mails_to("personne@nulle-part.example").is_empty());
}

#[tokio::test]
async fn a_wrong_captcha_answer_gets_a_new_challenge() {
    let app = TestApp::spawn().await;
    let browser = browser();
    let html = browser
        .get(app.url("/mot-de-passe-oublie"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let id = hidden(&html, "captcha_id").unwrap();
    let form = [
        ("csrf", hidden(&html, "csrf").unwrap()),
        ("email", CLAIRE.to_owned()),
        ("captcha_id", id.clone()),
        ("captcha", "wrong".to_owned()),
    ];
    let response = browser
        .post(app.url("/mot-de-passe-oublie"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let html = response.text().await.unwrap();
    assert!(html.contains("vérification anti-robot n'a pas abouti"));
    assert_ne!(hidden(&html, "captcha_id").unwrap(), id, "a new challenge");
    let reused = browser
        .post(app.url("/mot-de-passe-oublie"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(reused.status(), 400, "a challenge is answered once");
}

#[tokio::test]
async fn a_reset_lifts_the_lock() {
    let app = TestApp::spawn_with(|c| c.throttling.delay_after = 10).await;
    for _ in 0..10 {
        fail_once(&app, CLAIRE).await;
    }
    ask_reset(&app, CLAIRE).await;
    let link = link_in(
        &wait_for_mail(
            &app,
            CLAIRE,
            "Choisissez un nouveau mot de passe Passerelle",
        )
        .await,
        &app.issuer,
    );
    let browser = browser();
    assert_eq!(
        app.fill(
            &browser,
            &link,
            "/reinitialisation",
            &[
                ("password", "Nouveau-Depart-2026"),
                ("confirmation", "Nouveau-Depart-2026")
            ]
        )
        .await
        .status(),
        200
    );
    app.assert_logs_in(CLAIRE, "Nouveau-Depart-2026").await;
}
