//! Pushed authorization requests (RFC 9126): an authenticated client posts its authorization
//! parameters to `/par`, which validates them as `/authorize` would and answers a single-use
//! `request_uri` for the browser's authorization request. Parameters then travel in no URL
//! and cannot be altered on the way; a client provisioned with
//! `require_pushed_authorization_requests` may only come this way.

use super::client_auth;
use super::error::OAuthError;
use super::token::parse_form;
use crate::crypto::{TokenHash, random_token};
use crate::state::AppState;
use crate::store::PushedRequest;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// How long a `request_uri` may wait for the browser (RFC 9126 §2.2: short).
pub const PUSHED_REQUEST_TTL: u64 = 90;
/// The prefix of the `request_uri` values `/par` issues (RFC 9126 §2.2).
pub const REQUEST_URI_PREFIX: &str = "urn:ietf:params:oauth:request_uri:";

pub async fn par(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match push(&state, &headers, &body).await {
        Ok(request_uri) => (
            StatusCode::CREATED,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({
                "request_uri": request_uri,
                "expires_in": PUSHED_REQUEST_TTL,
            })),
        )
            .into_response(),
        Err(error) => {
            tracing::info!(error = error.code.as_str(), description = %error.description, "pushed authorization request refused");
            error.into_response()
        }
    }
}

async fn push(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<String, OAuthError> {
    let mut params = parse_form(headers, body)?;
    let client = client_auth::authenticate(state, headers, &mut params).await?;
    if params.get("request_uri").is_some() {
        return Err(OAuthError::invalid_request(
            "request_uri cannot be pushed (RFC 9126 §2.1)",
        ));
    }
    let mut params = super::request_object::resolve(state, &client, params)
        .await
        .map_err(|(code, description)| OAuthError::new(code, description))?;
    // A DPoP proof with the pushed request binds the code to its key (RFC 9449 §10.1).
    if let Some(jkt) = super::dpop::key_of_proof(state, headers, "/par").await? {
        if params.get("dpop_jkt").is_some_and(|given| given != jkt) {
            return Err(super::dpop::refusal(
                state,
                super::error::ErrorCode::InvalidDpopProof,
                "dpop_jkt is not the thumbprint of the proof's key",
            ));
        }
        params.insert("dpop_jkt", jkt);
    }
    let redirect_uri = params
        .get("redirect_uri")
        .ok_or_else(|| OAuthError::invalid_request("redirect_uri is required"))?;
    let redirect_uri = client
        .redirect_uris
        .iter()
        .find(|u| u.as_str() == redirect_uri)
        .ok_or_else(|| {
            OAuthError::invalid_request("redirect_uri is not registered for this client")
        })?;
    super::request::validate(&client, redirect_uri, &params)
        .map_err(|(code, description)| OAuthError::new(code, description))?;
    params.insert("client_id", client.client_id.to_string());
    let request_uri = format!("{REQUEST_URI_PREFIX}{}", random_token());
    state
        .stores
        .pending_logins
        .put_pushed_request(
            TokenHash::of(&request_uri),
            &PushedRequest {
                client_id: client.client_id.clone(),
                parameters: params.to_form(),
            },
            PUSHED_REQUEST_TTL,
        )
        .await?;
    Ok(request_uri)
}
