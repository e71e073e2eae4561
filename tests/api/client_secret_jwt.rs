//! `client_secret_jwt` (OIDC Core §9, RFC 7523) and request objects MACed with the client
//! secret (HS256), for a service provisioned for them; the secret then kept sealed, never in
//! clear, in the data folder.

use crate::helpers::*;
use crate::interop::{assertion_claims, grant_with_assertion};

const SECRET: &str = "hs-rp-secret-0123456789-0123456789-0123";

/// A compact JWS MACed with `secret` (`alg` HS256, HS384 or HS512).
fn mac(alg: &str, secret: &str, claims: &serde_json::Value) -> String {
    use aws_lc_rs::hmac;
    let b64 = passerelle::crypto::b64url;
    let header = serde_json::json!({"alg": alg, "typ": "JWT"});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let algorithm = match alg {
        "HS256" => hmac::HMAC_SHA256,
        "HS384" => hmac::HMAC_SHA384,
        _ => hmac::HMAC_SHA512,
    };
    let tag = hmac::sign(
        &hmac::Key::new(algorithm, secret.as_bytes()),
        input.as_bytes(),
    );
    format!("{input}.{}", b64(tag.as_ref()))
}

fn back_end(client: &str, secret: &str, more: &str) -> String {
    format!(
        "[[service]]\nclient_id = \"{client}\"\nname = \"Back end\"\ntype = \"confidential\"\nsecret = \"{secret}\"\ngrant_types = [\"client_credentials\"]\nclient_scopes = [\"traces:write\"]\n{more}\n"
    )
}

/// Whether any file of the data folder (databases, their journals) holds `needle`.
fn data_folder_holds(app: &TestApp, needle: &[u8]) -> bool {
    let folder = app.traces_db.parent().unwrap();
    std::fs::read_dir(folder).unwrap().any(|entry| {
        let path = entry.unwrap().path();
        path.is_file()
            && std::fs::read(&path)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle)
    })
}

#[tokio::test]
async fn client_secret_jwt_authenticates_once_per_assertion_and_the_secret_stays_sealed() {
    let app = TestApp::spawn().await;
    let discovery = app.get_json("/.well-known/openid-configuration").await;
    let listed = |field: &str, value: &str| {
        discovery[field]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m == value)
    };
    assert!(listed(
        "token_endpoint_auth_methods_supported",
        "client_secret_jwt"
    ));
    assert!(listed(
        "token_endpoint_auth_signing_alg_values_supported",
        "HS256"
    ));
    assert!(listed(
        "request_object_signing_alg_values_supported",
        "HS256"
    ));
    assert!(!listed("dpop_signing_alg_values_supported", "HS256"));

    let text = back_end("hs-rp", SECRET, "client_secret_jwt = true");
    app.provision(&text).await;
    assert!(
        !data_folder_holds(&app, SECRET.as_bytes()),
        "the secret is kept sealed, never in clear"
    );
    // Applying the same file again changes nothing (the seal is kept, not redone).
    assert_eq!(app.provision(&text).await.updated, 0);

    for alg in ["HS256", "HS384", "HS512"] {
        let assertion = mac(alg, SECRET, &assertion_claims(&app, "hs-rp", alg, 60));
        let granted = grant_with_assertion(&app, &assertion).await;
        assert_eq!(granted.status(), 200, "{alg}");
        // Once only.
        assert_oauth_error(
            grant_with_assertion(&app, &assertion).await,
            401,
            "invalid_client",
        )
        .await;
    }
    // Wrong audience, expired, MACed with another secret, the algorithm `none`.
    let mut wrong_aud = assertion_claims(&app, "hs-rp", "b-1", 60);
    wrong_aud["aud"] = "https://elsewhere.example/token".into();
    let unsigned = {
        let b64 = passerelle::crypto::b64url;
        format!(
            "{}.{}.",
            b64(br#"{"alg":"none"}"#),
            b64(assertion_claims(&app, "hs-rp", "b-4", 60)
                .to_string()
                .as_bytes())
        )
    };
    for bad in [
        mac("HS256", SECRET, &wrong_aud),
        mac(
            "HS256",
            SECRET,
            &assertion_claims(&app, "hs-rp", "b-2", -120),
        ),
        mac(
            "HS256",
            "another-secret-0123456789-0123456789-01",
            &assertion_claims(&app, "hs-rp", "b-3", 60),
        ),
        unsigned,
    ] {
        assert_oauth_error(
            grant_with_assertion(&app, &bad).await,
            401,
            "invalid_client",
        )
        .await;
    }
    // The secret itself still authenticates the client.
    let basic = app
        .api
        .post(app.url("/token"))
        .basic_auth("hs-rp", Some(SECRET))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 200);

    // A client not provisioned for it cannot MAC with its secret, however right the secret.
    let other = "plain-rp-secret-0123456789-0123456789-01";
    app.provision(&back_end("plain-rp", other, "")).await;
    let plain = mac(
        "HS256",
        other,
        &assertion_claims(&app, "plain-rp", "c-1", 60),
    );
    assert_oauth_error(
        grant_with_assertion(&app, &plain).await,
        401,
        "invalid_client",
    )
    .await;

    // A new secret: the old one MACs nothing any more.
    let renewed = "hs-rp-renewed-0123456789-0123456789-012";
    let report = app
        .provision(&back_end("hs-rp", renewed, "client_secret_jwt = true"))
        .await;
    assert_eq!(report.updated, 1);
    let old = mac("HS256", SECRET, &assertion_claims(&app, "hs-rp", "d-1", 60));
    assert_oauth_error(
        grant_with_assertion(&app, &old).await,
        401,
        "invalid_client",
    )
    .await;
    let new = mac(
        "HS256",
        renewed,
        &assertion_claims(&app, "hs-rp", "d-2", 60),
    );
    assert_eq!(grant_with_assertion(&app, &new).await.status(), 200);
}

