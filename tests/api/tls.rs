//! TLS termination in the binary: the issuer is https, TLS 1.2 and 1.3 clients connect, every
//! answer carries HSTS, and pages that read the client address work behind TLS too.

use crate::helpers::*;

#[tokio::test]
async fn passerelle_terminates_tls_1_2_and_1_3_with_hsts() {
    install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let generated =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
            .unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, generated.cert.pem()).unwrap();
    std::fs::write(&key, generated.key_pair.serialize_pem()).unwrap();
    let (c, k) = (cert.clone(), key.clone());
    let app = TestApp::spawn_with(move |config| {
        config.server.tls_certificate = c;
        config.server.tls_private_key = k;
    })
    .await;
    assert!(
        app.issuer.starts_with("https://127.0.0.1:"),
        "{}",
        app.issuer
    );

    let root = reqwest::Certificate::from_pem(generated.cert.pem().as_bytes()).unwrap();
    for version in [
        reqwest::tls::Version::TLS_1_2,
        reqwest::tls::Version::TLS_1_3,
    ] {
        let client = reqwest::Client::builder()
            .add_root_certificate(root.clone())
            .min_tls_version(version)
            .max_tls_version(version)
            .redirect(reqwest::redirect::Policy::none())
            .cookie_store(true)
            .build()
            .unwrap();
        let response = client
            .get(format!("{}/.well-known/openid-configuration", app.issuer))
            .send()
            .await
            .unwrap_or_else(|e| panic!("{version:?}: {e}"));
        assert_eq!(response.status(), 200);
        assert!(
            response.headers()["strict-transport-security"]
                .to_str()
                .unwrap()
                .starts_with("max-age=")
        );
        let discovery: serde_json::Value = response.json().await.unwrap();
        assert_eq!(discovery["issuer"], app.issuer);
        // The login page reads the client address (throttling): it works behind TLS.
        let login = client
            .get(format!("{}/login", app.issuer))
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 200);
        assert!(
            login.headers()["set-cookie"]
                .to_str()
                .unwrap()
                .contains("Secure")
        );
    }

    // A client that does not trust the certificate is refused by its own TLS stack, and the
    // server keeps serving others.
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("{}/healthz", app.issuer))
            .send()
            .await
            .is_err()
    );
    let trusting = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    assert_eq!(
        trusting
            .get(format!("{}/healthz", app.issuer))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}
