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
