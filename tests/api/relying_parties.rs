//! Relying-party software nobody here wrote, driven through Chromium: Python's Authlib (with
//! Flask), as docs/integrations.md configures it — login, claims, refresh, back-channel
//! logout.

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
