//! The token endpoint (RFC 6749 §3.2): authorization_code (single use, PKCE), refresh_token
//! (rotation with reuse detection) and client_credentials.

use super::client_auth;
use super::error::{ErrorCode, OAuthError};
use super::params::Params;
use super::tokens::{self, Authentication, TokenResponse};
use crate::crypto::{TokenHash, b64url, constant_time_eq, random_token, sha256};
use crate::state::AppState;
use crate::store::{ClientType, CodeConsumption, GrantType, RefreshRotation, Service};
use crate::types::Scopes;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};

pub async fn token(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(response) => {
            let mut response = response.into_response();
            // The nonce the client's next proof carries (RFC 9449 §8).
            if headers.contains_key("dpop")
                && let Ok(nonce) = HeaderValue::from_str(&super::dpop::nonce(&state))
            {
                response.headers_mut().insert("dpop-nonce", nonce);
            }
            response
        }
        Err(error) => {
            if error.code != ErrorCode::ServerError {
                tracing::info!(error = error.code.as_str(), description = %error.description, "token request refused");
            }
            error.into_response()
        }
    }
}

/// Protocol endpoints take form bodies only (RFC 6749 §3.2).
pub fn require_form(headers: &HeaderMap) -> Result<(), OAuthError> {
    let ok = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    if ok {
        Ok(())
    } else {
        Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ))
    }
}

pub fn parse_form(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    require_form(headers)?;
    Params::parse(body).map_err(OAuthError::invalid_request)
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<TokenResponse, OAuthError> {
    let mut params = parse_form(headers, body)?;
    let client = client_auth::authenticate(state, headers, &mut params).await?;
    let jkt = dpop_key(state, &client, headers).await?;
    let jkt = jkt.as_deref();
    let (grant, issued) = match params.get("grant_type") {
        None => return Err(OAuthError::invalid_request("grant_type is required")),
        Some("authorization_code") => (
            "authorization_code",
            authorization_code(state, &client, &params, jkt).await,
        ),
        Some("refresh_token") => (
            "refresh_token",
            refresh_token(state, &client, &params, jkt).await,
        ),
        Some("client_credentials") => (
            "client_credentials",
            client_credentials(state, &client, &params, jkt).await,
        ),
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedGrantType,
                format!("grant_type `{other}` is not supported"),
            ));
        }
    };
    if issued.is_ok() {
        state.metrics.grant(grant);
    }
    issued
}

/// The thumbprint of the key of the request's DPoP proof, checked (RFC 9449 §5); required for
/// a client whose tokens must be bound.
async fn dpop_key(
    state: &AppState,
    client: &Service,
    headers: &HeaderMap,
) -> Result<Option<String>, OAuthError> {
    let key = super::dpop::key_of_proof(state, headers, "/token").await?;
    if key.is_none() && client.protocol.dpop_bound_access_tokens {
        return Err(super::dpop::refusal(
            state,
            ErrorCode::InvalidDpopProof,
            "this client's tokens are bound to a key: send a DPoP proof",
        ));
    }
    Ok(key)
}

fn require_grant(client: &Service, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.as_str()),
        ))
    }
}

/// RFC 7636 §4.6: BASE64URL(SHA256(code_verifier)) == code_challenge.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    well_formed
        && constant_time_eq(
            b64url(&sha256(verifier.as_bytes())).as_bytes(),
            challenge.as_bytes(),
        )
}

