//! The login page in a real headless Chromium (through chromedriver): what a person sees and
//! does, from the relying application's link to its callback.

use crate::helpers::*;
use fantoccini::{ClientBuilder, Locator};
use std::process::{Child, Command, Stdio};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver on a free port, killed when dropped.
pub(crate) struct Driver {
    child: Child,
    port: u16,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn start_driver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists(),
        "chromedriver is missing: run ./tests/run.sh, which installs chromium and chromium-driver"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Driver {
        child,
        port,
        _profile: tempfile::tempdir().unwrap(),
    }
}

pub(crate) async fn chromium(driver: &Driver) -> fantoccini::Client {
    chromium_width(driver, None).await
}

/// A Chromium session, at 1280 px wide, or emulating a `width` px wide screen.
pub(crate) async fn chromium_width(driver: &Driver, width: Option<u32>) -> fantoccini::Client {
    let profile = driver._profile.path().to_str().unwrap().to_owned();
    let mut caps = serde_json::Map::new();
    let mut options = serde_json::json!({
        "binary": "/usr/bin/chromium",
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-dev-shm-usage", "--no-first-run", "--disable-component-update",
                 "--disable-sync", "--window-size=1280,900", format!("--user-data-dir={profile}")]
    });
    if let Some(width) = width {
        options["mobileEmulation"] = serde_json::json!({
            "deviceMetrics": { "width": width, "height": 800, "pixelRatio": 1.0 }
        });
    }
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::new(hyper_connector())
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a Chromium session")
}

fn hyper_connector() -> hyper_util::client::legacy::connect::HttpConnector {
    hyper_util::client::legacy::connect::HttpConnector::new()
}

