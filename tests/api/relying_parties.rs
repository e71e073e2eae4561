//! Relying-party software nobody here wrote, driven through Chromium as docs/integrations.md
//! configures it: Python's Authlib (with Flask) — login, claims, refresh, back-channel logout —
//! Apache's mod_auth_openidc (Debian's 2.4.12) — login, habilitations passed as userinfo
//! JSON, back-channel logout — and Node's express-openid-connect — login, claims, refresh,
//! back-channel logout.

use crate::browser::*;
use crate::helpers::*;
use std::process::{Command, Stdio};

/// A child process killed when the test ends, whatever happens.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_for_port(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("nothing listens on {port}");
}

/// The page's text as JSON (the relying application answers JSON).
async fn page_json(c: &fantoccini::Client) -> serde_json::Value {
    let text = text_of(c, "body").await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Visits `page` until the relying application sends the browser to Passerelle's login page
/// (its session ended by a logout token); false when it never does (10 s).
async fn sent_back_to_login(c: &fantoccini::Client, page: &str, login: &str) -> bool {
    for _ in 0..100 {
        c.goto(page).await.unwrap();
        if c.current_url().await.unwrap().as_str().starts_with(login) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn authlib_logs_in_reads_claims_refreshes_and_hears_of_the_logout() {
    let app = TestApp::spawn().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let secret = "authlib-rp-secret-0123456789-0123456789";
    register_relying_party(
        &app,
        "authlib-rp",
        secret,
        &format!("{base}/callback"),
        &format!("backchannel_logout_uri = \"{base}/backchannel\"\n"),
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/authlib_rp.py");
    let _rp = Child(
        Command::new("python3")
            .arg(script)
            .env("ISSUER", &app.address)
            .env("CLIENT_ID", "authlib-rp")
            .env("CLIENT_SECRET", secret)
            .env("PORT", port.to_string())
            // The test issuer is plain http on loopback.
            .env("AUTHLIB_INSECURE_TRANSPORT", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs tests/fixtures/authlib_rp.py (tests/run.sh installs Authlib)"),
    );
    wait_for_port(port).await;

    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&format!("{base}/login")).await.unwrap();
    wait_until_on(&c, &app.url("/login")).await;
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    wait_until_on(&c, &format!("{base}/callback")).await;
    let answer = page_json(&c).await;
    assert_eq!(answer["id_token"]["name"], "Claire Dubois", "{answer}");
    assert_eq!(answer["userinfo"]["email"], CLAIRE);
    assert_eq!(
        answer["userinfo"]["habilitations"][0]["role"], "agent",
        "{answer}"
    );
    assert_eq!(
        answer["userinfo"]["partner"]["name"],
        "Communauté de communes Roumois Seine"
    );
    let sub = answer["id_token"]["sub"].clone();

    c.goto(&format!("{base}/refresh")).await.unwrap();
    let refreshed = page_json(&c).await;
    assert_eq!(refreshed["refreshed"]["sub"], sub, "{refreshed}");

    // The Caf ends Claire's sessions: Authlib's application receives a logout token it
    // verifies with Passerelle's keys.
    let claire = app.account(CLAIRE).await;
    passerelle::habilitations::manage::end_sessions(&app.state, &claire.id)
        .await
        .unwrap();
    let mut heard = serde_json::Value::Null;
    for _ in 0..200 {
        heard = reqwest::get(format!("{base}/logged-out"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if heard.as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(heard.as_array().map(Vec::len), Some(1), "{heard}");
    c.close().await.unwrap();
}

/// Apache's configuration for mod_auth_openidc in front of a CGI page that answers the
/// userinfo JSON the module hands it (docs/integrations.md).
fn apache_config(dir: &std::path::Path, port: u16, issuer: &str, secret: &str) -> String {
    let modules = "/usr/lib/apache2/modules";
    let dir = dir.display();
    format!(
        r#"ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {dir}/httpd.pid
ErrorLog {dir}/error.log
LogLevel warn auth_openidc:info
User www-data
Group www-data
LoadModule mpm_prefork_module {modules}/mod_mpm_prefork.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule alias_module {modules}/mod_alias.so
LoadModule cgi_module {modules}/mod_cgi.so
LoadModule auth_openidc_module {modules}/mod_auth_openidc.so
DocumentRoot {dir}
ScriptAlias /app {dir}/app.cgi
OIDCProviderMetadataURL {issuer}/.well-known/openid-configuration
OIDCClientID apache-rp
OIDCClientSecret {secret}
OIDCRedirectURI http://127.0.0.1:{port}/redirect_uri
OIDCCryptoPassphrase test-passphrase-0123456789
OIDCScope "openid profile email habilitations"
OIDCPKCEMethod S256
OIDCPassUserInfoAs json
OIDCPassClaimsAs environment
OIDCCacheType shm
OIDCSessionType server-cache
<Location />
  AuthType openid-connect
  Require valid-user
</Location>
"#
    )
}

#[tokio::test]
async fn apache_mod_auth_openidc_logs_in_passes_habilitations_as_json_and_hears_of_the_logout() {
    use std::os::unix::fs::PermissionsExt;
    assert!(
        std::path::Path::new("/usr/lib/apache2/modules/mod_auth_openidc.so").exists(),
        "mod_auth_openidc is missing: run ./tests/run.sh, which installs apache2 and libapache2-mod-auth-openidc"
    );
    let app = TestApp::spawn().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let secret = "apache-rp-secret-0123456789-0123456789";
    register_relying_party(
        &app,
        "apache-rp",
        secret,
        &format!("{base}/redirect_uri"),
        &format!("backchannel_logout_uri = \"{base}/redirect_uri?logout=backchannel\"\n"),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cgi = dir.path().join("app.cgi");
    std::fs::write(
        &cgi,
        "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n'\nprintf '%s' \"$OIDC_userinfo_json\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cgi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = dir.path().join("httpd.conf");
    std::fs::write(
        &config,
        apache_config(dir.path(), port, &app.address, secret),
    )
    .unwrap();
    let _apache = Child(
        Command::new("/usr/sbin/apache2")
            .args(["-X", "-f"])
            .arg(&config)
            .env("APACHE_RUN_DIR", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("apache2 starts"),
    );
    wait_for_port(port).await;

    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&format!("{base}/app")).await.unwrap();
    wait_until_on(&c, &app.url("/login")).await;
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    wait_until_on(&c, &format!("{base}/app")).await;
    let userinfo = page_json(&c).await;
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert_eq!(userinfo["email"], CLAIRE, "{userinfo} {log}");
    assert_eq!(userinfo["habilitations"][0]["role"], "agent", "{userinfo}");

    // The Caf ends Claire's sessions: the module receives the logout token and forgets its
    // session, so the page asks for a login again.
    let claire = app.account(CLAIRE).await;
    passerelle::habilitations::manage::end_sessions(&app.state, &claire.id)
        .await
        .unwrap();
    let sent_back = sent_back_to_login(&c, &format!("{base}/app"), &app.url("/login")).await;
    let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
    assert!(sent_back, "the session outlived the logout: {log}");
    c.close().await.unwrap();
}

#[tokio::test]
async fn express_openid_connect_logs_in_reads_claims_refreshes_and_hears_of_the_logout() {
    let modules = concat!(env!("CARGO_MANIFEST_DIR"), "/target/rp-node/node_modules");
    assert!(
        std::path::Path::new(modules)
            .join("express-openid-connect")
            .exists(),
        "express-openid-connect is missing: run ./tests/run.sh, which installs it from npm"
    );
    let app = TestApp::spawn().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let secret = "express-rp-secret-0123456789-0123456789";
    register_relying_party(
        &app,
        "express-rp",
        secret,
        &format!("{base}/callback"),
        &format!("backchannel_logout_uri = \"{base}/backchannel-logout\"\n"),
    )
    .await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/express_rp.js");
    let _rp = Child(
        Command::new("node")
            .arg(script)
            .env("NODE_PATH", modules)
            .env("ISSUER", &app.address)
            .env("CLIENT_ID", "express-rp")
            .env("CLIENT_SECRET", secret)
            .env("PORT", port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs tests/fixtures/express_rp.js"),
    );
    wait_for_port(port).await;

    let driver = start_driver().await;
    let c = chromium(&driver).await;
    c.goto(&format!("{base}/profile")).await.unwrap();
    wait_until_on(&c, &app.url("/login")).await;
    type_into(&c, "#email", CLAIRE).await;
    type_into(&c, "#password", PASSWORD).await;
    submit(&c).await;
    wait_until_on(&c, &format!("{base}/profile")).await;
    let answer = page_json(&c).await;
    assert_eq!(answer["id_token"]["name"], "Claire Dubois", "{answer}");
    assert_eq!(
        answer["userinfo"]["habilitations"][0]["role"], "agent",
        "{answer}"
    );

    c.goto(&format!("{base}/refresh")).await.unwrap();
    let refreshed = page_json(&c).await;
    assert_eq!(refreshed["changed"], true, "{refreshed}");

    // The Caf ends Claire's sessions: the SDK's webhook receives the logout token, and its
    // session no longer opens the profile.
    let claire = app.account(CLAIRE).await;
    passerelle::habilitations::manage::end_sessions(&app.state, &claire.id)
        .await
        .unwrap();
    let sent_back = sent_back_to_login(&c, &format!("{base}/profile"), &app.url("/login")).await;
    assert!(sent_back, "the SDK's session outlived the logout");
    c.close().await.unwrap();
}
