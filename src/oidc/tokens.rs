//! Issuing and looking up opaque tokens. Access and refresh tokens are 256-bit random strings
//! stored only as SHA-256 digests; the ID token is the one signed JWT.

use super::claims::user_claims;
use super::error::OAuthError;
use super::id_token::{self, IdTokenInput};
use crate::crypto::{TokenHash, random_token};
use crate::state::AppState;
use crate::store::{
    AccessTokenRecord, Account, ClaimsRequest, RefreshFamily, Service, StoreResult,
};
use crate::types::{GrantId, Scopes, SessionId};
use axum::Json;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: String,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub scope: String,
}

impl IntoResponse for TokenResponse {
    fn into_response(self) -> Response {
        (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(self),
        )
            .into_response()
    }
}

/// `DPoP` for a token bound to a key, else `Bearer`.
pub fn token_type(jkt: Option<&str>) -> &'static str {
    if jkt.is_some() { "DPoP" } else { "Bearer" }
}

/// Stores and returns a new access token.
pub async fn new_access_token(
    state: &AppState,
    client: &Service,
    account: Option<&Account>,
    grant: Option<&GrantId>,
    (scope, claims, jkt): (&Scopes, &[String], Option<&str>),
    now: i64,
) -> StoreResult<String> {
    let token = random_token();
    let record = AccessTokenRecord {
        client_id: client.client_id.clone(),
        account: account.map(|a| a.id.clone()),
        grant: grant.cloned(),
        scope: scope.clone(),
        claims: claims.to_vec(),
        jkt: jkt.map(str::to_owned),
        issued_at: now,
        expires_at: now + state.settings.access_token_ttl as i64,
    };
    state
        .stores
        .tokens
        .insert_access_token(TokenHash::of(&token), &record)
        .await?;
    Ok(token)
}

/// What the person authenticated with, carried from the code to every refresh.
pub struct Authentication<'a> {
    pub grant: &'a GrantId,
    pub sid: &'a SessionId,
    pub scope: &'a Scopes,
    pub auth_time: i64,
    pub acr: &'a str,
    pub amr: &'a [String],
    pub nonce: Option<&'a str>,
    /// Claims asked for by name (the `claims` parameter).
    pub claims: &'a ClaimsRequest,
    /// The DPoP key the tokens are bound to.
    pub jkt: Option<&'a str>,
    /// The habilitations effective now, when the grant has just read them (else the ID
    /// token's claims read them).
    pub held: Option<&'a [crate::store::Habilitation]>,
}

/// Issues the tokens of a person's grant: access token, ID token when `openid` was granted,
/// and the given refresh token.
pub async fn person_tokens(
    state: &AppState,
    client: &Service,
    account: &Account,
    auth: Authentication<'_>,
    refresh_token: Option<String>,
) -> Result<TokenResponse, OAuthError> {
    let now = state.clock.now();
    let access_token = new_access_token(
        state,
        client,
        Some(account),
        Some(auth.grant),
        (auth.scope, &auth.claims.userinfo, auth.jkt),
        now,
    )
    .await?;
    let id_token = if auth.scope.contains("openid") {
        let claims = user_claims(
            state,
            account,
            &client.client_id,
            auth.scope,
            &auth.claims.id_token,
            auth.held,
        )
        .await?;
        let token = id_token::issue(
            state,
            IdTokenInput {
                client_id: client.client_id.as_str(),
                alg: client.id_token_alg,
                claims,
                sid: auth.sid.as_str(),
                nonce: auth.nonce,
                auth_time: auth.auth_time,
                acr: auth.acr,
                amr: auth.amr,
                access_token: &access_token,
                now,
            },
        )
        .map_err(OAuthError::server_error)?;
        Some(token)
    } else {
        None
    };
    // The tokens are answered only once their trace is on disk (503 when it cannot be
    // written): a relying application never holds a token that no trace records.
    state
        .tracer
        .record_durable(
            crate::traces::Event::new("token.issue", crate::store::Outcome::Success)
                .account(account)
                .session(auth.sid)
                .client(&client.client_id)
                .target(format!("grant:{}", auth.grant)),
        )
        .await?;
    Ok(TokenResponse {
        access_token,
        token_type: token_type(auth.jkt).into(),
        expires_in: state.settings.access_token_ttl,
        refresh_token,
        id_token,
        scope: auth.scope.to_string(),
    })
}

/// Starts a refresh-token family and returns its first token. It ends with the browser
/// session when `session_expires_at` is given, and its tokens then expire when left unused as
/// long as the session's idle limit (the client's, when shorter); else (offline_access) it lasts
/// its own lifetime.
pub async fn new_refresh_family(
    state: &AppState,
    client: &Service,
    account: &Account,
    auth: &Authentication<'_>,
    session_expires_at: Option<i64>,
) -> StoreResult<String> {
    let now = state.clock.now();
    let expires_at = match session_expires_at {
        Some(end) => end.min(now + state.settings.refresh_token_ttl as i64),
        None => now + state.settings.offline_refresh_token_ttl as i64,
    };
    let token = random_token();
    let family = RefreshFamily {
        grant: auth.grant.clone(),
        client_id: client.client_id.clone(),
        account: account.id.clone(),
        sid: auth.sid.clone(),
        scope: auth.scope.clone(),
        claims: auth.claims.clone(),
        jkt: auth.jkt.map(str::to_owned),
        auth_time: auth.auth_time,
        acr: auth.acr.to_owned(),
        amr: auth.amr.to_vec(),
        issued_at: now,
        expires_at,
        idle_seconds: match session_expires_at {
            Some(_) => state.settings.idle_limit(Some(client)) as i64,
            None => 0,
        },
    };
    state
        .stores
        .tokens
        .create_refresh_family(&family, TokenHash::of(&token))
        .await?;
    Ok(token)
}

/// Revokes a grant (its refresh family and access tokens) for as long as any of its tokens
/// could still be valid.
pub async fn revoke_grant(state: &AppState, grant: &GrantId) -> StoreResult<()> {
    let until = state.clock.now() + state.settings.longest_token_ttl() as i64;
    state.stores.tokens.revoke_grant(grant, until).await
}

/// The record of a live access token: known, unexpired, and its grant not revoked.
pub async fn active_access_token(
    state: &AppState,
    token: &str,
) -> StoreResult<Option<AccessTokenRecord>> {
    let Some(record) = state
        .stores
        .tokens
        .get_access_token(TokenHash::of(token))
        .await?
    else {
        return Ok(None);
    };
    if let Some(grant) = &record.grant
        && state.stores.tokens.is_grant_revoked(grant).await?
    {
        return Ok(None);
    }
    Ok(Some(record))
}

/// The account behind a token, if it still exists and may log in.
pub async fn active_account(
    state: &AppState,
    id: &crate::types::AccountId,
) -> StoreResult<Option<Account>> {
    Ok(state
        .stores
        .accounts
        .get_account(id)
        .await?
        .filter(|a| a.is_usable()))
}
