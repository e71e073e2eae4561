//! Token revocation (RFC 7009). Revoking a refresh token revokes its whole grant, including
//! the access tokens issued under it (§2.1). Unknown tokens answer 200, as the RFC requires.

use super::client_auth;
use super::error::{ErrorCode, OAuthError};
use super::token::parse_form;
use crate::crypto::TokenHash;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

pub async fn revoke(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => e.into_response(),
    }
}

fn not_yours() -> OAuthError {
    OAuthError::new(
        ErrorCode::UnauthorizedClient,
        "the token was issued to another client",
    )
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<(), OAuthError> {
    let mut params = parse_form(headers, body)?;
    let client = client_auth::authenticate(state, headers, &mut params).await?;
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let hash = TokenHash::of(token);
    if let Some(record) = state.stores.tokens.get_access_token(hash).await? {
        if record.client_id != client.client_id {
            return Err(not_yours());
        }
        state.stores.tokens.remove_access_token(hash).await?;
        tracing::info!(client = %client.client_id, "access token revoked");
        state
            .tracer
            .record_durable(
                crate::traces::Event::new("token.revoke", crate::store::Outcome::Success)
                    .actor(crate::traces::TraceActor {
                        account: record.account.as_ref().map(|a| a.to_string()),
                        ..Default::default()
                    })
                    .client(&client.client_id)
                    .target("access_token"),
            )
            .await?;
        return Ok(());
    }
    if let Some(family) = state.stores.tokens.find_refresh(hash).await? {
        if family.client_id != client.client_id {
            return Err(not_yours());
        }
        super::tokens::revoke_grant(state, &family.grant).await?;
        tracing::info!(client = %client.client_id, grant = %family.grant, "refresh token family revoked");
        state
            .tracer
            .record_durable(
                crate::traces::Event::new("token.revoke", crate::store::Outcome::Success)
                    .actor(crate::traces::TraceActor {
                        account: Some(family.account.to_string()),
                        ..Default::default()
                    })
                    .session(&family.sid)
                    .client(&client.client_id)
                    .target(format!("grant:{}", family.grant)),
            )
            .await?;
    }
    Ok(())
}
