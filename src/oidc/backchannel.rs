//! OpenID Connect Back-Channel Logout 1.0: when a person's sessions end (suspension, closure,
//! withdrawn habilitation, password change, logout), each relying application that received a
//! grant in those sessions and registered a `backchannel_logout_uri` gets a signed logout
//! token, POSTed from a background task so that the administrator's request does not wait.
//!
//! Delivery is attempted three times (after 0, 1 and 4 seconds) with a 5-second timeout;
//! failures are logged. A relying application that misses the token still finds its tokens
//! revoked at the next introspection, userinfo or refresh.

use crate::state::AppState;
use crate::store::{Service, Session};
use std::time::Duration;

/// The `events` member that makes a JWT a logout token.
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
const ATTEMPTS: [u64; 3] = [0, 1, 4];

/// Tells the relying applications of `sessions` that those sessions ended (in the background,
/// through `state.backchannel`).
pub fn notify(state: &AppState, sessions: Vec<Session>) {
    if sessions.iter().all(|s| s.clients.is_empty()) {
        return;
    }
    let state_for_task = state.clone();
    let http = state.backchannel.http();
    state.backchannel.spawn(async move {
        let state = state_for_task;
        for session in sessions {
            let mut clients = session.clients.clone();
            clients.sort();
            clients.dedup();
            for client_id in clients {
                let service = match state.clients.get(client_id.as_str()).await {
                    Ok(Some(service)) => service,
                    Ok(None) => continue,
                    Err(e) => {
                        tracing::error!(error = %e, client = %client_id, "back-channel logout: client lookup failed");
                        continue;
                    }
                };
                if service.backchannel_logout_uri.is_some() {
                    deliver(&state, &http, &service, &session).await;
                }
            }
        }
    });
}

/// The logout token for one session and one relying application.
pub fn logout_token(
    state: &AppState,
    service: &Service,
    session: &Session,
) -> anyhow::Result<String> {
    let key = state
        .keys
        .active(service.id_token_alg)
        .ok_or_else(|| anyhow::anyhow!("no active {} key", service.id_token_alg.as_str()))?;
    let now = state.clock.now();
    let claims = serde_json::json!({
        "iss": state.settings.issuer,
        "aud": service.client_id.as_str(),
        "iat": now,
        "exp": now + 120,
        "jti": crate::crypto::random_token_of(16),
        "sub": session.account.as_str(),
        "sid": session.sid.as_str(),
        "events": { LOGOUT_EVENT: {} },
    });
    key.sign_compact(Some("logout+jwt"), &claims)
        .map_err(|e| anyhow::anyhow!("cannot sign a logout token: {e:?}"))
}

async fn deliver(state: &AppState, http: &reqwest::Client, service: &Service, session: &Session) {
    let Some(uri) = &service.backchannel_logout_uri else {
        return;
    };
    let token = match logout_token(state, service, session) {
        Ok(token) => token,
        Err(e) => {
            tracing::error!(error = %e, client = %service.client_id, "back-channel logout not sent");
            return;
        }
    };
    for (attempt, delay) in ATTEMPTS.iter().enumerate() {
        tokio::time::sleep(Duration::from_secs(*delay)).await;
        let body = format!(
            "logout_token={}",
            percent_encoding::utf8_percent_encode(&token, percent_encoding::NON_ALPHANUMERIC)
        );
        let outcome = http
            .post(uri.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cache-control", "no-store")
            .body(body)
            .send()
            .await;
        match outcome {
            Ok(response) if response.status().is_success() => {
                tracing::info!(client = %service.client_id, sid = %session.sid, "back-channel logout delivered");
                return;
            }
            Ok(response) => tracing::warn!(
                client = %service.client_id,
                status = %response.status(),
                attempt = attempt + 1,
                "back-channel logout refused"
            ),
            Err(e) => tracing::warn!(
                client = %service.client_id,
                error = %e,
                attempt = attempt + 1,
                "back-channel logout failed"
            ),
        }
    }
    tracing::error!(client = %service.client_id, sid = %session.sid, "back-channel logout given up");
}
