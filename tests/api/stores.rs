//! The store conformance suite: what every implementation of the store traits must guarantee,
//! written against the traits only. Every check runs over the embedded stores (SQLite +
//! memory), and again over real PostgreSQL and Redis servers started for the purpose.

use passerelle::crypto::TokenHash;
use passerelle::store::*;
use passerelle::types::*;
use std::sync::Arc;

async fn embedded() -> (Stores, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let durable = sqlite::SqliteStore::open(&dir.path().join("t.db"), 4)
        .await
        .unwrap();
    durable.migrate().await.unwrap();
    let traces = sqlite::traces::SqliteTraceStore::open(&dir.path().join("traces.db"))
        .await
        .unwrap();
    (
        Stores::embedded(durable, memory::MemoryStore::new(), traces),
        dir,
    )
}

fn code_grant(expires_at: i64) -> CodeGrant {
    CodeGrant {
        grant: GrantId::generate(),
        client_id: ClientId::parse("c").unwrap(),
        redirect_uri: RedirectUri::parse("https://rp.example/cb").unwrap(),
        account: AccountId::generate(),
        sid: SessionId::generate(),
        scope: Scopes::parse("openid").unwrap(),
        nonce: None,
        code_challenge: None,
        auth_time: now(),
        acr: "pwd".into(),
        amr: vec!["pwd".into()],
        session_expires_at: Some(now() + 3600),
        claims: Default::default(),
        dpop_jkt: Some("jkt".into()),
        expires_at,
    }
}

fn family(expires_at: i64) -> RefreshFamily {
    RefreshFamily {
        grant: GrantId::generate(),
        client_id: ClientId::parse("c").unwrap(),
        account: AccountId::generate(),
        sid: SessionId::generate(),
        scope: Scopes::parse("openid").unwrap(),
        claims: passerelle::store::ClaimsRequest {
            userinfo: vec!["name".into()],
            ..Default::default()
        },
        jkt: None,
        auth_time: now(),
        acr: "pwd".into(),
        amr: vec![],
        issued_at: now(),
        expires_at,
        idle_seconds: 0,
    }
}

async fn a_code_is_consumed_once_even_under_concurrency_and_replays_are_recognised(
    stores: &Stores,
) {
    let hash = TokenHash::of("code-1");
    stores
        .codes
        .insert_code(hash, &code_grant(now() + 60))
        .await
        .unwrap();
    let attempts: Vec<_> = (0..16)
        .map(|_| {
            let codes = stores.codes.clone();
            tokio::spawn(async move { codes.consume_code(hash).await.unwrap() })
        })
        .collect();
    let mut fresh = 0;
    for a in attempts {
        match a.await.unwrap() {
            CodeConsumption::Fresh(_) => fresh += 1,
            CodeConsumption::Replayed(_) => {}
            CodeConsumption::Unknown => panic!("a live code is never unknown"),
        }
    }
    assert_eq!(fresh, 1);
    assert_eq!(
        stores
            .codes
            .consume_code(TokenHash::of("other"))
            .await
            .unwrap(),
        CodeConsumption::Unknown
    );
    let expired = TokenHash::of("code-2");
    stores
        .codes
        .insert_code(expired, &code_grant(now() - 1))
        .await
        .unwrap();
    assert_eq!(
        stores.codes.consume_code(expired).await.unwrap(),
        CodeConsumption::Unknown
    );
}

/// Idle limits are checked without waiting: a family issued (or a token rotated) far enough in
/// the past already has its token expired, whatever the family's own end.
async fn a_refresh_token_left_unused_past_its_familys_idle_limit_is_unknown(stores: &Stores) {
    let tokens: Arc<dyn TokenStore> = stores.tokens.clone();
    let idle = RefreshFamily {
        issued_at: now() - 600,
        idle_seconds: 300,
        ..family(now() + 3600)
    };
    let (r1, r2, r3) = (
        TokenHash::of("idle-1"),
        TokenHash::of("idle-2"),
        TokenHash::of("idle-3"),
    );
    tokens.create_refresh_family(&idle, r1).await.unwrap();
    assert_eq!(tokens.find_refresh(r1).await.unwrap(), None);
    assert_eq!(
        tokens.rotate_refresh(r1, r2, now(), 0).await.unwrap(),
        RefreshRotation::Unknown
    );
    // Used in time, each rotation restarts the count from the rotation.
    let active = RefreshFamily {
        issued_at: now(),
        idle_seconds: 300,
        ..family(now() + 3600)
    };
    tokens.create_refresh_family(&active, r1).await.unwrap();
    assert!(matches!(
        tokens.rotate_refresh(r1, r2, now(), 0).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    assert!(tokens.find_refresh(r2).await.unwrap().is_some());
    // A rotation that happened 400 s ago left a token already past its idle limit.
    assert!(matches!(
        tokens.rotate_refresh(r2, r3, now() - 400, 0).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    assert_eq!(tokens.find_refresh(r3).await.unwrap(), None);
}

async fn refresh_rotation_is_atomic_and_reuse_revokes_the_family(stores: &Stores) {
    let tokens: Arc<dyn TokenStore> = stores.tokens.clone();
    let f = family(now() + 3600);
    let (r1, r2, r3) = (
        TokenHash::of("r1"),
        TokenHash::of("r2"),
        TokenHash::of("r3"),
    );
    tokens.create_refresh_family(&f, r1).await.unwrap();
    assert_eq!(tokens.find_refresh(r1).await.unwrap().as_ref(), Some(&f));

    // Two racing rotations of the same token: one wins, the other is a reuse.
    let (a, b) = tokio::join!(
        tokens.rotate_refresh(r1, r2, now(), 0),
        tokens.rotate_refresh(r1, r3, now(), 0)
    );
    let outcomes = [a.unwrap(), b.unwrap()];
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, RefreshRotation::Rotated(_)))
            .count(),
        1
    );
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| matches!(o, RefreshRotation::Reused(_)))
            .count(),
        1
    );
    assert!(
        tokens.is_grant_revoked(&f.grant).await.unwrap(),
        "reuse revokes the grant"
    );
    assert!(
        tokens.find_refresh(r2).await.unwrap().is_none()
            && tokens.find_refresh(r3).await.unwrap().is_none()
    );
    assert_eq!(
        tokens
            .rotate_refresh(TokenHash::of("never"), r3, now(), 0)
            .await
            .unwrap(),
        RefreshRotation::Unknown
    );

    // With a grace window, the token replaced last may come back within it, changing nothing;
    // after it, or an older token, revokes the family.
    let g = family(now() + 3600);
    let (g1, g2, g3) = (
        TokenHash::of("g1"),
        TokenHash::of("g2"),
        TokenHash::of("g3"),
    );
    tokens.create_refresh_family(&g, g1).await.unwrap();
    let t = now();
    assert!(matches!(
        tokens.rotate_refresh(g1, g2, t, 10).await.unwrap(),
        RefreshRotation::Rotated(_)
    ));
    assert!(matches!(
        tokens.rotate_refresh(g1, g3, t + 5, 10).await.unwrap(),
        RefreshRotation::Grace(_)
    ));
    assert!(
        tokens.find_refresh(g3).await.unwrap().is_none(),
        "a grace retry stores no token"
    );
    assert!(!tokens.is_grant_revoked(&g.grant).await.unwrap());
    tokens
        .put_refresh_answer(g1, b"sealed", t + 10)
        .await
        .unwrap();
    assert_eq!(
        tokens.get_refresh_answer(g1).await.unwrap().as_deref(),
        Some(&b"sealed"[..])
    );
    assert!(matches!(
        tokens.rotate_refresh(g1, g3, t + 11, 10).await.unwrap(),
        RefreshRotation::Reused(_)
    ));
    assert!(tokens.is_grant_revoked(&g.grant).await.unwrap());
    // An identifier used once (a client assertion's jti).
    let jti = TokenHash::of("jti-1");
    assert!(tokens.claim_once(jti, t + 60).await.unwrap());
    assert!(!tokens.claim_once(jti, t + 60).await.unwrap());
}

