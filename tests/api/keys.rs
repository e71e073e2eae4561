//! Key rotation: new tokens carry the new kid; the previous public keys stay in the JWKS until
//! every token they signed has expired, then disappear.

use crate::code_flow::base64_decode;
use crate::helpers::*;
use passerelle::oidc::keys::{KeyRing, RETIREMENT_GRACE_SECONDS};
use passerelle::store::now;

fn kid_of(id_token: &str) -> String {
    let header: serde_json::Value =
        serde_json::from_slice(&base64_decode(id_token.split('.').next().unwrap())).unwrap();
    header["kid"].as_str().unwrap().to_owned()
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let jwks: serde_json::Value = app.get_json("/jwks.json").await;
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn rotation_keeps_the_previous_key_published_until_its_tokens_expire() {
    let app = TestApp::spawn().await;
    let before = app.tokens(&browser()).await;
    let old_kid = kid_of(before["id_token"].as_str().unwrap());
    assert_eq!(published_kids(&app).await.len(), 3, "one key per algorithm");

    let store = app.state.stores.keys.as_ref();
    let ttl = app.state.settings.id_token_ttl;
    let t0 = now();
    KeyRing::rotate(store, t0, ttl).await.unwrap();
    app.state.keys.reload(store, t0).await.unwrap();
    let after = app.tokens(&browser()).await;
    let new_kid = kid_of(after["id_token"].as_str().unwrap());
    assert_ne!(new_kid, old_kid);
    let kids = published_kids(&app).await;
    assert_eq!(kids.len(), 6);
    assert!(kids.contains(&old_kid) && kids.contains(&new_kid));

    // Once the old tokens have expired, a later rotation drops the old keys.
    let later = t0 + ttl as i64 + RETIREMENT_GRACE_SECONDS + 1;
    KeyRing::rotate(store, later, ttl).await.unwrap();
    app.state.keys.reload(store, later).await.unwrap();
    let kids = published_kids(&app).await;
    assert!(!kids.contains(&old_kid), "expired key removed");
    assert!(
        kids.contains(&new_kid),
        "key retired just now still published"
    );
    assert_eq!(kids.len(), 6);
}

/// Documents signed years ago (review reports, seals, attestations) still verify once their
/// key's private part is deleted: its public part is kept apart from the JWKS, which only
/// tokens are checked against.
#[tokio::test]
async fn documents_signed_with_a_deleted_key_still_verify() {
    let app = TestApp::spawn().await;
    let signer = app
        .state
        .keys
        .active(passerelle::store::SigningAlg::RS256)
        .unwrap();
    let report = signer
        .sign_compact(
            Some("revue-inverse+jwt"),
            &serde_json::json!({ "iss": app.state.settings.issuer, "partner": "ville-de-niort" }),
        )
        .unwrap();
    let store = app.state.stores.keys.as_ref();
    let ttl = app.state.settings.id_token_ttl;
    let t0 = now();
    KeyRing::rotate(store, t0, ttl).await.unwrap();
    let later = t0 + ttl as i64 + RETIREMENT_GRACE_SECONDS + 1;
    KeyRing::rotate(store, later, ttl).await.unwrap();
    app.state.keys.reload(store, later).await.unwrap();
    assert!(
        store
            .list_signing_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.kid != signer.kid),
        "the private part is gone"
    );
    assert!(!published_kids(&app).await.contains(&signer.kid));
    assert!(
        app.state.keys.verify_compact(&report).is_none(),
        "no token is accepted on a retired key"
    );
    assert_eq!(
        app.state.keys.verify_document(&report).unwrap()["partner"],
        "ville-de-niort"
    );
    // Tampered, it fails.
    let mut parts: Vec<String> = report.split('.').map(str::to_owned).collect();
    parts[1] = passerelle::crypto::b64url(br#"{"partner":"autre"}"#);
    assert!(app.state.keys.verify_document(&parts.join(".")).is_none());

    // Anyone can fetch it to verify on their own; a restarted server still knows it.
    let retired: serde_json::Value = app.get_json("/jwks-retired.json").await;
    let key = retired["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == signer.kid.as_str())
        .expect("the retired key is listed");
    assert_eq!(key["kty"], "RSA");
    assert!(key["retired_at"].as_i64().unwrap() <= later);
    let fresh = KeyRing::new(ttl);
    fresh.reload(store, later + 86_400 * 365 * 6).await.unwrap();
    assert!(fresh.verify_document(&report).is_some());
}