async fn authorization_code(
    state: &AppState,
    client: &Service,
    params: &Params,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::AuthorizationCode)?;
    let code = params
        .get("code")
        .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let grant = match state.stores.codes.consume_code(TokenHash::of(code)).await? {
        CodeConsumption::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid or expired",
            ));
        }
        CodeConsumption::Replayed(grant) => {
            // RFC 6749 §4.1.2: a code used twice revokes what it produced.
            tokens::revoke_grant(state, &grant.grant).await?;
            tracing::warn!(client = %grant.client_id, grant = %grant.grant, "authorization code replayed; its tokens are revoked");
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; the tokens issued with it are revoked",
            ));
        }
        CodeConsumption::Fresh(grant) => grant,
    };
    if grant.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        ));
    }
    if grant.expires_at <= state.clock.now() {
        return Err(OAuthError::invalid_grant(
            "the authorization code is invalid or expired",
        ));
    }
    if grant.redirect_uri.as_str() != redirect_uri {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the authorization request",
        ));
    }
    match (&grant.code_challenge, params.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            if !pkce_matches(verifier, challenge) {
                return Err(OAuthError::invalid_grant(
                    "PKCE verification failed: code_verifier does not match",
                ));
            }
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier is required (PKCE)",
            ));
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_grant(
                "code_verifier sent, but the authorization request had no code_challenge",
            ));
        }
        (None, None) => {}
    }
    if state.stores.tokens.is_grant_revoked(&grant.grant).await? {
        return Err(OAuthError::invalid_grant(
            "the session this code belongs to has ended",
        ));
    }
    if grant.dpop_jkt.is_some() && grant.dpop_jkt.as_deref() != jkt {
        return Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "the authorization code is bound to a DPoP key (dpop_jkt): send a proof signed by it",
        ));
    }
    let Some(account) = tokens::active_account(state, &grant.account).await? else {
        return Err(OAuthError::invalid_grant(
            "the account may no longer log in",
        ));
    };
    let auth = Authentication {
        grant: &grant.grant,
        sid: &grant.sid,
        scope: &grant.scope,
        auth_time: grant.auth_time,
        acr: &grant.acr,
        amr: &grant.amr,
        nonce: grant.nonce.as_deref(),
        claims: &grant.claims,
        jkt,
        held: None,
    };
    let refresh = if client.allows(GrantType::RefreshToken) {
        Some(
            tokens::new_refresh_family(state, client, &account, &auth, grant.session_expires_at)
                .await?,
        )
    } else {
        None
    };
    tracing::info!(client = %client.client_id, account = %account.id, grant = %grant.grant, "authorization code exchanged");
    tokens::person_tokens(state, client, &account, auth, refresh).await
}

async fn refresh_token(
    state: &AppState,
    client: &Service,
    params: &Params,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    require_grant(client, GrantType::RefreshToken)?;
    let presented = params
        .get("refresh_token")
        .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
    let raw_presented = presented;
    let presented = TokenHash::of(presented);
    // Everything that can refuse the request is checked before rotating, so that a refused
    // request does not consume the token. A token that is not current goes straight to
    // `rotate_refresh`, which tells unknown tokens from reused ones.
    let requested_scope = match params.get("scope") {
        None => None,
        Some(s) => {
            Some(Scopes::parse(s).map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.0))?)
        }
    };
    if let Some(current) = state.stores.tokens.find_refresh(presented).await? {
        if current.client_id != client.client_id {
            return Err(OAuthError::invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        // A bound family refreshes only with a proof by its key; refused before rotating, so
        // that a stolen token without the key neither rotates nor revokes anything.
        if current.jkt.is_some() && current.jkt.as_deref() != jkt {
            return Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "the refresh token is bound to a DPoP key: send a proof signed by it",
            ));
        }
        if requested_scope
            .as_ref()
            .is_some_and(|r| !r.is_subset_of(&current.scope))
        {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "a refresh cannot widen the granted scope",
            ));
        }
    }
    let next = random_token();
    let grace = i64::from(client.protocol.refresh_grace_seconds);
    let now = state.clock.now();
    let family = match state
        .stores
        .tokens
        .rotate_refresh(presented, TokenHash::of(&next), now, grace)
        .await?
    {
        RefreshRotation::Grace(family) => {
            return grace_answer(state, client, raw_presented, presented, &family).await;
        }
        RefreshRotation::Unknown => {
            return Err(OAuthError::invalid_grant(
                "the refresh token is invalid, expired or revoked",
            ));
        }
        RefreshRotation::Reused(family) => {
            tracing::warn!(client = %family.client_id, grant = %family.grant, "refresh token reused; its family is revoked");
            state
                .tracer
                .record(
                    crate::traces::Event::new("token.refresh", crate::store::Outcome::Failure)
                        .actor(crate::traces::TraceActor {
                            account: Some(family.account.to_string()),
                            ..Default::default()
                        })
                        .session(&family.sid)
                        .client(&family.client_id)
                        .target(format!("grant:{}", family.grant))
                        .reason("reused"),
                )
                .await;
            return Err(OAuthError::invalid_grant(
                "the refresh token was already used; every token of its family is revoked",
            ));
        }
        RefreshRotation::Rotated(family) => family,
    };
    if family.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    // A relying application refreshing is activity of the session its family belongs to. The
    // rotation is done: failing now would cost the client its new token, so a store that cannot
    // record the activity is only logged.
    if family.idle_seconds > 0
        && let Err(e) = state.stores.sessions.touch_session(&family.sid, now).await
    {
        tracing::warn!(error = %e, sid = %family.sid, "session activity not recorded");
    }
    let scope = match requested_scope {
        Some(requested) if requested.is_subset_of(&family.scope) => requested,
        Some(_) => {
            return Err(OAuthError::new(
                ErrorCode::InvalidScope,
                "a refresh cannot widen the granted scope",
            ));
        }
        None => family.scope.clone(),
    };
    let Some(account) = tokens::active_account(state, &family.account).await? else {
        tokens::revoke_grant(state, &family.grant).await?;
        return Err(OAuthError::invalid_grant(
            "the account may no longer log in",
        ));
    };
    // A habilitation may have reached its end date since the last refresh.
    let held = crate::habilitations::effective(state, &account, &family.client_id).await?;
    if held.is_empty() {
        tokens::revoke_grant(state, &family.grant).await?;
        return Err(OAuthError::invalid_grant(
            "the person no longer holds a habilitation for this service",
        ));
    }
    let auth = Authentication {
        grant: &family.grant,
        sid: &family.sid,
        scope: &scope,
        auth_time: family.auth_time,
        acr: &family.acr,
        amr: &family.amr,
        nonce: None,
        claims: &family.claims,
        jkt: family.jkt.as_deref().or(jkt),
        held: Some(&held),
    };
    let response = tokens::person_tokens(state, client, &account, auth, Some(next)).await?;
    if grace > 0 {
        // For a retry within the grace window: the same answer, which only the holder of the
        // token just consumed can open.
        let plain = serde_json::to_vec(&response).map_err(OAuthError::server_error)?;
        let sealed =
            crate::crypto::seal_with_secret(raw_presented.as_bytes(), GRACE_PURPOSE, &plain);
        state
            .stores
            .tokens
            .put_refresh_answer(presented, &sealed, now + grace)
            .await?;
    }
    Ok(response)
}

