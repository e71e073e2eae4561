//! The login session: a server-side record keyed by a public `sid`, and a cookie
//! `sid.secret` whose secret half is stored only as a digest. A session ends at its absolute
//! lifetime, or earlier when left idle (`sessions.idle_timeout_seconds`): its last activity is
//! recorded at most once a minute, by its pages and by its relying applications' refreshes.

pub mod browser;
pub mod device;

use crate::crypto::{TokenHash, constant_time_eq, random_token, sha256};
use crate::state::AppState;
use crate::store::{Account, Session, StoreResult};
use crate::types::SessionId;
use axum_extra::extract::CookieJar;
use axum_extra::extract::cookie::Cookie;
use browser::cookie;

pub const SESSION_COOKIE: &str = "passerelle_session";
/// Activity is written to the store at most this often, so that a page costs no write.
const TOUCH_EVERY: i64 = 60;

/// Records activity on the session `sid` at `now`, unless recorded less than a minute ago. A
/// store that cannot record it is logged, not shown to the person: the session stays usable and
/// at worst ends a little early.
async fn touch(state: &AppState, sid: &SessionId, last_seen: i64, now: i64) {
    if now - last_seen >= TOUCH_EVERY
        && let Err(e) = state.stores.sessions.touch_session(sid, now).await
    {
        tracing::warn!(error = %e, sid = %sid, "session activity not recorded");
    }
}

/// The session the request's cookie designates, if it is valid, live, and authenticates the
/// person (password and, when asked, second factor).
pub async fn current(state: &AppState, jar: &CookieJar) -> StoreResult<Option<Session>> {
    Ok(current_any(state, jar)
        .await?
        .filter(|s| !s.awaiting_second_factor))
}

/// The session of the cookie, including one still waiting for its second factor.
pub async fn current_any(state: &AppState, jar: &CookieJar) -> StoreResult<Option<Session>> {
    let Some(value) = jar.get(SESSION_COOKIE).map(|c| c.value().to_owned()) else {
        return Ok(None);
    };
    let Some((sid, secret)) = value.split_once('.') else {
        return Ok(None);
    };
    let Ok(sid) = SessionId::parse(sid) else {
        return Ok(None);
    };
    let Some(session) = state.stores.sessions.get_session(&sid).await? else {
        return Ok(None);
    };
    if !constant_time_eq(&sha256(secret.as_bytes()), &session.secret_sha256) {
        return Ok(None);
    }
    let now = state.clock.now();
    if now >= session.ends_at(state.settings.session_idle) {
        end_as(state, &session.sid, "auth.session_idle").await?;
        return Ok(None);
    }
    // The session is answered as it was read (its previous activity), so that a service with
    // a shorter idle limit can still judge it.
    touch(state, &session.sid, session.last_active(), now).await;
    Ok(Some(session))
}

/// Opens a new session for `account` and returns the jar carrying its cookie.
pub async fn start(
    state: &AppState,
    jar: CookieJar,
    account: &Account,
    acr: &str,
    amr: Vec<String>,
    awaiting_second_factor: bool,
) -> StoreResult<(CookieJar, Session)> {
    let now = state.clock.now();
    let secret = random_token();
    let session = Session {
        sid: SessionId::generate(),
        secret_sha256: TokenHash::of(&secret).0,
        account: account.id.clone(),
        auth_time: now,
        expires_at: now + state.settings.session_ttl as i64,
        last_seen: now,
        acr: acr.to_owned(),
        amr,
        awaiting_second_factor,
        clients: Vec::new(),
        grants: Vec::new(),
    };
    state.stores.sessions.insert_session(&session).await?;
    let jar = jar.add(cookie(
        state,
        SESSION_COOKIE,
        format!("{}.{}", session.sid, secret),
    ));
    Ok((jar, session))
}

/// Ends a session and revokes every grant issued within it.
pub async fn end(state: &AppState, sid: &SessionId) -> StoreResult<Option<Session>> {
    end_as(state, sid, "auth.logout").await
}

/// `end`, traced as `action` (a logout, or a session left idle).
async fn end_as(
    state: &AppState,
    sid: &SessionId,
    action: &'static str,
) -> StoreResult<Option<Session>> {
    let Some(session) = state.stores.sessions.remove_session(sid).await? else {
        return Ok(None);
    };
    for grant in &session.grants {
        crate::oidc::tokens::revoke_grant(state, grant).await?;
    }
    tracing::info!(sid = %session.sid, account = %session.account, "session ended");
    let actor = match state.stores.accounts.get_account(&session.account).await? {
        Some(account) => crate::traces::TraceActor::of(&account),
        None => crate::traces::TraceActor {
            account: Some(session.account.to_string()),
            ..Default::default()
        },
    };
    state
        .tracer
        .record(
            crate::traces::Event::new(action, crate::store::Outcome::Success)
                .actor(actor)
                .session(&session.sid),
        )
        .await;
    crate::oidc::backchannel::notify(state, vec![session.clone()]);
    Ok(Some(session))
}

/// The jar without the session cookie.
pub fn clear(jar: CookieJar) -> CookieJar {
    jar.remove(Cookie::build(SESSION_COOKIE).path("/"))
}
