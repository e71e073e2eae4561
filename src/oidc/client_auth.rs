//! Client authentication at the token, pushed-request, introspection and revocation
//! endpoints: `client_secret_basic`, `client_secret_post`, `private_key_jwt` (see
//! `assertion`), and `none` for public clients.

use super::error::OAuthError;
use super::params::{Params, form_urldecode};
use crate::crypto::{constant_time_eq, sha256};
use crate::state::AppState;
use crate::store::{ClientType, Service};
use axum::http::{HeaderMap, header};
use base64::Engine;
use std::sync::Arc;

struct Presented {
    client_id: String,
    secret: Option<String>,
    basic: bool,
}

fn presented(headers: &HeaderMap, params: &mut Params) -> Result<Presented, OAuthError> {
    let body_id = params.take("client_id");
    let body_secret = params.take("client_secret");
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let value = value.to_str().map_err(|_| OAuthError::invalid_client())?;
        let Some(encoded) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        else {
            return Err(OAuthError::invalid_client());
        };
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(OAuthError::invalid_client)?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(OAuthError::invalid_client)?;
        let id = form_urldecode(id).ok_or_else(OAuthError::invalid_client)?;
        let secret = form_urldecode(secret).ok_or_else(OAuthError::invalid_client)?;
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method only (RFC 6749 §2.3)",
            ));
        }
        if body_id.as_ref().is_some_and(|b| b != &id) {
            return Err(OAuthError::invalid_request(
                "client_id differs from the authenticated client",
            ));
        }
        return Ok(Presented {
            client_id: id,
            secret: Some(secret),
            basic: true,
        });
    }
    match body_id {
        Some(client_id) => Ok(Presented {
            client_id,
            secret: body_secret,
            basic: false,
        }),
        None => Err(OAuthError {
            basic_challenge: false,
            ..OAuthError::invalid_client()
        }),
    }
}

/// Authenticates the calling client, consuming `client_id` and `client_secret` (or
/// `client_assertion` and its type) from `params`.
pub async fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<Arc<Service>, OAuthError> {
    if let Some(assertion) = params.take("client_assertion") {
        if params.take("client_assertion_type").as_deref() != Some(super::assertion::ASSERTION_TYPE)
        {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type must be {}",
                super::assertion::ASSERTION_TYPE
            )));
        }
        if headers.contains_key(header::AUTHORIZATION) || params.get("client_secret").is_some() {
            return Err(OAuthError::invalid_request(
                "use one client authentication method only (RFC 6749 §2.3)",
            ));
        }
        let client_id = params.take("client_id");
        return super::assertion::authenticate(state, &assertion, client_id.as_deref()).await;
    }
    let presented = presented(headers, params)?;
    let fail = || OAuthError {
        basic_challenge: presented.basic,
        ..OAuthError::invalid_client()
    };
    let Some(service) = state.clients.get(&presented.client_id).await? else {
        return Err(fail());
    };
    match (
        service.client_type,
        &presented.secret,
        &service.secret_sha256,
    ) {
        (ClientType::Public, None, _) => Ok(service),
        (ClientType::Confidential, Some(secret), Some(expected))
            if constant_time_eq(&sha256(secret.as_bytes()), expected) =>
        {
            Ok(service)
        }
        _ => Err(fail()),
    }
}
