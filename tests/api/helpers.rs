//! `TestApp`: the real server on a free port with its own temporary data folder, and one
//! method per thing a browser or a relying application does.

use passerelle::app::Application;
use passerelle::config::Config;
use passerelle::provision;
use passerelle::state::AppState;
use reqwest::redirect::Policy;
use std::collections::HashMap;
use tempfile::TempDir;

pub const PASSWORD: &str = "Demo-Passerelle-2026!";
pub const CLAIRE: &str = "claire.dubois@roumois-seine.example";
pub const SOPHIE: &str = "sophie.lambert@niort.example";
pub const DEMO_ID: &str = "demo-app";
pub const DEMO_SECRET: &str = "demo-app-secret-0123456789-abcdefghijkl";
pub const DEMO_REDIRECT: &str = "http://127.0.0.1:9000/callback";
pub const DEMO_LOGOUT_REDIRECT: &str = "http://127.0.0.1:9000/";
/// A secret with the characters RFC 6749 §2.3.1 makes clients form-urlencode in HTTP Basic.
pub const ODD_SECRET: &str = "s3cret:with+plus%and space/é-0123456789abcdef";
/// A verifier and its S256 challenge (RFC 7636 appendix B).
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
/// The key-encryption key the replicas of a test share (32 bytes in base64).
pub const TEST_KEK: &str = "cGFzc2VyZWxsZS10ZXN0LWtleS1lbmNyeXB0aW9uISE=";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

const TEST_CLIENTS: &str = r#"
[[service]]
client_id = "test-public"
name = "Public test client"
type = "public"
redirect_uris = ["http://127.0.0.1:9001/cb"]
roles = [{ code = "utilisateur", label = "Utilisateur" }]

[[service]]
client_id = "test-legacy"
name = "Legacy confidential client without PKCE"
type = "confidential"
secret = "legacy-secret-0123456789-0123456789-abc"
redirect_uris = ["https://legacy.example/cb?tenant=a"]
pkce = "optional"
grant_types = ["authorization_code"]
roles = [{ code = "utilisateur", label = "Utilisateur" }]

[[service]]
client_id = "test-odd-secret"
name = "Client whose secret needs form-urlencoding"
type = "confidential"
secret = "s3cret:with+plus%and space/é-0123456789abcdef"
grant_types = ["client_credentials"]
client_scopes = ["traces:write"]

[[convention]]
id = "test-27"
number = "TEST-027"
kind = "cooperation"
partner = "cc-roumois-seine"
services = ["test-public", "test-legacy"]
starts_on = "2024-01-01"
quotas = [
    { service = "test-public", role = "utilisateur", maximum = 20 },
    { service = "test-legacy", role = "utilisateur", maximum = 20 },
]

[[group]]
partner = "cc-roumois-seine"
name = "Testeurs"
members = ["claire.dubois@roumois-seine.example"]
habilitations = [
    { service = "test-public", role = "utilisateur" },
    { service = "test-legacy", role = "utilisateur" },
]
"#;

pub struct TestApp {
    pub issuer: String,
    /// Where the listener is (equal to the issuer unless a test configured another one).
    pub address: String,
    /// The management listener (metrics, health), on a port of its own.
    pub management: String,
    pub state: AppState,
    /// A relying application's HTTP client: no cookies, no redirects followed.
    pub api: reqwest::Client,
    /// Where the outbox writes messages.
    pub outbox: std::path::PathBuf,
    /// The trace database file.
    pub traces_db: std::path::PathBuf,
    /// Kept alive so that the folder outlives the server.
    _data_dir: TempDir,
}

