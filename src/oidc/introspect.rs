//! Token introspection (RFC 7662), for confidential clients. A token is active only to the
//! client it was issued to, or to a resource server registered for that client (`introspects`
//! in provisioning): any other client reads `{"active": false}`, as RFC 7662 §4 allows, so that
//! one relying application cannot learn who holds another's tokens.

use super::client_auth;
use super::error::OAuthError;
use super::token::parse_form;
use super::tokens::active_access_token;
use crate::crypto::TokenHash;
use crate::state::AppState;
use crate::store::ClientType;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(value) => ([(header::CACHE_CONTROL, "no-store")], Json(value)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, OAuthError> {
    let mut params = parse_form(headers, body)?;
    let client = client_auth::authenticate(state, headers, &mut params).await?;
    if client.client_type != ClientType::Confidential {
        return Err(OAuthError::invalid_client());
    }
    let token = params
        .get("token")
        .ok_or_else(|| OAuthError::invalid_request("token is required"))?;
    let issuer = &state.settings.issuer;
    let may_see = |owner: &crate::types::ClientId| {
        *owner == client.client_id || client.introspects.contains(owner)
    };
    let refresh_first = params.get("token_type_hint") == Some("refresh_token");
    let access = |_: ()| async {
        let mut record = active_access_token(state, token).await?;
        // A token acting for a person is active only while the account may log in.
        if let Some(account) = record.as_ref().and_then(|r| r.account.clone())
            && super::tokens::active_account(state, &account)
                .await?
                .is_none()
        {
            record = None;
        }
        record = record.filter(|r| may_see(&r.client_id));
        Ok::<_, OAuthError>(record.map(|r| {
            let mut answer = json!({
                "active": true,
                "token_type": super::tokens::token_type(r.jkt.as_deref()),
                "scope": r.scope.to_string(),
                "client_id": r.client_id,
                "sub": r.account.as_ref().map(|a| a.to_string()).unwrap_or_else(|| r.client_id.to_string()),
                "aud": r.client_id,
                "iss": issuer,
                "iat": r.issued_at,
                "exp": r.expires_at,
            });
            // The key a DPoP-bound token must be presented with (RFC 9449 §6.2).
            if let Some(jkt) = &r.jkt {
                answer["cnf"] = json!({ "jkt": jkt });
            }
            answer
        }))
    };
    let refresh = |_: ()| async {
        let found = state
            .stores
            .tokens
            .find_refresh(TokenHash::of(token))
            .await?;
        let mut answer = None;
        if let Some(f) = found
            && may_see(&f.client_id)
            && !state.stores.tokens.is_grant_revoked(&f.grant).await?
        {
            answer = Some(json!({
                "active": true,
                "token_type": "refresh_token",
                "scope": f.scope.to_string(),
                "client_id": f.client_id,
                "sub": f.account,
                "iss": issuer,
                "iat": f.issued_at,
                "exp": f.expires_at,
            }));
        }
        Ok::<_, OAuthError>(answer)
    };
    let found = if refresh_first {
        match refresh(()).await? {
            Some(v) => Some(v),
            None => access(()).await?,
        }
    } else {
        match access(()).await? {
            Some(v) => Some(v),
            None => refresh(()).await?,
        }
    };
    Ok(found.unwrap_or_else(|| json!({ "active": false })))
}