/// What the key of a sealed refresh answer is derived for.
const GRACE_PURPOSE: &[u8] = b"refresh grace answer";

/// The refresh token just rotated came back within the client's grace window (two refreshes
/// at once): the answer of its first use, once that use has stored it (waited for a little,
/// as the two requests may be racing). The family stays as it is.
async fn grace_answer(
    state: &AppState,
    client: &Service,
    raw_presented: &str,
    presented: TokenHash,
    family: &crate::store::RefreshFamily,
) -> Result<TokenResponse, OAuthError> {
    if family.client_id != client.client_id {
        return Err(OAuthError::invalid_grant(
            "the refresh token was issued to another client",
        ));
    }
    for _ in 0..GRACE_WAIT_STEPS {
        if let Some(sealed) = state.stores.tokens.get_refresh_answer(presented).await? {
            if state.stores.tokens.is_grant_revoked(&family.grant).await? {
                break;
            }
            let plain =
                crate::crypto::open_with_secret(raw_presented.as_bytes(), GRACE_PURPOSE, &sealed)
                    .ok_or_else(|| OAuthError::invalid_grant("the refresh token is invalid"))?;
            tracing::info!(client = %client.client_id, grant = %family.grant, "refresh retried within the grace window; same answer");
            return serde_json::from_slice(&plain).map_err(OAuthError::server_error);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    Err(OAuthError::invalid_grant(
        "the refresh token was just used; use the tokens its first use returned",
    ))
}

/// How many times (50 ms apart) a retry waits for the answer of the racing first use.
const GRACE_WAIT_STEPS: usize = 40;

async fn client_credentials(
    state: &AppState,
    client: &Service,
    params: &Params,
    jkt: Option<&str>,
) -> Result<TokenResponse, OAuthError> {
    if client.client_type != ClientType::Confidential {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "public clients may not use client_credentials",
        ));
    }
    require_grant(client, GrantType::ClientCredentials)?;
    let scope = match params.get("scope") {
        None => client.client_scopes.clone(),
        Some(requested) => {
            let requested = Scopes::parse(requested)
                .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.0))?;
            if !requested.is_subset_of(&client.client_scopes) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    "the requested scope is not registered for this client",
                ));
            }
            requested
        }
    };
    let access_token = tokens::new_access_token(
        state,
        client,
        None,
        None,
        (&scope, &[], jkt),
        state.clock.now(),
    )
    .await?;
    // The grant is acknowledged only once its trace is on disk: 503 when it cannot be written.
    state
        .tracer
        .record_durable(
            crate::traces::Event::new("token.issue", crate::store::Outcome::Success)
                .client(&client.client_id)
                .target("client_credentials"),
        )
        .await?;
    Ok(TokenResponse {
        access_token,
        token_type: tokens::token_type(jkt).into(),
        expires_in: state.settings.access_token_ttl,
        refresh_token: None,
        id_token: None,
        scope: scope.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn pkce_rfc7636_appendix_b() {
        assert!(super::pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
        assert!(!super::pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        ));
    }
}