#[tokio::test]
async fn client_secret_jwt_needs_a_secret_and_is_refused_with_fapi2() {
    let app = TestApp::spawn().await;
    let state = &app.state;
    for (text, expected) in [
        (
            "[[service]]\nclient_id = \"k-rp\"\nname = \"K\"\ntype = \"confidential\"\ngrant_types = [\"client_credentials\"]\njwks = '{\"keys\":[{\"kty\":\"oct\",\"k\":\"AAAA\"}]}'\nclient_secret_jwt = true\n",
            "client_secret_jwt needs the service's secret",
        ),
        (
            "[[service]]\nclient_id = \"f-rp\"\nname = \"F\"\ntype = \"confidential\"\nsecret = \"f-rp-secret-0123456789-0123456789-0123\"\ngrant_types = [\"client_credentials\"]\nfapi2 = true\nclient_secret_jwt = true\n",
            "fapi2 needs keys",
        ),
    ] {
        let file = passerelle::provision::parse(text, "test").unwrap();
        let refused = passerelle::provision::apply(state, &file, false)
            .await
            .unwrap_err()
            .to_string();
        assert!(refused.contains(expected), "{refused}");
    }
}

#[tokio::test]
async fn a_request_object_maced_with_the_client_secret_is_the_request() {
    let app = TestApp::spawn().await;
    let callback =
        crate::browser::stand_in_client_with(&app, "hs-ro", SECRET, "client_secret_jwt = true\n")
            .await;
    let object = |jti: &str| {
        let now = app.state.clock.now();
        serde_json::json!({
            "iss": "hs-ro", "aud": app.address, "exp": now + 300, "jti": jti,
            "client_id": "hs-ro", "response_type": "code", "redirect_uri": callback,
            "scope": "openid email", "state": "hs-state", "nonce": "n-1",
            "code_challenge": CHALLENGE, "code_challenge_method": "S256",
        })
    };
    let authorize = |request: &str| {
        let mut url = url::Url::parse(&app.url("/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("client_id", "hs-ro")
            .append_pair("response_type", "code")
            .append_pair("scope", "openid")
            .append_pair("redirect_uri", &callback)
            .append_pair("request", request);
        url.to_string()
    };
    let browser = browser();
    let response = app
        .login(
            &browser,
            &authorize(&mac("HS256", SECRET, &object("hs-a"))),
            CLAIRE,
            PASSWORD,
        )
        .await;
    let params = redirect_params(&response, &callback);
    assert_eq!(params["state"], "hs-state");
    let tokens: serde_json::Value = app
        .exchange_as("hs-ro", SECRET, &params["code"], &callback)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tokens["scope"], "email openid", "the object's scope");

    // MACed with another secret: refused to the redirect URI.
    let forged = mac(
        "HS256",
        "another-secret-0123456789-0123456789-01",
        &object("hs-b"),
    );
    let refused = visit(&browser, &authorize(&forged)).await;
    assert_eq!(
        redirect_params(&refused, &callback)["error"],
        "invalid_request_object"
    );
}