async fn revoked_grants_and_expired_tokens_disappear(stores: &Stores) {
    let tokens = &stores.tokens;
    let grant = GrantId::generate();
    let record = AccessTokenRecord {
        client_id: ClientId::parse("c").unwrap(),
        account: None,
        grant: Some(grant.clone()),
        scope: Scopes::default(),
        claims: vec!["email".into()],
        jkt: Some("thumbprint".into()),
        issued_at: now(),
        expires_at: now() + 60,
    };
    let live = TokenHash::of("a1");
    tokens.insert_access_token(live, &record).await.unwrap();
    let stale = TokenHash::of("a2");
    tokens
        .insert_access_token(
            stale,
            &AccessTokenRecord {
                expires_at: now() - 1,
                ..record.clone()
            },
        )
        .await
        .unwrap();
    assert!(tokens.get_access_token(live).await.unwrap().is_some());
    assert!(tokens.get_access_token(stale).await.unwrap().is_none());
    tokens.revoke_grant(&grant, now() + 60).await.unwrap();
    assert!(tokens.is_grant_revoked(&grant).await.unwrap());
    tokens.remove_access_token(live).await.unwrap();
    assert!(tokens.get_access_token(live).await.unwrap().is_none());
}

async fn sessions_record_their_grants_and_end_once(stores: &Stores) {
    let account = AccountId::generate();
    let session = Session {
        sid: SessionId::generate(),
        secret_sha256: [7; 32],
        account: account.clone(),
        auth_time: now(),
        expires_at: now() + 60,
        last_seen: now(),
        acr: "pwd".into(),
        amr: vec![],
        awaiting_second_factor: false,
        clients: vec![],
        grants: vec![],
    };
    let sessions = &stores.sessions;
    sessions.insert_session(&session).await.unwrap();
    let client = ClientId::parse("c").unwrap();
    let grant = GrantId::generate();
    assert!(
        sessions
            .add_session_grant(&session.sid, &client, Some(&grant))
            .await
            .unwrap()
    );
    // An offline grant records its client only: the end of the session does not revoke it.
    let other = ClientId::parse("offline").unwrap();
    assert!(
        sessions
            .add_session_grant(&session.sid, &other, None)
            .await
            .unwrap()
    );
    let stored = sessions.get_session(&session.sid).await.unwrap().unwrap();
    let mut clients = stored.clients;
    clients.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    assert_eq!(
        (clients, stored.grants),
        (vec![client.clone(), other], vec![grant.clone()])
    );
    assert_eq!(
        sessions.sessions_of_account(&account).await.unwrap().len(),
        1
    );
    // Activity moves last_seen forward, never back.
    let later = session.last_seen + 120;
    assert!(sessions.touch_session(&session.sid, later).await.unwrap());
    assert!(
        sessions
            .touch_session(&session.sid, later - 60)
            .await
            .unwrap()
    );
    let touched = sessions.get_session(&session.sid).await.unwrap().unwrap();
    assert_eq!(
        (touched.last_seen, touched.grants),
        (later, vec![grant.clone()])
    );
    assert!(
        sessions
            .remove_session(&session.sid)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        sessions
            .remove_session(&session.sid)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        !sessions.touch_session(&session.sid, later).await.unwrap(),
        "a session gone is not brought back"
    );
    assert!(
        !sessions
            .add_session_grant(&session.sid, &client, Some(&grant))
            .await
            .unwrap()
    );
}

