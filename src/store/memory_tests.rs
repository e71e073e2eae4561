//! Unit tests of the in-memory store's own bookkeeping (the shared behaviour is
//! tests/api/stores.rs).

use super::*;

#[tokio::test]
async fn the_sweep_drops_every_kind_of_expired_entry() {
    let store = MemoryStore::new();
    let now = store.clock.now();
    let (answer, jti) = (TokenHash::of("answer"), TokenHash::of("jti"));
    store
        .put_refresh_answer(answer, b"sealed", now + 10)
        .await
        .unwrap();
    assert!(store.claim_once(jti, now + 10).await.unwrap());
    assert_eq!(store.sweep(now), 0, "nothing has expired yet");
    assert_eq!(store.sweep(now + 11), 2);
    assert!(lock(&store.refresh_answers).is_empty());
    assert!(lock(&store.claimed).is_empty());
}

fn token(client: &str, expires_at: i64) -> AccessTokenRecord {
    AccessTokenRecord {
        client_id: crate::types::ClientId::parse(client).unwrap(),
        account: None,
        grant: None,
        scope: crate::types::Scopes::parse("").unwrap(),
        claims: Vec::new(),
        jkt: None,
        issued_at: expires_at - 600,
        expires_at,
    }
}

#[tokio::test]
async fn a_full_store_refuses_new_tokens_until_some_expire() {
    let clock = crate::clock::Clock::default();
    let store = MemoryStore::with_clock(clock.clone(), 1000);
    let now = clock.now();
    // Half expire in 10 s, half in three hours.
    for i in 0..1000 {
        let expires_at = if i < 500 { now + 10 } else { now + 10_800 };
        store
            .insert_access_token(TokenHash::of(&i.to_string()), &token("rp", expires_at))
            .await
            .unwrap();
    }
    let refused = store
        .insert_access_token(TokenHash::of("one more"), &token("rp", now + 600))
        .await;
    assert!(refused.is_err(), "the 1001st token");
    // The tokens already issued are all still there.
    assert!(
        store
            .get_access_token(TokenHash::of("999"))
            .await
            .unwrap()
            .is_some()
    );
    // Once the first half has expired, there is room again.
    clock.advance(3600);
    store
        .insert_access_token(TokenHash::of("one more"), &token("rp", now + 7200))
        .await
        .unwrap();
    assert_eq!(lock(&store.access_tokens).len(), 501);
}

fn family(expires_at: i64, now: i64) -> RefreshFamily {
    use crate::types::{AccountId, ClientId, GrantId, Scopes, SessionId};
    RefreshFamily {
        grant: GrantId::generate(),
        client_id: ClientId::parse("rp").unwrap(),
        account: AccountId::generate(),
        sid: SessionId::generate(),
        scope: Scopes::parse("openid").unwrap(),
        claims: Default::default(),
        jkt: None,
        auth_time: now,
        acr: "pwd".into(),
        amr: vec![],
        issued_at: now,
        expires_at,
        idle_seconds: 0,
    }
}

#[tokio::test]
async fn a_full_store_refuses_a_rotation_and_the_presented_token_still_works() {
    let clock = crate::clock::Clock::default();
    let store = MemoryStore::with_clock(clock.clone(), 1000);
    let now = clock.now();
    // One family that lives three hours, and 999 that expire in 10 s: the index is full.
    let kept = TokenHash::of("kept");
    store
        .create_refresh_family(&family(now + 10_800, now), kept)
        .await
        .unwrap();
    for i in 0..999 {
        store
            .create_refresh_family(&family(now + 10, now), TokenHash::of(&i.to_string()))
            .await
            .unwrap();
    }
    let next = TokenHash::of("next");
    let refused = store.rotate_refresh(kept, next, now, 0).await;
    assert!(refused.is_err(), "a rotation past the limit");
    // Nothing was spent: once room comes back, the same token rotates.
    clock.advance(60);
    let rotated = store
        .rotate_refresh(kept, next, clock.now(), 0)
        .await
        .unwrap();
    assert!(
        matches!(rotated, RefreshRotation::Rotated(_)),
        "{rotated:?}"
    );
}