/// reqwest is built with rustls and no default provider (the server installs aws-lc-rs at
/// start-up); tests that build a client before any server runs in their process install it.
pub fn install_tls_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub fn browser() -> reqwest::Client {
    install_tls_provider();
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

/// Test configuration: cheap Argon2 (tests measure behaviour, benchmarks measure cost).
pub fn test_config(data_dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".into();
    config.server.management_listen = "127.0.0.1:0".into();
    config.server.data_dir = data_dir.to_path_buf();
    config.password_hashing.memory_kib = 256;
    config.password_hashing.iterations = 1;
    // The CAPTCHA's proof of work at 2^12 hashes: the pages' script solves it at once.
    config.throttling.captcha_work_bits = 12;
    config
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    pub async fn spawn_with(customise: impl FnOnce(&mut Config)) -> Self {
        if std::env::var_os("TEST_LOG").is_some() {
            passerelle::telemetry::init(&Default::default());
        }
        let data_dir = tempfile::tempdir().unwrap();
        let mut config = test_config(data_dir.path());
        customise(&mut config);
        let app = Application::build(&config)
            .await
            .expect("application builds");
        let state = app.state().clone();
        for (origin, text) in [
            ("demo", passerelle::cli::DEMO_PROVISIONING),
            ("test", TEST_CLIENTS),
        ] {
            let file = provision::parse(text, origin).unwrap();
            provision::apply(&state, &file, true).await.unwrap();
        }
        let issuer = app.issuer().to_owned();
        let address = format!("http://{}", app.local_addr());
        let management = format!(
            "http://{}",
            app.management_addr().expect("a management listener")
        );
        tokio::spawn(app.run_until(std::future::pending()));
        Self {
            issuer,
            address,
            management,
            state,
            api: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .unwrap(),
            outbox: config.outbox_dir(),
            traces_db: config.traces_path(),
            _data_dir: data_dir,
        }
    }

    /// The server's data folder (SQLite database, key-encryption key, outbox).
    pub fn data_dir(&self) -> &std::path::Path {
        self._data_dir.path()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// An authorization URL for the demo client with PKCE S256; `extra` adds or, with an
    /// empty value, removes parameters.
    pub fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut params: Vec<(String, String)> = [
            ("client_id", DEMO_ID),
            ("redirect_uri", DEMO_REDIRECT),
            ("response_type", "code"),
            ("scope", "openid profile email"),
            ("state", "state-123"),
            ("nonce", "nonce-456"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in extra {
            params.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                params.push((k.to_string(), v.to_string()));
            }
        }
        let mut url = url::Url::parse(&self.url("/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.to_string()
    }

    /// Follows an authorization URL to the login page and submits the form; returns the final
    /// response (a redirect to the client on success, the page again on failure).
    pub async fn login(
        &self,
        browser: &reqwest::Client,
        authorize_url: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let response = browser.get(authorize_url).send().await.unwrap();
        assert_eq!(
            response.status(),
            303,
            "authorize should send to the login page"
        );
        let login_path = location(&response);
        assert!(
            login_path.starts_with("/login?request="),
            "unexpected redirect {login_path}"
        );
        self.submit_login(browser, &login_path, email, password)
            .await
    }

    pub async fn submit_login(
        &self,
        browser: &reqwest::Client,
        login_path: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.submit_login_from(browser, login_path, email, password, None)
            .await
    }

    /// [`submit_login`](Self::submit_login), the POSTs sent as if from `client_ip` (seen
    /// through `X-Forwarded-For` when the test trusts 127.0.0.1 as a proxy).
    pub async fn submit_login_from(
        &self,
        browser: &reqwest::Client,
        login_path: &str,
        email: &str,
        password: &str,
        client_ip: Option<&str>,
    ) -> reqwest::Response {
        let post = |form: &Vec<(String, String)>| {
            let request = browser.post(self.url("/login")).form(form);
            match client_ip {
                Some(ip) => request.header("x-forwarded-for", ip),
                None => request,
            }
        };
        let page = browser.get(self.url(login_path)).send().await.unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        let mut form = vec![
            (
                "csrf".to_owned(),
                hidden(&html, "csrf").expect("csrf field"),
            ),
            ("email".to_owned(), email.to_owned()),
            ("password".to_owned(), password.to_owned()),
        ];
        if let Some(request) = hidden(&html, "request") {
            form.push(("request".to_owned(), request));
        }
        if let Some(id) = hidden(&html, "captcha_id") {
            form.push(("captcha".to_owned(), self.captcha_answer(&id).await));
            form.push(("captcha_id".to_owned(), id));
        }
        let response = post(&form).send().await.unwrap();
        if response.status() != 400 {
            return response;
        }
        // The identifier's counters asked for a CAPTCHA the page could not know about: answer
        // it and submit again, as a person would.
        let html = response.text().await.unwrap();
        let id = hidden(&html, "captcha_id").expect("a 400 login page carries a CAPTCHA");
        form.retain(|(k, _)| k != "csrf" && k != "captcha" && k != "captcha_id");
        form.push(("csrf".to_owned(), hidden(&html, "csrf").unwrap()));
        form.push(("captcha".to_owned(), self.captcha_answer(&id).await));
        form.push(("captcha_id".to_owned(), id));
        post(&form).send().await.unwrap()
    }

    /// What a person reads in a CAPTCHA's image: its code.
    pub async fn captcha_answer(&self, id: &str) -> String {
        let challenge = self
            .state
            .stores
            .challenges
            .get_challenge(id)
            .await
            .unwrap();
        challenge.expect("a live challenge").answers[0].clone()
    }

    /// Logs in from a new browser through the demo client; returns the final response.
    pub async fn login_fresh(&self, email: &str, password: &str) -> reqwest::Response {
        self.login(&browser(), &self.authorize_url(&[]), email, password)
            .await
    }

    /// Asserts that a new browser logs in and the demo client gets a code.
    pub async fn assert_logs_in(&self, email: &str, password: &str) {
        let response = self.login_fresh(email, password).await;
        assert!(
            redirect_params(&response, DEMO_REDIRECT).contains_key("code"),
            "{email} should log in"
        );
    }

    /// Logs Claire in through the demo client and returns the code from the redirect.
    pub async fn code_for(&self, browser: &reqwest::Client, extra: &[(&str, &str)]) -> String {
        let response = self
            .login(browser, &self.authorize_url(extra), CLAIRE, PASSWORD)
            .await;
        let params = redirect_params(&response, DEMO_REDIRECT);
        params.get("code").cloned().expect("a code in the redirect")
    }

    /// POSTs a form to the token endpoint with client_secret_basic for the demo client.
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.api
            .post(self.url("/token"))
            .basic_auth(DEMO_ID, Some(DEMO_SECRET))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(&self, code: &str) -> reqwest::Response {
        self.exchange_as(DEMO_ID, DEMO_SECRET, code, DEMO_REDIRECT)
            .await
    }

    /// Exchanges `code` for `client` (client_secret_basic) with the tests' PKCE verifier.
    pub async fn exchange_as(
        &self,
        client: &str,
        secret: &str,
        code: &str,
        redirect_uri: &str,
    ) -> reqwest::Response {
        self.api
            .post(self.url("/token"))
            .basic_auth(client, Some(secret))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap()
    }

    /// A full login and code exchange; returns the token response body.
    pub async fn tokens(&self, browser: &reqwest::Client) -> serde_json::Value {
        let code = self.code_for(browser, &[]).await;
        let response = self.exchange(&code).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// Applies a provisioning text (services, conventions, accounts…), as `passerelle
    /// provision` would.
    pub async fn provision(&self, text: &str) -> passerelle::provision::Report {
        let file = passerelle::provision::parse(text, "test").unwrap();
        passerelle::provision::apply(&self.state, &file, false)
            .await
            .unwrap()
    }

    /// Grants a service role to a person of a partner, as provisioning would (no access
    /// check, quotas apply). The partner needs a convention that opens the service.
    pub async fn grant(&self, email: &str, client: &str, role: &str) {
        use passerelle::habilitations::{PartnerContext, manage};
        let account = self.account(email).await;
        let partner = account.profile.partner.clone().expect("partner staff");
        let context = PartnerContext::load(&self.state, &partner).await.unwrap();
        let request = manage::GrantRequest {
            holder: passerelle::store::Holder::Account(account.id),
            client_id: passerelle::types::ClientId::parse(client).unwrap(),
            role: passerelle::types::RoleCode::parse(role).unwrap(),
            scope: vec![],
            valid_from: None,
            valid_until: None,
        };
        manage::grant_as(
            &self.state,
            manage::Author::System("provisioning"),
            &context,
            request,
            None,
        )
        .await
        .expect("grant");
    }

    /// A personal API token acting for the administrator `email`.
    pub async fn api_token(&self, email: &str) -> String {
        let account = self.account(email).await;
        passerelle::accounts::api_token::create(&self.state, &account, "tests", 1)
            .await
            .expect("token")
            .0
    }

    /// Calls the admin API; returns the status and the JSON body (`null` when empty).
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self.api.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            serde_json::Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path}: not JSON: {text}"))
        };
        (status, json)
    }

    /// Waits (at most 5 s) for a trace of Passerelle's own stream that `found` accepts (some
    /// are recorded from background tasks, a failed login's for instance); the newest wins.
    pub async fn own_trace(
        &self,
        found: impl Fn(&passerelle::store::NewTrace) -> bool,
    ) -> passerelle::store::TraceRecord {
        for _ in 0..250 {
            self.state.tracer.flush().await.unwrap();
            let own = self
                .state
                .stores
                .traces
                .stream_records("passerelle", 0, 10_000)
                .await
                .unwrap();
            if let Some(r) = own.into_iter().rev().find(|r| found(&r.trace)) {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the expected trace was not recorded within 5 s");
    }

    /// The stored account of `email`, which must exist.
    pub async fn account(&self, email: &str) -> passerelle::store::Account {
        let email = passerelle::types::Email::parse(email).unwrap();
        let found = self
            .state
            .stores
            .accounts
            .find_account_by_email(&email)
            .await
            .unwrap();
        found.expect("an account")
    }

    /// GETs a JSON document (discovery, JWKS) as a relying application would.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let response = self.api.get(self.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn introspect(&self, token: &str) -> serde_json::Value {
        let response = self
            .api
            .post(self.url("/introspect"))
            .basic_auth(DEMO_ID, Some(DEMO_SECRET))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    pub async fn userinfo(&self, access_token: &str) -> reqwest::Response {
        self.api
            .get(self.url("/userinfo"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }
}

/// A message read back from the outbox or an SMTP server's mailbox.
pub struct Received {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn parse_mail(bytes: &[u8]) -> Received {
    let m = mail_parser::MessageParser::default()
        .parse(bytes)
        .expect("a MIME message");
    let to = m
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default()
        .to_owned();
    Received {
        to,
        subject: m.subject().unwrap_or_default().to_owned(),
        text: m.body_text(0).map(|t| t.into_owned()).unwrap_or_default(),
        html: m.body_html(0).map(|t| t.into_owned()).unwrap_or_default(),
    }
}

impl TestApp {
    /// Every message in the outbox, oldest first as far as file times tell (messages written
    /// within the same clock tick come in any order).
    pub fn mails(&self) -> Vec<Received> {
        let Ok(entries) = std::fs::read_dir(&self.outbox) else {
            return Vec::new();
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
            .collect();
        files.sort();
        files
            .iter()
            .map(|(_, p)| parse_mail(&std::fs::read(p).unwrap()))
            .collect()
    }

    /// The messages sent to `address`, oldest first.
    pub fn mails_to(&self, address: &str) -> Vec<Received> {
        self.mails()
            .into_iter()
            .filter(|m| m.to == address)
            .collect()
    }
}

/// The first link to this server in a message, as a path with its query.
pub fn link_in(mail: &Received, issuer: &str) -> String {
    let start = mail.text.find(issuer).expect("a link in the message") + issuer.len();
    mail.text[start..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location header (status {})", response.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// Asserts a redirect to `prefix` and returns its query parameters.
pub fn redirect_params(response: &reqwest::Response, prefix: &str) -> HashMap<String, String> {
    assert!(
        response.status().is_redirection(),
        "expected a redirect, got {}",
        response.status()
    );
    let target = location(response);
    assert!(
        target.starts_with(prefix),
        "redirect to {target}, expected {prefix}"
    );
    url::Url::parse(&target)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Asserts an RFC 6749 JSON error with the given status and code.
pub async fn assert_oauth_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> serde_json::Value {
    assert_eq!(response.status(), status, "status");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "error code in {body}");
    body
}

/// Every hidden input of a page (csrf, request, jeton…), as form fields.
pub fn hidden_fields(html: &str) -> Vec<(String, String)> {
    html.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .filter_map(|rest| {
            let name = rest.split('"').next()?;
            Some((name.to_owned(), hidden(html, name)?))
        })
        .collect()
}

impl TestApp {
    /// Opens `page` in `browser`, then posts its form to `action` with its hidden fields and
    /// `fields`, as a person filling it in would.
    pub async fn fill(
        &self,
        browser: &reqwest::Client,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let response = browser.get(self.url(page)).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {page}");
        let html = response.text().await.unwrap();
        let mut form = hidden_fields(&html);
        assert!(
            form.iter().any(|(k, _)| k == "csrf"),
            "{page} has a form: {html}"
        );
        form.extend(fields.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        browser
            .post(self.url(action))
            .form(&form)
            .send()
            .await
            .unwrap()
    }
}

/// The value of a hidden input in a page.
pub fn hidden(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].replace("&amp;", "&"))
}

/// What the browser gets at `url` (redirects not followed).
pub async fn visit(browser: &reqwest::Client, url: &str) -> reqwest::Response {
    browser.get(url).send().await.unwrap()
}

/// Polls until `check` holds (a recovery takes a reconnection or two; a replica, a start), for
/// a minute at most: a bound on a condition, not a timing.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !check().await {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen in 60 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Runs a command to its end off the test's runtime: the server a test runs in-process keeps
/// serving (and finishes the transaction it may hold) while the command waits for it.
pub async fn output_of(mut command: std::process::Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output().expect("the command starts"))
        .await
        .unwrap()
}

/// `passerelle serve` in a new data folder with `env`, which must stop it: its one line.
pub fn refused_start(env: &[(&str, String)]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_passerelle"))
        .arg("serve")
        .current_dir(dir.path())
        .env("PASSERELLE__SERVER__LISTEN", "127.0.0.1:0")
        .env("PASSERELLE__SERVER__MANAGEMENT_LISTEN", "127.0.0.1:0")
        .env("PASSERELLE__SERVER__DATA_DIR", dir.path())
        .env("RUST_LOG", "off")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    err
}