async fn durable_records_round_trip_and_server_secrets_are_set_once(stores: &Stores) {
    let caf = Caf {
        code: CafCode::parse("79").unwrap(),
        name: "Caf des Deux-Sèvres".into(),
    };
    assert_eq!(
        stores.organisations.upsert_caf(&caf).await.unwrap(),
        Change::Created
    );
    assert_eq!(
        stores.organisations.upsert_caf(&caf).await.unwrap(),
        Change::Unchanged
    );
    let profile = AccountProfile {
        email: Email::parse("a.b@niort.example").unwrap(),
        civility: None,
        given_name: "A".into(),
        family_name: "B".into(),
        function: None,
        partner: None,
        caf: Some(caf.code.clone()),
        services: vec![],
        admin_roles: vec![],
    };
    let (id, change) = stores.accounts.upsert_account(&profile).await.unwrap();
    assert_eq!(change, Change::Created);
    let account = stores.accounts.get_account(&id).await.unwrap().unwrap();
    assert_eq!(
        (account.status, account.profile),
        (AccountStatus::Pending, profile.clone())
    );
    stores
        .accounts
        .set_password_hash(&id, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .await
        .unwrap();
    assert_eq!(
        stores
            .accounts
            .get_account(&id)
            .await
            .unwrap()
            .unwrap()
            .status,
        AccountStatus::Active
    );
    let secret_a = stores.secrets.server_secret("k", b"first").await.unwrap();
    let secret_b = stores.secrets.server_secret("k", b"second").await.unwrap();
    assert_eq!(
        (secret_a.as_slice(), secret_b.as_slice()),
        (&b"first"[..], &b"first"[..])
    );
    // A deleted key's public part is kept once, as first recorded.
    let retired = RetiredPublicKey {
        kid: "old".into(),
        alg: SigningAlg::ES256,
        public_key: vec![4; 65],
        jwk: r#"{"kty":"EC"}"#.into(),
        created_at: 1,
        retired_at: 2,
    };
    stores.keys.archive_public_key(&retired).await.unwrap();
    let again = RetiredPublicKey {
        retired_at: 3,
        ..retired.clone()
    };
    stores.keys.archive_public_key(&again).await.unwrap();
    assert_eq!(
        stores.keys.retired_public_keys().await.unwrap(),
        vec![retired]
    );
}

fn trace(stream: &str, id: &str, account: &str, at_us: i64) -> NewTrace {
    NewTrace {
        id: id.into(),
        stream: stream.into(),
        at_us,
        actor_account: Some(account.into()),
        actor_partner: Some("p".into()),
        actor_caf: None,
        partner: Some("p".into()),
        session: None,
        client_id: None,
        action: "test.action".into(),
        target: Some("dossier:1".into()),
        outcome: Outcome::Success,
        reason: None,
        ip: None,
        user_agent: None,
        request_id: None,
        received_at_us: Some(at_us + 1),
    }
}

async fn traces_chain_per_stream_skip_duplicates_and_search_newest_first(stores: &Stores) {
    let t = &stores.traces;
    let batch = vec![
        trace("a", "1", "x", 10),
        trace("b", "1", "x", 11),
        trace("a", "2", "y", 12),
        trace("a", "1", "x", 13),
    ];
    let outcomes = t.append(&batch).await.unwrap();
    assert_eq!(
        outcomes,
        [
            Appended::Stored,
            Appended::Stored,
            Appended::Stored,
            Appended::Duplicate
        ]
    );
    let a = t.stream_records("a", 0, 10).await.unwrap();
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].prev_hash, GENESIS);
    assert_eq!(
        a[1].prev_hash, a[0].hash,
        "each record follows its predecessor"
    );
    assert_eq!(a[1].hash, a[1].trace.chained_hash(&a[0].hash));
    let b = t.stream_records("b", 0, 10).await.unwrap();
    assert_eq!(b[0].prev_hash, GENESIS, "streams are chained apart");

    let found = t
        .search(&TraceQuery {
            account: Some("x".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let times: Vec<i64> = found.iter().map(|r| r.trace.at_us).collect();
    assert_eq!(times, [11, 10]);
    let nobody = t
        .search(&TraceQuery {
            reach: Some(vec!["other".into()]),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(nobody.is_empty(), "the reach limits what is found");

    // A store partitioned by month drops whole months (of storage): here this one, which
    // ends before the start of the month after next.
    let in_two_months = now() * 1_000_000 + 62 * 24 * 3600 * 1_000_000;
    if let Some(ranges) = t.drop_months_before(in_two_months).await.unwrap() {
        let a_range = ranges.iter().find(|r| r.stream == "a").unwrap();
        assert_eq!(
            (ranges.len(), a_range.count, a_range.from_us, a_range.to_us),
            (2, 2, 10, 12)
        );
        assert_eq!(a_range.last_hash, a[1].hash);
        assert!(t.stream_records("a", 0, 10).await.unwrap().is_empty());
        assert_eq!(t.stream_origin("a").await.unwrap(), a[1].hash);
        // The chain goes on from the origin.
        t.append(&[trace("a", "3", "x", 14)]).await.unwrap();
        let rest = t.stream_records("a", 0, 10).await.unwrap();
        assert_eq!(rest[0].prev_hash, a[1].hash);
        return;
    }
    // Otherwise destruction cuts the oldest records and moves the origin, so the rest still
    // verifies.
    let (first, last, count) = t.destroy_oldest("a", 12, 100).await.unwrap().unwrap();
    assert_eq!(
        (first.trace.id.as_str(), last.trace.id.as_str(), count),
        ("1", "1", 1)
    );
    assert_eq!(t.stream_origin("a").await.unwrap(), last.hash);
    let rest = t.stream_records("a", 0, 10).await.unwrap();
    assert_eq!(rest[0].prev_hash, last.hash);
}

/// A Caf's security officer's reach holds its partners and the Caf's own staff (traces with no
/// partner whose actor belongs to the Caf), not another Caf's.
async fn a_cafs_reach_includes_its_own_staff(stores: &Stores) {
    let t = &stores.traces;
    // A Caf's own staff: no partner, the Caf as the actor's.
    let staff = NewTrace {
        actor_partner: None,
        actor_caf: Some("79".into()),
        partner: None,
        ..trace("a", "staff", "officer", 14)
    };
    t.append(&[trace("a", "1", "x", 10), trace("a", "2", "y", 12), staff])
        .await
        .unwrap();
    let seen = |cafs: Vec<String>| {
        let t = t.clone();
        async move {
            t.search(&TraceQuery {
                reach: Some(vec!["p".into()]),
                reach_cafs: cafs,
                limit: 10,
                ..Default::default()
            })
            .await
            .unwrap()
            .iter()
            .map(|r| r.trace.id.clone())
            .collect::<Vec<_>>()
        }
    };
    assert_eq!(seen(vec!["79".into()]).await, ["staff", "2", "1"]);
    assert_eq!(
        seen(vec!["42".into()]).await,
        ["2", "1"],
        "not another Caf's staff"
    );
}

fn session(account: &AccountId, expires_at: i64) -> Session {
    Session {
        sid: SessionId::generate(),
        secret_sha256: [7; 32],
        account: account.clone(),
        auth_time: now(),
        expires_at,
        last_seen: now(),
        acr: "pwd".into(),
        amr: vec!["pwd".into()],
        awaiting_second_factor: true,
        clients: vec![],
        grants: vec![],
    }
}

async fn a_second_factor_upgrades_a_live_session_and_account_lists_skip_ended_ones(
    stores: &Stores,
) {
    let sessions = &stores.sessions;
    let account = AccountId::generate();
    let (live, other) = (session(&account, now() + 60), session(&account, now() + 60));
    sessions.insert_session(&live).await.unwrap();
    sessions.insert_session(&other).await.unwrap();
    let amr = vec!["pwd".to_string(), "otp".to_string()];
    assert!(
        sessions
            .upgrade_session(&live.sid, "mfa", &amr)
            .await
            .unwrap()
    );
    let stored = sessions.get_session(&live.sid).await.unwrap().unwrap();
    assert_eq!(
        (
            stored.acr.as_str(),
            stored.amr,
            stored.awaiting_second_factor
        ),
        ("mfa", amr.clone(), false)
    );
    sessions.remove_session(&other.sid).await.unwrap();
    assert!(
        !sessions
            .upgrade_session(&other.sid, "mfa", &amr)
            .await
            .unwrap()
    );
    let listed: Vec<SessionId> = sessions
        .sessions_of_account(&account)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.sid)
        .collect();
    assert_eq!(listed, std::slice::from_ref(&live.sid));
    let expired = session(&account, now() - 1);
    sessions.insert_session(&expired).await.unwrap();
    assert!(sessions.get_session(&expired.sid).await.unwrap().is_none());
}

async fn failures_are_counted_once_each_even_under_concurrency(stores: &Stores) {
    let key = format!("login:{}", GrantId::generate().as_str());
    let at = now();
    let racing: Vec<_> = (0..20)
        .map(|_| {
            let throttle = stores.throttle.clone();
            let key = key.clone();
            tokio::spawn(async move { throttle.record_failure(&key, at).await.unwrap() })
        })
        .collect();
    let mut seen: Vec<u32> = Vec::new();
    for r in racing {
        seen.push(r.await.unwrap().consecutive);
    }
    seen.sort();
    assert_eq!(
        seen,
        (1..=20).collect::<Vec<u32>>(),
        "no failure lost or counted twice"
    );
    let a = stores.throttle.attempts(&key, at).await.unwrap();
    assert_eq!(
        (a.consecutive, a.last_failure_at, a.recent.len()),
        (20, at, 20)
    );
    // Failures older than the window no longer count toward the day's total.
    let later = at + FAILURE_WINDOW_SECONDS;
    assert!(
        stores
            .throttle
            .attempts(&key, later)
            .await
            .unwrap()
            .recent
            .is_empty()
    );
    stores.throttle.record_success(&key).await.unwrap();
    let a = stores.throttle.attempts(&key, at).await.unwrap();
    assert_eq!((a.consecutive, a.recent.len()), (0, 20));
    stores.throttle.clear_attempts(&key).await.unwrap();
    assert_eq!(
        stores.throttle.attempts(&key, at).await.unwrap(),
        Attempts::default()
    );
    // A success with no failure on record creates nothing.
    stores.throttle.record_success("nobody").await.unwrap();
    assert_eq!(
        stores.throttle.attempts("nobody", at).await.unwrap(),
        Attempts::default()
    );
}

async fn challenges_and_pending_logins_are_used_once(stores: &Stores) {
    let challenge = Challenge {
        answers: vec!["7".into()],
        work_salt: "sel".into(),
        work_bits: 12,
        png: vec![1, 2, 3],
        expires_at: now() + 60,
        ceremony: Some(r#"{"state":1}"#.into()),
    };
    stores
        .challenges
        .put_challenge("c1", &challenge)
        .await
        .unwrap();
    assert_eq!(
        stores
            .challenges
            .get_challenge("c1")
            .await
            .unwrap()
            .as_ref(),
        Some(&challenge)
    );
    let racing = tokio::join!(
        stores.challenges.take_challenge("c1"),
        stores.challenges.take_challenge("c1")
    );
    assert_eq!(
        [racing.0.unwrap(), racing.1.unwrap()]
            .iter()
            .filter(|c| c.is_some())
            .count(),
        1,
        "a challenge is answered once"
    );
    let pending = PendingLogin {
        request: AuthorizationRequest {
            client_id: ClientId::parse("c").unwrap(),
            redirect_uri: RedirectUri::parse("https://rp.example/cb").unwrap(),
            scope: Scopes::parse("openid").unwrap(),
            state: Some("s".into()),
            nonce: None,
            code_challenge: None,
            acr_values: vec![],
            max_age: None,
            response_mode: passerelle::store::ResponseMode::FormPost,
            claims: passerelle::store::ClaimsRequest {
                acr_required: vec!["urn:passerelle:acr:mfa".into()],
                ..Default::default()
            },
            dpop_jkt: None,
        },
        login_hint: None,
        browser: "b".into(),
    };
    stores
        .pending_logins
        .put_pending_login("p1", &pending, 60)
        .await
        .unwrap();
    assert_eq!(
        stores.pending_logins.get_pending_login("p1").await.unwrap(),
        Some(pending)
    );
    stores
        .pending_logins
        .remove_pending_login("p1")
        .await
        .unwrap();
    assert!(
        stores
            .pending_logins
            .get_pending_login("p1")
            .await
            .unwrap()
            .is_none()
    );
}

async fn revoking_an_account_ends_its_families_and_access_tokens(stores: &Stores) {
    let tokens = &stores.tokens;
    let f = family(now() + 3600);
    tokens
        .create_refresh_family(&f, TokenHash::of("rf1"))
        .await
        .unwrap();
    let record = AccessTokenRecord {
        client_id: ClientId::parse("c").unwrap(),
        account: Some(f.account.clone()),
        grant: Some(f.grant.clone()),
        scope: Scopes::default(),
        claims: vec![],
        jkt: None,
        issued_at: now(),
        expires_at: now() + 60,
    };
    tokens
        .insert_access_token(TokenHash::of("at1"), &record)
        .await
        .unwrap();
    let other = family(now() + 3600);
    tokens
        .create_refresh_family(&other, TokenHash::of("rf2"))
        .await
        .unwrap();
    assert_eq!(
        tokens.revoke_grants_of_account(&f.account).await.unwrap(),
        1
    );
    assert!(tokens.is_grant_revoked(&f.grant).await.unwrap());
    assert!(
        tokens
            .get_access_token(TokenHash::of("at1"))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        tokens
            .rotate_refresh(TokenHash::of("rf1"), TokenHash::of("rf3"), now(), 0)
            .await
            .unwrap(),
        RefreshRotation::Unknown
    );
    assert!(
        !tokens.is_grant_revoked(&other.grant).await.unwrap(),
        "others keep theirs"
    );
    assert_eq!(
        tokens.revoke_grants_of_account(&f.account).await.unwrap(),
        0
    );
}

async fn a_partner_comes_with_its_caf_in_one_read(stores: &Stores) {
    let (niort, ..) = partner_with_a_service(stores).await;
    let (partner, caf) = stores
        .organisations
        .partner_with_caf(&niort)
        .await
        .unwrap()
        .expect("the partner");
    assert_eq!(partner.name, "Mairie de Niort");
    let caf = caf.expect("its Caf");
    assert_eq!(
        (caf.code.as_str(), caf.name.as_str()),
        ("79", "Caf des Deux-Sèvres")
    );
    let unknown = PartnerId::parse("ville-inconnue").unwrap();
    assert!(
        stores
            .organisations
            .partner_with_caf(&unknown)
            .await
            .unwrap()
            .is_none()
    );
}

/// A Caf, a partner, a service with one role, and a convention opening it: what habilitations
/// need to exist (foreign keys).
async fn partner_with_a_service(stores: &Stores) -> (PartnerId, ConventionId, ClientId, RoleCode) {
    let caf = CafCode::parse("79").unwrap();
    stores
        .organisations
        .upsert_caf(&Caf {
            code: caf.clone(),
            name: "Caf des Deux-Sèvres".into(),
        })
        .await
        .unwrap();
    let partner = PartnerId::parse("ville-de-niort").unwrap();
    stores
        .organisations
        .upsert_partner(&Partner {
            id: partner.clone(),
            caf: caf.clone(),
            name: "Mairie de Niort".into(),
            siret: None,
            commune: None,
        })
        .await
        .unwrap();
    let client_id = ClientId::parse("cdap").unwrap();
    stores
        .services
        .upsert_service(&Service {
            client_id: client_id.clone(),
            name: "CDAP".into(),
            client_type: ClientType::Confidential,
            secret_sha256: Some([7; 32]),
            redirect_uris: vec![RedirectUri::parse("https://cdap.example/cb").unwrap()],
            post_logout_redirect_uris: vec![],
            grant_types: vec![GrantType::AuthorizationCode],
            pkce: PkcePolicy::Required,
            id_token_alg: SigningAlg::RS256,
            client_scopes: Scopes::parse("openid").unwrap(),
            roles: vec![ServiceRole {
                code: "T4".into(),
                label: "Consultation".into(),
            }],
            password_policy: None,
            onboarding: Onboarding::ActivationLink,
            mfa: MfaPolicy::Optional,
            backchannel_logout_uri: None,
            habilitation_scope: None,
            introspects: vec![],
            protocol: passerelle::store::ProtocolSettings {
                require_pushed_authorization_requests: true,
                refresh_grace_seconds: 10,
                jwks: None,
                jwks_uri: Some("https://cdap.example/jwks.json".into()),
                dpop_bound_access_tokens: true,
                idle_seconds: 900,
                sealed_secret: Some("c2VhbGVk".into()),
            },
        })
        .await
        .unwrap();
    let convention = ConventionId::parse("mcp-79-niort").unwrap();
    stores
        .habilitations
        .upsert_convention(&Convention {
            id: convention.clone(),
            number: "MCP-079".into(),
            kind: ConventionKind::MonComptePartenaire,
            caf,
            partner: partner.clone(),
            services: vec![client_id.clone()],
            starts_on: chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            terminated_on: None,
            mode: HabilitationMode::Delegated,
            contacts: vec![],
            roles: vec![],
        })
        .await
        .unwrap();
    (
        partner,
        convention,
        client_id,
        RoleCode::parse("T4").unwrap(),
    )
}

async fn a_second_factor_is_removed_with_its_recovery_codes(stores: &Stores) {
    let (partner, ..) = partner_with_a_service(stores).await;
    let account = person_of(stores, &partner, 1).await;
    let factors = &stores.factors;
    assert!(
        factors
            .begin_totp(&account, b"secret-secret-secret", now())
            .await
            .unwrap()
    );
    factors
        .confirm_totp(&account, 1, &[[1; 32], [2; 32]], now())
        .await
        .unwrap();
    assert_eq!(factors.remaining_recovery_codes(&account).await.unwrap(), 2);
    assert!(factors.remove_totp(&account).await.unwrap());
    assert!(factors.get_totp(&account).await.unwrap().is_none());
    assert_eq!(factors.remaining_recovery_codes(&account).await.unwrap(), 0);
    assert!(
        !factors
            .use_recovery_code(&account, &[1; 32], now())
            .await
            .unwrap()
    );
    assert!(
        !factors.remove_totp(&account).await.unwrap(),
        "nothing left to remove"
    );
    assert!(
        factors
            .begin_totp(&account, b"another-secret-here", now())
            .await
            .unwrap(),
        "a new enrolment can start"
    );
}

async fn passkeys_are_listed_found_used_and_removed_per_account(stores: &Stores) {
    let (partner, ..) = partner_with_a_service(stores).await;
    let (a, b) = (
        person_of(stores, &partner, 1).await,
        person_of(stores, &partner, 2).await,
    );
    let passkey = |id: &str, account: &AccountId, credential_id: &[u8], at: i64| StoredPasskey {
        id: id.into(),
        account: account.clone(),
        credential_id: credential_id.to_vec(),
        name: format!("Clé {id}"),
        credential: format!(r#"{{"n":"{id}"}}"#),
        created_at: at,
        last_used_at: None,
    };
    let keys = &stores.passkeys;
    keys.add_passkey(&passkey("k2", &a, b"cred-2", 20))
        .await
        .unwrap();
    keys.add_passkey(&passkey("k1", &a, b"cred-1", 10))
        .await
        .unwrap();
    keys.add_passkey(&passkey("k3", &b, b"cred-3", 30))
        .await
        .unwrap();
    assert!(
        matches!(
            keys.add_passkey(&passkey("k4", &b, b"cred-1", 40)).await,
            Err(StoreError::Conflict(_))
        ),
        "a credential id belongs to one passkey"
    );
    let ids = |list: Vec<StoredPasskey>| list.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(ids(keys.passkeys_of(&a).await.unwrap()), ["k1", "k2"]);
    let found = keys.find_passkey(b"cred-3").await.unwrap().unwrap();
    assert_eq!(found, passkey("k3", &b, b"cred-3", 30));
    assert!(keys.find_passkey(b"cred-9").await.unwrap().is_none());
    keys.use_passkey("k3", r#"{"n":"k3","counter":2}"#, 50)
        .await
        .unwrap();
    let used = keys.find_passkey(b"cred-3").await.unwrap().unwrap();
    assert_eq!(
        (used.credential.as_str(), used.last_used_at),
        (r#"{"n":"k3","counter":2}"#, Some(50))
    );
    assert!(
        !keys.remove_passkey(&b, "k1").await.unwrap(),
        "another's passkey"
    );
    assert!(keys.remove_passkey(&a, "k1").await.unwrap());
    assert_eq!(ids(keys.passkeys_of(&a).await.unwrap()), ["k2"]);
    assert_eq!(keys.remove_passkeys_of(&b).await.unwrap(), 1);
    assert!(keys.passkeys_of(&b).await.unwrap().is_empty());
}

/// The raw values `store::sealed` seals and rewraps: listed by what they do not begin with,
/// replaced only if unchanged.
async fn sealed_values_are_listed_by_prefix_and_replaced_if_unchanged(
    durable: &dyn SealedValueStore,
    secrets: &dyn SecretStore,
) {
    secrets.server_secret("a", b"clear-a").await.unwrap();
    secrets.server_secret("b", b"PREFIX-b").await.unwrap();
    let prefix = b"PREFIX-";
    let listed = durable.values_not_beginning_with(prefix, 10).await.unwrap();
    let a = SealedSlot::ServerSecret("a".into());
    assert_eq!(listed, vec![(a.clone(), b"clear-a".to_vec())]);
    assert!(
        !durable
            .replace_value(&a, b"changed", b"PREFIX-a")
            .await
            .unwrap()
    );
    assert!(
        durable
            .replace_value(&a, b"clear-a", b"PREFIX-a")
            .await
            .unwrap()
    );
    assert!(
        durable
            .values_not_beginning_with(prefix, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(secrets.server_secret("a", b"x").await.unwrap(), b"PREFIX-a");
    durable.forget_overwritten().await.unwrap();
}

#[tokio::test]
async fn sealed_values_on_sqlite_and_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sqlite::SqliteStore::open(&dir.path().join("t.db"), 2)
        .await
        .unwrap();
    sqlite.migrate().await.unwrap();
    sealed_values_are_listed_by_prefix_and_replaced_if_unchanged(sqlite.as_ref(), sqlite.as_ref())
        .await;
    let pg = crate::servers::Postgres::start();
    let pg_store = postgres::PgStore::open(&pg.database("sealed"), 2, &Default::default())
        .await
        .unwrap();
    pg_store.migrate().await.unwrap();
    sealed_values_are_listed_by_prefix_and_replaced_if_unchanged(
        pg_store.as_ref(),
        pg_store.as_ref(),
    )
    .await;
}

async fn person_of(stores: &Stores, partner: &PartnerId, n: usize) -> AccountId {
    let profile = AccountProfile {
        email: Email::parse(&format!("agent{n}@niort.example")).unwrap(),
        civility: None,
        given_name: "Agent".into(),
        family_name: format!("N{n}"),
        function: None,
        partner: Some(partner.clone()),
        caf: None,
        services: vec![],
        admin_roles: vec![],
    };
    stores.accounts.upsert_account(&profile).await.unwrap().0
}

fn habilitation_for(
    partner: &PartnerId,
    convention: &ConventionId,
    client_id: &ClientId,
    role: &RoleCode,
    holder: Holder,
) -> Habilitation {
    Habilitation {
        id: HabilitationId::generate(),
        partner: partner.clone(),
        convention: convention.clone(),
        client_id: client_id.clone(),
        role: role.clone(),
        scope: vec![],
        holder,
        valid_from: now() - 60,
        valid_until: None,
        status: HabilitationStatus::Active,
        granted_by: "test".into(),
        granted_at: now(),
        status_changed_at: now(),
        status_changed_by: "test".into(),
        status_reason: None,
        closed_at: None,
        reviewed_at: None,
    }
}

/// The quota holds inside the store under concurrency (the SQLite transaction, the PostgreSQL
/// advisory lock): sixteen grants at once with room for three leave three holders, groups
/// count their members, and a closed habilitation frees its place.
async fn quotas_hold_under_concurrent_grants_and_group_memberships(stores: &Stores) {
    let (partner, convention, client_id, role) = partner_with_a_service(stores).await;
    let quotas: QuotaTable = [((client_id.clone(), role.clone()), 3)]
        .into_iter()
        .collect();
    let mut people = Vec::new();
    for n in 0..18 {
        people.push(person_of(stores, &partner, n).await);
    }
    let attempts: Vec<_> = people[..16]
        .iter()
        .map(|who| {
            let store = stores.habilitations.clone();
            let h = habilitation_for(
                &partner,
                &convention,
                &client_id,
                &role,
                Holder::Account(who.clone()),
            );
            let quotas = quotas.clone();
            tokio::spawn(async move { store.insert_habilitation(&h, &quotas).await.unwrap() })
        })
        .collect();
    let mut granted = Vec::new();
    for a in attempts {
        match a.await.unwrap() {
            Ok(()) => granted.push(()),
            Err(GrantRefusal::QuotaReached { maximum, .. }) => assert_eq!(maximum, 3),
            Err(other) => panic!("{other:?}"),
        }
    }
    assert_eq!(granted.len(), 3);
    let holders = |stores: &Stores| {
        let (partner, client_id, role) = (partner.clone(), client_id.clone(), role.clone());
        let store = stores.habilitations.clone();
        async move {
            store
                .count_holders(&partner, &client_id, &role)
                .await
                .unwrap()
        }
    };
    assert_eq!(holders(stores).await, 3);

    // The same holder twice is refused whatever the quota.
    let open = stores
        .habilitations
        .habilitations_of_partner(&partner)
        .await
        .unwrap();
    let again = habilitation_for(
        &partner,
        &convention,
        &client_id,
        &role,
        open[0].holder.clone(),
    );
    assert_eq!(
        stores
            .habilitations
            .insert_habilitation(&again, &QuotaTable::new())
            .await
            .unwrap(),
        Err(GrantRefusal::AlreadyHeld)
    );

    // Closing one frees a place, which a group member then takes; the next member is refused.
    assert!(
        stores
            .habilitations
            .set_habilitation_status(
                &open[0].id,
                HabilitationStatus::Closed,
                "test",
                Some("départ"),
                now()
            )
            .await
            .unwrap()
    );
    assert!(
        !stores
            .habilitations
            .set_habilitation_status(&open[0].id, HabilitationStatus::Active, "test", None, now())
            .await
            .unwrap(),
        "a closed habilitation stays closed"
    );
    let group = Group {
        id: GroupId::generate(),
        partner: partner.clone(),
        name: "Instructeurs".into(),
        created_at: now(),
        closed_at: None,
    };
    stores.habilitations.insert_group(&group).await.unwrap();
    let by_group = habilitation_for(
        &partner,
        &convention,
        &client_id,
        &role,
        Holder::Group(group.id.clone()),
    );
    stores
        .habilitations
        .insert_habilitation(&by_group, &quotas)
        .await
        .unwrap()
        .unwrap();
    let joins: Vec<_> = people[16..18]
        .iter()
        .map(|who| {
            let store = stores.habilitations.clone();
            let (group, who, quotas) = (group.id.clone(), who.clone(), quotas.clone());
            tokio::spawn(async move {
                store
                    .add_group_member(&group, &who, &quotas, now())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut joined = 0;
    for j in joins {
        if j.await.unwrap().is_ok() {
            joined += 1;
        }
    }
    assert_eq!(
        joined, 1,
        "one place was left for the two members joining at once"
    );
    assert_eq!(holders(stores).await, 3);
    assert_eq!(
        stores
            .habilitations
            .group_members(&group.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Credential links: used once even under concurrency, a newer link of the same purpose
/// revokes the older, expired links refuse, and a new password revokes pending activation and
/// reset links (unlock links stay).
async fn credential_links_are_used_once_and_die_with_the_password(stores: &Stores) {
    let (partner, ..) = partner_with_a_service(stores).await;
    let account = person_of(stores, &partner, 1).await;
    let link = |purpose, expires_at| CredentialLink {
        account: account.clone(),
        purpose,
        created_at: now(),
        expires_at,
        used_at: None,
        revoked_at: None,
    };
    let links = &stores.links;
    links
        .insert_link(
            TokenHash::of("reset-1"),
            &link(LinkPurpose::Reset, now() + 3600),
        )
        .await
        .unwrap();
    let attempts: Vec<_> = (0..8)
        .map(|_| {
            let links = stores.links.clone();
            tokio::spawn(async move {
                links
                    .use_link(TokenHash::of("reset-1"), LinkPurpose::Reset, now())
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut used = 0;
    for a in attempts {
        match a.await.unwrap() {
            Ok(_) => used += 1,
            Err(refusal) => assert_eq!(refusal, LinkRefusal::Spent),
        }
    }
    assert_eq!(used, 1);
    assert_eq!(
        links
            .use_link(TokenHash::of("reset-1"), LinkPurpose::Activation, now())
            .await
            .unwrap()
            .unwrap_err(),
        LinkRefusal::Unknown,
        "a link serves its own purpose only"
    );

    links
        .insert_link(
            TokenHash::of("reset-2"),
            &link(LinkPurpose::Reset, now() + 3600),
        )
        .await
        .unwrap();
    links
        .insert_link(
            TokenHash::of("reset-3"),
            &link(LinkPurpose::Reset, now() + 3600),
        )
        .await
        .unwrap();
    assert_eq!(
        links
            .use_link(TokenHash::of("reset-2"), LinkPurpose::Reset, now())
            .await
            .unwrap()
            .unwrap_err(),
        LinkRefusal::Spent,
        "a newer link replaced it"
    );
    links
        .insert_link(
            TokenHash::of("old"),
            &link(LinkPurpose::Activation, now() - 1),
        )
        .await
        .unwrap();
    assert_eq!(
        links
            .use_link(TokenHash::of("old"), LinkPurpose::Activation, now())
            .await
            .unwrap()
            .unwrap_err(),
        LinkRefusal::Expired
    );

    links
        .insert_link(
            TokenHash::of("activation"),
            &link(LinkPurpose::Activation, now() + 3600),
        )
        .await
        .unwrap();
    links
        .insert_link(
            TokenHash::of("unlock"),
            &link(LinkPurpose::Unlock, now() + 3600),
        )
        .await
        .unwrap();
    stores
        .accounts
        .set_password_hash(&account, "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA")
        .await
        .unwrap();
    for (token, purpose) in [
        ("reset-3", LinkPurpose::Reset),
        ("activation", LinkPurpose::Activation),
    ] {
        assert_eq!(
            links
                .use_link(TokenHash::of(token), purpose, now())
                .await
                .unwrap()
                .unwrap_err(),
            LinkRefusal::Spent,
            "{token} died with the password"
        );
    }
    assert!(
        links
            .use_link(TokenHash::of("unlock"), LinkPurpose::Unlock, now())
            .await
            .unwrap()
            .is_ok()
    );
}

/// Six months after their last habilitation ended, people's account data is erased, directly
/// held or through a group; the closed habilitations keep who held them, as they were when
/// each closed, until their own retention deletes them; the erasure's attestation is kept.
async fn erased_accounts_leave_their_names_with_the_closed_habilitations(stores: &Stores) {
    let (partner, convention, client_id, role) = partner_with_a_service(stores).await;
    let direct = person_of(stores, &partner, 1).await;
    let member = person_of(stores, &partner, 2).await;
    let recent = person_of(stores, &partner, 3).await;
    let group = Group {
        id: GroupId::generate(),
        partner: partner.clone(),
        name: "Instructeurs".into(),
        created_at: now(),
        closed_at: None,
    };
    let h = &stores.habilitations;
    h.insert_group(&group).await.unwrap();
    h.add_group_member(&group.id, &member, &QuotaTable::new(), now())
        .await
        .unwrap()
        .unwrap();
    let long_ago = now() - 200 * 86_400;
    let mut closed = Vec::new();
    for (holder, at) in [
        (Holder::Account(direct.clone()), long_ago),
        (Holder::Group(group.id.clone()), long_ago),
        (Holder::Account(recent.clone()), now() - 86_400),
    ] {
        let hab = habilitation_for(&partner, &convention, &client_id, &role, holder);
        h.insert_habilitation(&hab, &QuotaTable::new())
            .await
            .unwrap()
            .unwrap();
        assert!(
            h.set_habilitation_status(&hab.id, HabilitationStatus::Closed, "test", None, at)
                .await
                .unwrap()
        );
        closed.push(hab.id);
    }
    let holders = h.closed_holders_of_partner(&partner).await.unwrap();
    assert_eq!(holders.len(), 3, "{holders:?}");
    let of = |id: &AccountId| holders.iter().find(|r| &r.account == id).unwrap().clone();
    assert_eq!(of(&direct).habilitation, closed[0]);
    assert_eq!(
        of(&member).habilitation,
        closed[1],
        "a group's member is recorded"
    );
    assert_eq!(of(&member).family_name, "N2");
    assert_eq!(of(&direct).recorded_at, long_ago);

    let cutoff = now() - 180 * 86_400;
    let mut erased = stores
        .accounts
        .erase_ended_accounts(cutoff, now())
        .await
        .unwrap();
    erased.sort();
    let mut expected = vec![direct.clone(), member.clone()];
    expected.sort();
    assert_eq!(erased, expected, "not the one whose access ended yesterday");
    let gone = stores.accounts.get_account(&member).await.unwrap().unwrap();
    assert_eq!(gone.profile.family_name, "");
    assert!(h.groups_of_account(&member).await.unwrap().is_empty());
    let kept = stores.accounts.accounts_of_partner(&partner).await.unwrap();
    assert_eq!(kept.len(), 1, "erased accounts are no longer listed");
    assert_eq!(
        h.closed_holders_of_partner(&partner).await.unwrap(),
        holders,
        "the names stay with the habilitations"
    );
    assert!(
        stores
            .accounts
            .erase_ended_accounts(cutoff, now())
            .await
            .unwrap()
            .is_empty()
    );

    let attestation = ErasureAttestation {
        id: "e1".into(),
        erased_at: now(),
        ended_before: cutoff,
        accounts: expected,
        signature: "jws".into(),
    };
    stores
        .accounts
        .insert_erasure_attestation(&attestation)
        .await
        .unwrap();
    assert_eq!(
        stores.accounts.erasure_attestations().await.unwrap(),
        vec![attestation]
    );

    // The habilitations' own retention takes their holders with them.
    assert_eq!(
        h.delete_closed_habilitations(ConventionKind::MonComptePartenaire, now())
            .await
            .unwrap(),
        3
    );
    assert!(
        h.closed_holders_of_partner(&partner)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Every check, by name.
macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod embedded_stores {
            $(
                #[tokio::test]
                async fn $check() {
                    let (stores, _dir) = super::embedded().await;
                    super::$check(&stores).await;
                }
            )*
        }

        /// One pair of servers for every check; each check gets an empty database and its own
        /// key prefix, and uses them as the application's role (a member of passerelle_app),
        /// the migrations having run as the owner.
        #[tokio::test]
        async fn postgres_and_redis_pass_every_check() {
            let redis = crate::servers::Redis::start();
            let pg = crate::servers::Postgres::start();
            pg.psql("postgres", "CREATE ROLE app LOGIN PASSWORD 'app'");
            $(
                let stores = shared(&redis, &pg, stringify!($check)).await;
                $check(&stores).await;
            )*
        }
    };
}

conformance!(
    a_code_is_consumed_once_even_under_concurrency_and_replays_are_recognised,
    a_partner_comes_with_its_caf_in_one_read,
    refresh_rotation_is_atomic_and_reuse_revokes_the_family,
    a_refresh_token_left_unused_past_its_familys_idle_limit_is_unknown,
    revoked_grants_and_expired_tokens_disappear,
    sessions_record_their_grants_and_end_once,
    durable_records_round_trip_and_server_secrets_are_set_once,
    traces_chain_per_stream_skip_duplicates_and_search_newest_first,
    a_second_factor_upgrades_a_live_session_and_account_lists_skip_ended_ones,
    failures_are_counted_once_each_even_under_concurrency,
    challenges_and_pending_logins_are_used_once,
    revoking_an_account_ends_its_families_and_access_tokens,
    quotas_hold_under_concurrent_grants_and_group_memberships,
    credential_links_are_used_once_and_die_with_the_password,
    a_second_factor_is_removed_with_its_recovery_codes,
    passkeys_are_listed_found_used_and_removed_per_account,
    directory_searches_filter_sort_and_page_within_reach,
    requests_are_decided_once_and_queued_by_partner,
    erased_accounts_leave_their_names_with_the_closed_habilitations,
    a_cafs_reach_includes_its_own_staff,
);

/// The stores of a replica on PostgreSQL and Redis, in a new database named after the check.
pub async fn shared(
    redis: &crate::servers::Redis,
    pg: &crate::servers::Postgres,
    name: &str,
) -> Stores {
    let db = name.chars().take(60).collect::<String>();
    let owner = pg.database(&db);
    postgres::PgStore::open(&owner, 1, &Default::default())
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    let app = format!("postgres://app:app@127.0.0.1:{}/{db}", pg.port);
    pg.psql("postgres", "GRANT passerelle_app TO app");
    let durable = postgres::PgStore::open(&app, 4, &Default::default())
        .await
        .unwrap();
    let traces = postgres::traces::PgTraceStore::open(&app, Some(&owner), 4, &Default::default())
        .await
        .unwrap();
    let ephemeral = redis::RedisStore::connect(&redis.url(), &format!("{name}:"))
        .await
        .unwrap();
    Stores::assemble(durable, ephemeral, traces)
}

/// The trace tables on PostgreSQL: the application's role may insert and select, nothing
/// else; the owner itself cannot change a row (triggers); partitions come and go only through
/// the owner's functions.
#[tokio::test]
async fn on_postgres_the_application_may_only_insert_and_select_traces() {
    let redis = crate::servers::Redis::start();
    let pg = crate::servers::Postgres::start();
    pg.psql("postgres", "CREATE ROLE app LOGIN PASSWORD 'app'");
    let stores = shared(&redis, &pg, "grants").await;
    stores
        .traces
        .append(&[trace("s", "1", "x", 10)])
        .await
        .unwrap();
    let app = sqlx::PgPool::connect(&format!(
        "postgres://app:app@127.0.0.1:{}/grants?options=-csearch_path%3Dpasserelle_traces",
        pg.port
    ))
    .await
    .unwrap();
    let month: String = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'traces'::regclass ORDER BY 1 LIMIT 1",
    )
    .fetch_one(&app)
    .await
    .unwrap();
    for sql in [
        "UPDATE traces SET action = 'x'".to_string(),
        "DELETE FROM traces".into(),
        "TRUNCATE traces".into(),
        format!("DROP TABLE {month}"),
        format!("SELECT * FROM {month}"),
        "UPDATE streams SET origin_hash = '\\x00'".into(),
        "DELETE FROM seals".into(),
    ] {
        let refused = sqlx::query(&sql)
            .execute(&app)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("permission denied") || refused.contains("must be owner"),
            "{sql}: {refused}"
        );
    }
    let owner_tries = pg.psql_err(
        "grants",
        "SET search_path = passerelle_traces; UPDATE traces SET action = 'x'",
    );
    assert!(owner_tries.contains("are written once"), "{owner_tries}");
    assert_eq!(
        pg.psql("grants", "SELECT count(*) FROM passerelle_traces.traces")
            .trim(),
        "1"
    );
}

/// Searches run in the database: words match folded names (accents and case ignored), the
/// reach bounds every answer, filters combine, and keyset pages in either order give every
/// row once.
async fn directory_searches_filter_sort_and_page_within_reach(stores: &Stores) {
    use passerelle::store::directory::*;
    let (niort, convention, client_id, role) = partner_with_a_service(stores).await;
    stores
        .organisations
        .upsert_partner(&Partner {
            id: niort.clone(),
            caf: CafCode::parse("79").unwrap(),
            name: "Mairie de Niort".into(),
            siret: Some(Siret::parse("21790191700013").unwrap()),
            commune: Some("Niort".into()),
        })
        .await
        .unwrap();
    stores
        .organisations
        .upsert_caf(&Caf {
            code: CafCode::parse("13").unwrap(),
            name: "Caf des Bouches-du-Rhône".into(),
        })
        .await
        .unwrap();
    let mouries = PartnerId::parse("commune-de-mouries").unwrap();
    stores
        .organisations
        .upsert_partner(&Partner {
            id: mouries.clone(),
            caf: CafCode::parse("13").unwrap(),
            name: "Commune de Mouriès".into(),
            siret: None,
            commune: Some("Mouriès".into()),
        })
        .await
        .unwrap();
    let mut people = Vec::new();
    for n in 0..7 {
        people.push(person_of(stores, &niort, n).await);
    }
    let helene = stores
        .accounts
        .upsert_account(&AccountProfile {
            email: Email::parse("helene.faure@niort.example").unwrap(),
            civility: Some("Mme".into()),
            given_name: "Hélène".into(),
            family_name: "Faure".into(),
            function: Some("Responsable sécurité".into()),
            partner: Some(niort.clone()),
            caf: None,
            services: vec![],
            admin_roles: vec![],
        })
        .await
        .unwrap()
        .0;
    let elsewhere = person_of(stores, &mouries, 99).await;
    let all = Reach {
        everything: true,
        ..Reach::default()
    };
    let caf79 = Reach {
        caf: Some(CafCode::parse("79").unwrap()),
        ..Reach::default()
    };
    let window = |text: Option<&str>, descending: bool, after: Option<Cursor>, limit: u32| {
        Window::new(text, descending, after, limit)
    };

    // Partners: by commune without its accent, by SIRET digits, within the reach only.
    let found = |reach: Reach, text: &'static str| {
        let directory = stores.directory.clone();
        async move {
            directory
                .search_partners(
                    &reach,
                    &PartnerSearch {
                        window: Window::new(Some(text), false, None, 10),
                        caf: None,
                        sort: PartnerSort::Name,
                    },
                )
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|p| p.id.to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(found(all.clone(), "MOURIES").await, ["commune-de-mouries"]);
    assert_eq!(found(all.clone(), "9019170").await, ["ville-de-niort"]);
    assert!(found(caf79.clone(), "mouries").await.is_empty());
    assert!(
        stores
            .directory
            .search_partners(
                &Reach::default(),
                &PartnerSearch {
                    window: window(None, false, None, 10),
                    caf: None,
                    sort: PartnerSort::Name,
                }
            )
            .await
            .unwrap()
            .items
            .is_empty(),
        "an empty reach sees nothing"
    );

    // People: "helene" finds Hélène; a partner's reach stops at its people.
    let person_search = |text: Option<&str>, state: Option<PersonState>| PersonSearch {
        window: window(text, false, None, 50),
        partner: None,
        state,
        sort: PersonSort::Name,
    };
    let hits = stores
        .directory
        .search_people(&caf79, &person_search(Some("hélene faure"), None))
        .await
        .unwrap();
    assert_eq!(hits.items.len(), 1);
    assert_eq!(hits.items[0].account.id, helene);
    assert_eq!(hits.items[0].partner_name, "Mairie de Niort");
    let niort_only = Reach {
        partner: Some(niort.clone()),
        ..Reach::default()
    };
    let everyone = stores
        .directory
        .search_people(&niort_only, &person_search(None, None))
        .await
        .unwrap();
    assert_eq!(everyone.items.len(), 8);
    assert!(everyone.items.iter().all(|h| h.account.id != elsewhere));

    // Keyset pages of three, ascending then descending: every person once, in order.
    for descending in [false, true] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = stores
                .directory
                .search_people(
                    &niort_only,
                    &PersonSearch {
                        window: window(None, descending, after.clone(), 3),
                        partner: None,
                        state: None,
                        sort: PersonSort::Email,
                    },
                )
                .await
                .unwrap();
            assert!(page.items.len() <= 3);
            seen.extend(
                page.items
                    .iter()
                    .map(|h| h.account.profile.email.to_string()),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        let mut expected = seen.clone();
        expected.sort();
        if descending {
            expected.reverse();
        }
        assert_eq!(seen, expected);
        assert_eq!(seen.len(), 8, "every person once");
    }

    // Suspended and closed accounts are filtered apart.
    stores
        .accounts
        .set_status(&people[0], AccountStatus::Suspended, Some("enquête"))
        .await
        .unwrap();
    let suspended = stores
        .directory
        .search_people(
            &niort_only,
            &person_search(None, Some(PersonState::Suspended)),
        )
        .await
        .unwrap();
    assert_eq!(suspended.items.len(), 1);
    assert_eq!(suspended.items[0].account.id, people[0]);

    // Habilitations: the suspended holder's is marked, closed ones are apart, and an ending
    // window finds the one that expires.
    let mut expiring = habilitation_for(
        &niort,
        &convention,
        &client_id,
        &role,
        Holder::Account(people[1].clone()),
    );
    expiring.valid_until = Some(now() + 10 * 86_400);
    for h in [
        habilitation_for(
            &niort,
            &convention,
            &client_id,
            &role,
            Holder::Account(people[0].clone()),
        ),
        expiring.clone(),
        habilitation_for(
            &niort,
            &convention,
            &client_id,
            &role,
            Holder::Account(helene.clone()),
        ),
    ] {
        stores
            .habilitations
            .insert_habilitation(&h, &QuotaTable::new())
            .await
            .unwrap()
            .unwrap();
    }
    let of_helene = stores
        .habilitations
        .habilitations_of_account(&helene)
        .await
        .unwrap();
    stores
        .habilitations
        .set_habilitation_status(
            &of_helene[0].id,
            HabilitationStatus::Closed,
            "test",
            Some("départ"),
            now(),
        )
        .await
        .unwrap();
    let habilitations = |status: Option<HabilitationStatus>, ending: Option<(i64, i64)>| {
        let directory = stores.directory.clone();
        let reach = caf79.clone();
        async move {
            directory
                .search_habilitations(
                    &reach,
                    &HabilitationSearch {
                        window: Window::new(None, false, None, 50),
                        partner: None,
                        client_id: None,
                        role: None,
                        status,
                        ending,
                        sort: HabilitationSort::Holder,
                    },
                )
                .await
                .unwrap()
                .items
        }
    };
    let current = habilitations(None, None).await;
    assert_eq!(current.len(), 2, "closed habilitations are listed apart");
    let of_suspended = current
        .iter()
        .find(|h| h.habilitation.holder == Holder::Account(people[0].clone()))
        .unwrap();
    assert!(of_suspended.holder_blocked);
    assert_eq!(of_suspended.holder_name, "N0 Agent");
    assert!(current.iter().any(|h| !h.holder_blocked));
    let closed = habilitations(Some(HabilitationStatus::Closed), None).await;
    assert_eq!(closed.len(), 1);
    assert_eq!(
        closed[0].holder_email.as_deref(),
        Some("helene.faure@niort.example")
    );
    let soon = habilitations(None, Some((now(), now() + 30 * 86_400))).await;
    assert_eq!(soon.len(), 1);
    assert_eq!(soon[0].habilitation.id, expiring.id);
}

/// A request is decided once even when two officers decide at once; an acceptance whose change
/// failed reopens it; the queue lists pending ones of the given partners only; retention
/// deletes decided ones.
async fn requests_are_decided_once_and_queued_by_partner(stores: &Stores) {
    use passerelle::store::request::*;
    let (partner, ..) = partner_with_a_service(stores).await;
    let requester = person_of(stores, &partner, 1).await;
    let new = |n: i64| Request {
        id: RequestId::generate(),
        partner: partner.clone(),
        change: RequestedChange::CloseAccount {
            account: requester.clone(),
        },
        reason: Some("départ".into()),
        requested_by: requester.to_string(),
        requested_at: 1_000 + n,
        status: RequestStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
    };
    let (first, second) = (new(1), new(2));
    for r in [&second, &first] {
        stores.habilitations.insert_request(r).await.unwrap();
    }
    assert_eq!(
        stores
            .habilitations
            .get_request(&first.id)
            .await
            .unwrap()
            .as_ref(),
        Some(&first)
    );
    let queue = stores
        .habilitations
        .pending_requests(std::slice::from_ref(&partner))
        .await
        .unwrap();
    assert_eq!(
        queue.iter().map(|r| &r.id).collect::<Vec<_>>(),
        [&first.id, &second.id],
        "oldest first"
    );
    assert!(
        stores
            .habilitations
            .pending_requests(&[PartnerId::parse("elsewhere").unwrap()])
            .await
            .unwrap()
            .is_empty()
    );
    let decide = |status: RequestStatus, by: &'static str| {
        let store = stores.habilitations.clone();
        let id = first.id.clone();
        tokio::spawn(async move {
            store
                .decide_request(
                    &id,
                    &Decision {
                        status,
                        by,
                        at: 2_000,
                        reason: Some("vu"),
                    },
                )
                .await
                .unwrap()
        })
    };
    let (a, b) = (
        decide(RequestStatus::Approved, "officer-a"),
        decide(RequestStatus::Refused, "officer-b"),
    );
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert!(a ^ b, "exactly one decision lands");
    let decided = stores
        .habilitations
        .get_request(&first.id)
        .await
        .unwrap()
        .unwrap();
    assert_ne!(decided.status, RequestStatus::Pending);
    assert_eq!(decided.decided_at, Some(2_000));
    if decided.status == RequestStatus::Approved {
        stores
            .habilitations
            .reopen_request(&first.id)
            .await
            .unwrap();
        let reopened = stores
            .habilitations
            .get_request(&first.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reopened.status, RequestStatus::Pending);
        assert_eq!(reopened.decided_by, None);
        assert!(decide(RequestStatus::Refused, "officer-b").await.unwrap());
    }
    assert_eq!(
        stores
            .habilitations
            .requests_of_partner(&partner, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        stores
            .habilitations
            .delete_decided_requests_before(3_000)
            .await
            .unwrap(),
        1,
        "the pending one stays"
    );
}

/// The tables and columns of a migrated SQLite file, but SQLite's and sqlx's own.
async fn sqlite_columns(file: &std::path::Path) -> std::collections::BTreeSet<(String, String)> {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display()))
        .await
        .unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p \
         WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// The tables and columns of a PostgreSQL schema, partitions and sqlx's table left out.
async fn postgres_columns(url: &str, schema: &str) -> std::collections::BTreeSet<(String, String)> {
    let pool = sqlx::PgPool::connect(url).await.unwrap();
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.table_name::text, c.column_name::text FROM information_schema.columns c \
         JOIN pg_namespace n ON n.nspname = c.table_schema \
         JOIN pg_class k ON k.relname = c.table_name AND k.relnamespace = n.oid \
         WHERE c.table_schema = $1 AND k.relkind IN ('r', 'p') AND NOT k.relispartition \
         AND c.table_name <> '_sqlx_migrations'",
    )
    .bind(schema)
    .fetch_all(&pool)
    .await
    .unwrap();
    rows.into_iter().collect()
}

/// What one dialect keeps and the other does not, on purpose (the header of
/// `migrations/postgres_traces/0001_traces.sql` says why): PostgreSQL partitions the traces by
/// month of storage (`stored_us`) and lets only the owner delete them, where SQLite keeps a
/// gate its triggers read; PostgreSQL reads a stream's head from its last trace under the
/// stream's lock, where SQLite keeps it beside the stream.
const DIALECT_ONLY: &[(&str, &str, &str)] = &[
    ("postgres", "traces", "stored_us"),
    ("sqlite", "retention_gate", "open"),
    ("sqlite", "streams", "head_hash"),
];

/// The two dialects' migrations are written twice (their numbering differs: SQLite's history is
/// longer); what they build must be the same tables with the same columns, for the durable
/// store and for the traces, so that a migration added to one and forgotten in the other fails
/// here.
#[tokio::test]
async fn every_sqlite_migration_has_its_postgresql_twin() {
    let dir = tempfile::tempdir().unwrap();
    let durable = sqlite::SqliteStore::open(&dir.path().join("t.db"), 1)
        .await
        .unwrap();
    durable.migrate().await.unwrap();
    sqlite::traces::SqliteTraceStore::open(&dir.path().join("traces.db"))
        .await
        .unwrap();
    let pg = crate::servers::Postgres::start();
    let url = pg.database("twins");
    postgres::PgStore::open(&url, 1, &Default::default())
        .await
        .unwrap()
        .migrate()
        .await
        .unwrap();
    postgres::traces::PgTraceStore::open(&url, None, 1, &Default::default())
        .await
        .unwrap();
    for (what, sqlite_file, schema) in [
        ("durable store", "t.db", "public"),
        ("trace store", "traces.db", postgres::traces::SCHEMA),
    ] {
        let sqlite = sqlite_columns(&dir.path().join(sqlite_file)).await;
        // SQLite gives every table an implicit rowid; PostgreSQL tables that rely on it spell
        // it out.
        let postgres: std::collections::BTreeSet<_> = postgres_columns(&url, schema)
            .await
            .into_iter()
            .filter(|(_, column)| column != "rowid")
            .collect();
        assert!(!sqlite.is_empty() && !postgres.is_empty());
        let differs = |dialect: &str, (table, column): &&(String, String)| {
            !DIALECT_ONLY.contains(&(dialect, table.as_str(), column.as_str()))
        };
        let only_sqlite: Vec<_> = sqlite
            .difference(&postgres)
            .filter(|c| differs("sqlite", c))
            .collect();
        let only_postgres: Vec<_> = postgres
            .difference(&sqlite)
            .filter(|c| differs("postgres", c))
            .collect();
        assert!(
            only_sqlite.is_empty() && only_postgres.is_empty(),
            "{what}: columns only on SQLite {only_sqlite:?}, only on PostgreSQL {only_postgres:?}"
        );
    }
}