/// A stand-in relying application: answers its callback with a plain page.
async fn callback_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // A POST (response_mode=form_post) is answered with the form it carried.
    let app = axum::Router::new().route(
        "/cb",
        axum::routing::get(|| async { "application" })
            .post(|body: String| async move { format!("posted: {body}") }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/cb")
}

/// What a link the page offers downloads, fetched with the browser's session (WebDriver does
/// not hand over downloaded files).
pub(crate) async fn download(c: &fantoccini::Client, url: &str) -> String {
    let cookies = c
        .get_all_cookies()
        .await
        .unwrap()
        .iter()
        .map(|k| format!("{}={}", k.name(), k.value()))
        .collect::<Vec<_>>()
        .join("; ");
    reqwest::Client::new()
        .get(url)
        .header("cookie", cookies)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Clicks the element `selector`.
pub(crate) async fn click(c: &fantoccini::Client, selector: &str) {
    c.find(Locator::Css(selector))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
}

pub(crate) async fn type_into(c: &fantoccini::Client, selector: &str, text: &str) {
    let field = c.find(Locator::Css(selector)).await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Waits for the element `selector` and returns its text. The page may be replaced between
/// the two steps (a form just submitted): the element is then looked up again on the new one.
pub(crate) async fn text_of(c: &fantoccini::Client, selector: &str) -> String {
    for _ in 0..50 {
        let element = c.wait().for_element(Locator::Css(selector)).await.unwrap();
        match element.text().await {
            Ok(text) => return text,
            Err(fantoccini::error::CmdError::Standard(e))
                if e.error == fantoccini::error::ErrorStatus::StaleElementReference =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => panic!("reading {selector}: {e}"),
        }
    }
    panic!("{selector} kept being replaced for 5 s")
}

/// Clicks the first submit button of the page's content (the menu's logout is not content).
pub(crate) async fn submit(c: &fantoccini::Client) {
    let button = c
        .find(Locator::Css("main button[type=submit]"))
        .await
        .unwrap();
    button.click().await.unwrap();
}

/// Registers a stand-in relying application whose callback answers; returns its redirect URI.
pub(crate) async fn stand_in_client(app: &TestApp, client_id: &str, secret: &str) -> String {
    stand_in_client_with(app, client_id, secret, "").await
}

/// [`stand_in_client`], with more lines (`key = value`) in the service's registration (and
/// no secret when `secret` is empty).
pub(crate) async fn stand_in_client_with(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    more: &str,
) -> String {
    let callback = callback_server().await;
    register_relying_party(app, client_id, secret, &callback, more).await;
    callback
}

/// Registers a relying application whose redirect URI is `callback`: opened to Claire's and
/// Sophie's partners, Claire holding its role `agent`.
pub(crate) async fn register_relying_party(
    app: &TestApp,
    client_id: &str,
    secret: &str,
    callback: &str,
    more: &str,
) {
    let secret = if secret.is_empty() {
        String::new()
    } else {
        format!("secret = \"{secret}\"\n")
    };
    let mut text = format!(
        "[[service]]\nclient_id = \"{client_id}\"\nname = \"RP\"\ntype = \"confidential\"\n{secret}redirect_uris = [\"{callback}\"]\nroles = [{{ code = \"agent\", label = \"Agent\" }}]\n{more}"
    );
    for partner in ["cc-roumois-seine", "ville-de-niort"] {
        text += &format!(
            "[[convention]]\nid = \"{client_id}-{partner}\"\nnumber = \"{client_id}-{partner}\"\nkind = \"cooperation\"\npartner = \"{partner}\"\nservices = [\"{client_id}\"]\nstarts_on = \"2024-01-01\"\nquotas = [{{ service = \"{client_id}\", role = \"agent\", maximum = 50 }}]\n"
        );
    }
    text += &format!(
        "[[group]]\npartner = \"cc-roumois-seine\"\nname = \"{client_id}\"\nmembers = [\"{CLAIRE}\"]\nhabilitations = [{{ service = \"{client_id}\", role = \"agent\" }}]\n"
    );
    app.provision(&text).await;
}

/// Waits (at most 10 s) until the browser's page has exactly this path.
pub(crate) async fn wait_for_path(c: &fantoccini::Client, path: &str) {
    for _ in 0..200 {
        if c.current_url().await.unwrap().path() == path {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "never reached {path}: on {}",
        c.current_url().await.unwrap()
    );
}

/// Waits (at most 10 s: the suite loads both cores) until the browser is on a URL starting
/// with `prefix`; returns the URL.
pub(crate) async fn wait_until_on(c: &fantoccini::Client, prefix: &str) -> url::Url {
    let mut landed = c.current_url().await.unwrap();
    for _ in 0..200 {
        if landed.as_str().starts_with(prefix) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        landed = c.current_url().await.unwrap();
    }
    assert!(landed.as_str().starts_with(prefix), "landed on {landed}");
    landed
}

#[tokio::test]
async fn a_person_logs_in_through_the_page_in_chromium() {
    let app = TestApp::spawn().await;
    let callback = stand_in_client(
        &app,
        "browser-rp",
        "browser-rp-secret-0123456789-0123456789",
    )
    .await;
    let authorize = app.authorize_url(&[("client_id", "browser-rp"), ("redirect_uri", &callback)]);

    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&authorize).await.unwrap();
    assert_eq!(c.title().await.unwrap(), "Connexion – Passerelle");
    assert!(c.current_url().await.unwrap().path().starts_with("/login"));

    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", "not-the-password").await;
    submit(&c).await;
    let alert = c
        .wait()
        .for_element(Locator::Css("[role=alert]"))
        .await
        .unwrap();
    assert_eq!(
        alert.text().await.unwrap(),
        "L'adresse électronique ou le mot de passe est incorrect."
    );
    let kept = c
        .find(Locator::Css("#email"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(
        kept.as_deref(),
        Some(CLAIRE),
        "the email is kept after a failure"
    );

    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    let landed = wait_until_on(&c, &callback).await;
    let shot = c.screenshot().await.unwrap();
    c.close().await.unwrap();
    assert!(!shot.is_empty());
    let params: std::collections::HashMap<String, String> =
        landed.query_pairs().into_owned().collect();
    assert_eq!(params["state"], "state-123");
    let response = app
        .api
        .post(app.url("/token"))
        .basic_auth(
            "browser-rp",
            Some("browser-rp-secret-0123456789-0123456789"),
        )
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", params["code"].as_str()),
            ("redirect_uri", callback.as_str()),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "the code Chromium carried back is exchangeable"
    );
}

#[tokio::test]
async fn a_person_activates_an_account_through_the_page_in_chromium() {
    use passerelle::accounts::lifecycle;
    use passerelle::store::AccountProfile;
    use passerelle::types::{ClientId, Email, PartnerId};
    let app = TestApp::spawn().await;
    let email = "paul.renard@niort.example";
    let profile = AccountProfile {
        email: Email::parse(email).unwrap(),
        civility: None,
        given_name: "Paul".into(),
        family_name: "Renard".into(),
        function: None,
        partner: Some(PartnerId::parse("ville-de-niort").unwrap()),
        caf: None,
        services: vec![ClientId::parse("cdap").unwrap()],
        admin_roles: vec![],
    };
    lifecycle::create_account(&app.state, profile)
        .await
        .unwrap();
    app.grant(email, DEMO_ID, "utilisateur").await;
    let link = link_in(&app.mails_to(email)[0], &app.issuer);

    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&app.url(&link)).await.unwrap();
    assert_eq!(
        c.title().await.unwrap(),
        "Activer votre compte – Passerelle"
    );
    let rules = text_of(&c, "#regles").await;
    assert!(rules.contains("au moins une majuscule"), "{rules}");

    type_into(&c, "#password", "renard2026").await;
    type_into(&c, "#confirmation", "renard2026").await;
    submit(&c).await;
    let errors = text_of(&c, "#erreurs").await;
    assert!(
        errors.contains("ni votre nom") && errors.contains("une majuscule"),
        "{errors}"
    );

    type_into(&c, "#password", "Chouette-Grise-79").await;
    type_into(&c, "#confirmation", "Chouette-Grise-79").await;
    submit(&c).await;
    let status = text_of(&c, "[role=status]").await;
    c.close().await.unwrap();
    assert_eq!(status, "Votre mot de passe est enregistré.");
    app.assert_logs_in(email, "Chouette-Grise-79").await;
}

#[tokio::test]
async fn a_person_resets_a_forgotten_password_through_the_pages_in_chromium() {
    let app = TestApp::spawn().await;
    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&app.url("/login")).await.unwrap();
    c.find(Locator::LinkText("Mot de passe oublié ?"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    c.wait()
        .for_element(Locator::Css("fieldset.captcha"))
        .await
        .unwrap();
    assert_eq!(c.title().await.unwrap(), "Mot de passe oublié – Passerelle");
    let width = c
        .execute(
            "return document.querySelector('fieldset.captcha img').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        width,
        serde_json::json!(220),
        "the CAPTCHA image is served and decodes"
    );
    // The page's script does the CAPTCHA's proof of work by itself: nothing to read or type.
    type_into(&c, "#email", CLAIRE).await;
    c.wait()
        .at_most(std::time::Duration::from_secs(60))
        .for_element(Locator::Css("fieldset.captcha-done"))
        .await
        .expect("the proof of work completes in the page");
    let done = text_of(&c, "fieldset.captcha [role=status]").await;
    assert_eq!(
        done,
        "Vérification anti-robot réussie : vous n'avez pas de code à recopier."
    );
    submit(&c).await;
    let status = text_of(&c, "div.info[role=status]").await;
    assert!(
        status.starts_with("Si un compte existe pour l'adresse"),
        "{status}"
    );

    let mut link = None;
    for _ in 0..100 {
        if let Some(mail) = app.mails_to(CLAIRE).pop() {
            link = Some(link_in(&mail, &app.issuer));
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    c.goto(&app.url(&link.expect("a reset mail")))
        .await
        .unwrap();
    assert_eq!(
        c.title().await.unwrap(),
        "Choisir un nouveau mot de passe – Passerelle"
    );
    type_into(&c, "#password", "Mouette-Rieuse-2026").await;
    type_into(&c, "#confirmation", "Mouette-Rieuse-2026").await;
    submit(&c).await;
    let done = text_of(&c, "[role=status]").await;
    c.close().await.unwrap();
    assert_eq!(done, "Votre mot de passe est enregistré.");
    app.assert_logs_in(CLAIRE, "Mouette-Rieuse-2026").await;
}

#[tokio::test]
async fn a_person_enrols_a_second_factor_and_uses_it_in_chromium() {
    let app = TestApp::spawn().await;
    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&app.url("/login")).await.unwrap();
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    c.wait()
        .for_element(Locator::Css("form[action='/logout']"))
        .await
        .unwrap();
    c.goto(&app.url("/compte/double-authentification"))
        .await
        .unwrap();
    let qr_width = c
        .execute(
            "return document.querySelector('img[src^=\"data:image/png\"]').naturalWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(qr_width.as_u64().unwrap_or(0) > 0, "the QR code renders");
    let key = text_of(&c, "#cle").await;
    let secret = totp_rs::Secret::try_from_base32(&key).unwrap();
    let totp = totp_rs::Builder::new()
        .with_secret(secret)
        .build_noncompliant();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    type_into(&c, "#code", &totp.generate(now).to_string()).await;
    submit(&c).await;
    let codes = text_of(&c, "#codes-secours").await;
    assert_eq!(codes.lines().count(), 10, "{codes}");

    // A new login asks for the second factor before the application gets its code.
    let callback = stand_in_client(&app, "otp-rp", "otp-rp-secret-0123456789-0123456789-ab").await;
    c.delete_all_cookies().await.unwrap();
    c.goto(&app.authorize_url(&[("client_id", "otp-rp"), ("redirect_uri", &callback)]))
        .await
        .unwrap();
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    c.wait().for_element(Locator::Css("#code")).await.unwrap();
    assert_eq!(
        c.title().await.unwrap(),
        "Code de vérification – Passerelle"
    );
    type_into(&c, "#code", &totp.generate(now + 30).to_string()).await;
    submit(&c).await;
    let landed = wait_until_on(&c, &callback).await;
    c.close().await.unwrap();
    assert!(landed.query_pairs().any(|(k, _)| k == "code"));
}

/// Waits (at most 5 s) until the browser's URL contains `part` (after a form's redirect).
pub(crate) async fn wait_for_url_with(c: &fantoccini::Client, part: &str) {
    for _ in 0..100 {
        if c.current_url().await.unwrap().as_str().contains(part) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "never reached a URL with {part}: {}\n{}",
        c.current_url().await.unwrap(),
        c.source().await.unwrap()
    );
}

/// Clicks `button` and waits for the page it leads to, whose URL contains `part`, even when the
/// page it leaves has the same URL (its document must be gone first).
pub(crate) async fn click_for_page_with(
    c: &fantoccini::Client,
    button: fantoccini::elements::Element,
    part: &str,
) {
    let leaving = c.find(Locator::Css("html")).await.unwrap();
    button.click().await.unwrap();
    for _ in 0..100 {
        if leaving.tag_name().await.is_err() {
            return wait_for_url_with(c, part).await;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the page never changed after the click");
}

/// Finds the submit button of the form whose action ends with `action_suffix`.
async fn button_of(c: &fantoccini::Client, action_suffix: &str) -> fantoccini::elements::Element {
    c.find(Locator::Css(&format!(
        "form[action$='{action_suffix}'] button[type=submit]"
    )))
    .await
    .unwrap()
}

/// The cells of the quota row of a service role, as the page shows them.
/// The CDAP service, by the name the console shows.
const CDAP: &str = "CDAP – Consultation du dossier allocataire par les partenaires";

async fn quota_row(c: &fantoccini::Client, service: &str, role: &str) -> Vec<String> {
    for row in c
        .find_all(Locator::Css("h2#quotas + table tbody tr"))
        .await
        .unwrap()
    {
        let mut cells = Vec::new();
        for cell in row.find_all(Locator::Css("td")).await.unwrap() {
            cells.push(cell.text().await.unwrap());
        }
        if cells.first().map(String::as_str) == Some(service)
            && cells.get(1).map(String::as_str) == Some(role)
        {
            return cells;
        }
    }
    panic!("no quota row for {service} {role}");
}

#[tokio::test]
async fn a_partner_administrator_manages_people_habilitations_and_the_review_in_chromium() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&app.url("/login")).await.unwrap();
    type_into(&c, "#email", "marc.rousseau@niort.example").await;
    type_into(&c, "#password", "Demo-Passerelle-Admin-2026!").await;
    submit(&c).await;
    // An administrator lands on the console, not on the welcome page.
    wait_for_path(&c, "/console").await;
    assert_eq!(
        c.title().await.unwrap(),
        "Console des habilitations – Console Passerelle"
    );
    c.find(Locator::LinkText("Mairie de Niort"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    assert_eq!(
        quota_row(&c, CDAP, "Action sociale (T1)").await,
        [CDAP, "Action sociale (T1)", "1", "4", "3"]
    );

    // A new person, then a T1 habilitation for them: one place fewer.
    type_into(&c, "#p-email", "lea.garnier@niort.example").await;
    type_into(&c, "#p-given", "Léa").await;
    type_into(&c, "#p-family", "Garnier").await;
    button_of(&c, "/personnes").await.click().await.unwrap();
    wait_for_url_with(&c, "fait=personne").await;
    assert!(
        text_of(&c, "[role=status]")
            .await
            .contains("La personne a été créée")
    );
    assert_eq!(
        app.mails_to("lea.garnier@niort.example")[0].subject,
        "Activez votre compte Passerelle"
    );
    let lea = app.account("lea.garnier@niort.example").await;
    c.find(Locator::Css("#h-holder"))
        .await
        .unwrap()
        .select_by_value(&format!("account:{}", lea.id))
        .await
        .unwrap();
    c.find(Locator::Css("#h-role"))
        .await
        .unwrap()
        .select_by_value("cdap|T1")
        .await
        .unwrap();
    button_of(&c, "/habilitations").await.click().await.unwrap();
    wait_for_url_with(&c, "fait=habilitation").await;
    assert!(
        text_of(&c, "[role=status]")
            .await
            .contains("L'habilitation a été attribuée")
    );
    assert_eq!(
        quota_row(&c, CDAP, "Action sociale (T1)").await,
        [CDAP, "Action sociale (T1)", "2", "4", "2"]
    );

    // The yearly review: confirm everything, complete, the signed report is offered.
    button_of(&c, "/revues").await.click().await.unwrap();
    c.wait()
        .for_element(Locator::Css("input[value=confirm]"))
        .await
        .unwrap();
    for radio in c
        .find_all(Locator::Css("input[value=confirm]"))
        .await
        .unwrap()
    {
        radio.click().await.unwrap();
    }
    c.find(Locator::Css("button[value=complete]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&c, "fait=revue").await;
    assert!(text_of(&c, "main").await.contains("Revue terminée le"));
    let report = c
        .find(Locator::LinkText("Télécharger le rapport signé"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(report.ends_with("/rapport/jws"));

    // The printable annexe 1 of CDAP lists Léa among the open accesses.
    c.goto(&app.url("/console/partenaires/ville-de-niort/annexe1?service=cdap"))
        .await
        .unwrap();
    let open = text_of(&c, "table:first-of-type").await;
    assert!(open.contains("lea.garnier@niort.example"), "{open}");
    assert!(open.contains("1 – Personnes pour lesquelles"));
    c.close().await.unwrap();
}

#[tokio::test]
async fn a_security_officer_searches_the_traces_of_a_person_in_chromium() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    // Sophie (Niort) fails then succeeds a login: both are traced.
    app.login_fresh(SOPHIE, "not-her-password").await;
    app.assert_logs_in(SOPHIE, PASSWORD).await;
    app.own_trace(|t| t.action == "auth.login" && t.reason.as_deref() == Some("wrong_password"))
        .await;

    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&app.url("/login")).await.unwrap();
    type_into(&c, "#email", "helene.faure@niort.example").await;
    type_into(&c, "#password", "Demo-Passerelle-Admin-2026!").await;
    submit(&c).await;
    // An administrator lands on the console itself once logged in.
    wait_for_path(&c, "/console").await;
    c.find(Locator::LinkText("Traces"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_until_on(&c, &app.url("/console/traces")).await;
    assert_eq!(c.title().await.unwrap(), "Traces – Console Passerelle");
    type_into(&c, "#person", SOPHIE).await;
    c.find(Locator::Css("#outcome"))
        .await
        .unwrap()
        .select_by_value("failure")
        .await
        .unwrap();
    submit(&c).await;
    wait_for_url_with(&c, "search=1").await;
    let table = text_of(&c, "#traces tbody").await;
    // Readable: the person by name and email, the partner by name, the action and the reason
    // in French, their codes kept beside them.
    for shown in [
        "Sophie Lambert",
        SOPHIE,
        "Mairie de Niort",
        "Connexion par mot de passe",
        "auth.login",
        "mot de passe erroné",
        "wrong_password",
    ] {
        assert!(table.contains(shown), "{shown} in {table}");
    }
    assert!(
        !table.contains("succès"),
        "only failures were asked for: {table}"
    );
    let export = c
        .find(Locator::LinkText("Exporter pour un tableur (CSV)"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(export.contains("export=csv") && export.contains("outcome=failure"));
    // The file a French spreadsheet opens: a byte-order mark, `;`, names and labels as columns.
    let csv = download(&c, &app.url(&export)).await;
    assert!(csv.starts_with('\u{feff}'), "a byte-order mark");
    let mut lines = csv.trim_start_matches('\u{feff}').lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').collect();
    let row: Vec<&str> = lines
        .next()
        .expect("one failure exported")
        .split(';')
        .collect();
    let cell = |name: &str| row[header.iter().position(|h| *h == name).expect(name)];
    assert_eq!(cell("personne"), "Sophie Lambert");
    assert_eq!(cell("adresse"), SOPHIE);
    assert_eq!(cell("partenaire"), "Mairie de Niort");
    assert_eq!(cell("libelle_action"), "Connexion par mot de passe");
    assert_eq!(cell("resultat"), "échec");
    assert_eq!(cell("motif"), "mot de passe erroné");
    assert_eq!(cell("reason"), "wrong_password");
    c.close().await.unwrap();

    // The officer's search is itself in the traces.
    app.state.tracer.flush().await.unwrap();
    let helene = app
        .account("helene.faure@niort.example")
        .await
        .id
        .to_string();
    let own = app
        .state
        .stores
        .traces
        .stream_records("passerelle", 0, 1000)
        .await
        .unwrap();
    assert!(own.iter().any(|r| r.trace.action == "trace.query"
        && r.trace.actor_account.as_deref() == Some(helene.as_str())));
}

/// Logs `email` in with the administrators' demo password, in a browser of its own.
pub(crate) async fn console_as(app: &TestApp, driver: &Driver, email: &str) -> fantoccini::Client {
    let c = chromium(driver).await;
    c.goto(&app.url("/login")).await.unwrap();
    type_into(&c, "#email", email).await;
    type_into(&c, "#password", "Demo-Passerelle-Admin-2026!").await;
    submit(&c).await;
    wait_for_path(&c, "/console").await;
    c
}

/// Clicks "Confirmer" on a confirmation page.
async fn confirm(c: &fantoccini::Client) {
    let button = Locator::XPath("//button[normalize-space()='Confirmer']");
    for _ in 0..100 {
        if let Ok(b) = c.find(button).await {
            b.click().await.unwrap();
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("no confirmation page: {}", c.source().await.unwrap());
}

#[tokio::test]
async fn the_caf_centralizes_a_partner_decides_its_requests_and_suspends_a_person_in_chromium() {
    let app = TestApp::spawn_with(|c| c.credentials.mfa_for_administrators = false).await;
    // One driver per browser: each has a profile of its own.
    let drivers = [
        start_driver().await,
        start_driver().await,
        start_driver().await,
    ];
    let caf = console_as(&app, &drivers[0], "habilitations@caf79.example").await;
    let niort = app.url("/console/partenaires/ville-de-niort");

    // The Caf withdraws the delegation (confirmed), with a reason.
    caf.goto(&niort).await.unwrap();
    type_into(
        &caf,
        "#mode-mcp-79-niort",
        "administrateur absent jusqu'en mars",
    )
    .await;
    button_of(&caf, "/conventions/mcp-79-niort/mode")
        .await
        .click()
        .await
        .unwrap();
    confirm(&caf).await;
    wait_for_url_with(&caf, "fait=mode").await;
    assert!(
        text_of(&caf, "#message")
            .await
            .contains("Le mode de gestion a été changé")
    );

    // The partner's administrator now files requests instead of acting.
    let marc = console_as(&app, &drivers[1], "marc.rousseau@niort.example").await;
    marc.goto(&niort).await.unwrap();
    type_into(&marc, "#r-email", "julie.martin@niort.example").await;
    type_into(&marc, "#r-given", "Julie").await;
    type_into(&marc, "#r-family", "Martin").await;
    type_into(&marc, "#r-motif", "arrivée le 1er décembre").await;
    marc.find(Locator::Css(
        "form:has(input[name=kind][value=create_person]) button[type=submit]",
    ))
    .await
    .unwrap()
    .click()
    .await
    .unwrap();
    wait_for_url_with(&marc, "fait=demande").await;
    assert!(
        text_of(&marc, "#message")
            .await
            .contains("La demande est envoyée à la Caf")
    );
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
    type_into(&marc, &format!("#dm-{}", t1.id), "changement de poste").await;
    let withdraw = marc
        .find(Locator::Css(&format!(
            "form:has(#dm-{}) button[value=withdraw]",
            t1.id
        )))
        .await
        .unwrap();
    // The page it leaves already says fait=demande (the creation request).
    click_for_page_with(&marc, withdraw, "fait=demande").await;

    // The Caf works its queue: accepts the new account, refuses the withdrawal.
    caf.goto(&app.url("/console/demandes")).await.unwrap();
    let mut approve = None;
    let mut refuse = None;
    for section in caf.find_all(Locator::Css("section.request")).await.unwrap() {
        let title = section
            .find(Locator::Css("h3"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if title.contains("créer le compte de Julie Martin") {
            approve = Some(section);
        } else if title.contains("retirer le rôle « Action sociale (T1) »") {
            refuse = Some(section);
        }
    }
    assert!(refuse.is_some(), "the withdrawal is queued too");
    approve
        .expect("the creation")
        .find(Locator::Css("button[value=approve]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&caf, "fait=demande-acceptee").await;
    assert!(
        app.mails_to("julie.martin@niort.example")[0]
            .subject
            .contains("Activez")
    );
    // What is left is the withdrawal.
    let section = caf.find(Locator::Css("section.request")).await.unwrap();
    section
        .find(Locator::Css("input[name=reason]"))
        .await
        .unwrap()
        .send_keys("Sophie Lambert garde l'action sociale jusqu'à fin décembre")
        .await
        .unwrap();
    section
        .find(Locator::Css("button[value=refuse]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for_url_with(&caf, "fait=demande-refusee").await;
    assert!(
        text_of(&caf, "main")
            .await
            .contains("Aucune demande en attente.")
    );
    marc.goto(&niort).await.unwrap();
    let demandes = text_of(&marc, "main").await;
    assert!(demandes.contains("acceptée et réalisée"), "{demandes}");
    assert!(demandes.contains("garde l'action sociale"), "{demandes}");

    // The Caf suspends Sophie; she is mailed, and told when she logs in.
    caf.goto(&app.url(&format!("/console/personnes/{}", sophie.id)))
        .await
        .unwrap();
    type_into(&caf, "#compte-motif", "enquête en cours").await;
    caf.find(Locator::Css("button[name=action][value=suspend]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    confirm(&caf).await;
    wait_for_url_with(&caf, "fait=compte-suspendu").await;
    assert!(
        app.mails_to(SOPHIE)
            .iter()
            .any(|m| m.subject == "Votre accès aux services est suspendu")
    );
    let person = chromium(&drivers[2]).await;
    person.goto(&app.url("/login")).await.unwrap();
    type_into(&person, "#email", SOPHIE).await;
    type_into(&person, "#password", PASSWORD).await;
    submit(&person).await;
    for _ in 0..100 {
        if text_of(&person, "main")
            .await
            .contains("Votre compte est suspendu")
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        text_of(&person, "main")
            .await
            .contains("Votre compte est suspendu")
    );
    for c in [caf, marc, person] {
        c.close().await.unwrap();
    }
}
