//! How a service authenticates and which protocol options it takes: its secret (kept as a
//! digest, and sealed too for `client_secret_jwt`), its keys, and the switches of
//! `ProtocolSettings` (pushed requests, refresh grace, DPoP, FAPI 2.0).

use super::*;
use crate::store::ProtocolSettings;

/// What a service entry says of its client authentication, checked: the secret's digest and the
/// protocol settings. `current` is the service as stored, whose sealed secret is kept when the
/// secret has not changed (so that applying the same file twice changes nothing).
pub(super) fn authentication(
    state: &AppState,
    s: &ServiceEntry,
    current: Option<&Service>,
) -> Result<(Option<[u8; 32]>, ProtocolSettings), String> {
    let keys = s.jwks.is_some() || s.jwks_uri.is_some();
    if s.fapi2 && (!keys || s.secret.is_some() || s.pkce != PkcePolicy::Required) {
        return Err(
            "fapi2 needs keys (jwks or jwks_uri) and no secret (private_key_jwt only), and PKCE required".into(),
        );
    }
    if s.jwks.is_some() && s.jwks_uri.is_some() {
        return Err("give jwks or jwks_uri, not both".into());
    }
    if s.client_type == ClientType::Public && keys {
        return Err("a public service cannot authenticate with keys (jwks, jwks_uri)".into());
    }
    if let Some(jwks) = &s.jwks
        && crate::oidc::assertion::parse_jwks(jwks.as_bytes()).is_none()
    {
        return Err(
            "jwks must be a JWKS document ({\"keys\": [...]}) with at least one key".into(),
        );
    }
    if let Some(uri) = &s.jwks_uri {
        RedirectUri::parse(uri).map_err(|e| format!("jwks_uri: {}", e.0))?;
    }
    let secret_sha256 = match (s.client_type, &s.secret) {
        (ClientType::Confidential, Some(secret)) if secret.chars().count() >= MIN_SECRET_LENGTH => {
            Some(sha256(secret.as_bytes()))
        }
        (ClientType::Confidential, Some(_)) => {
            return Err(format!(
                "secret must have at least {MIN_SECRET_LENGTH} characters"
            ));
        }
        // Keys alone: the service authenticates with private_key_jwt only.
        (ClientType::Confidential, None) if keys => None,
        (ClientType::Confidential, None) => {
            return Err("a confidential service needs a secret, or keys (jwks, jwks_uri)".into());
        }
        (ClientType::Public, Some(_)) => {
            return Err("a public service cannot have a secret".into());
        }
        (ClientType::Public, None) => None,
    };
    let sealed_secret = match (&s.secret, s.client_secret_jwt) {
        (_, false) => None,
        (None, true) => {
            return Err("client_secret_jwt needs the service's secret".into());
        }
        (Some(secret), true) => Some(sealed(state, s, secret, current)),
    };
    if s.session_idle_seconds != 0 && s.session_idle_seconds < 60 {
        return Err("session_idle_seconds is 0 (the configuration's) or at least 60".into());
    }
    if s.refresh_token_grace_seconds > 60 {
        return Err(
            "refresh_token_grace_seconds is at most 60 (a retry, not a second life)".into(),
        );
    }
    Ok((
        secret_sha256,
        ProtocolSettings {
            require_pushed_authorization_requests: s.require_pushed_authorization_requests
                || s.fapi2,
            refresh_grace_seconds: s.refresh_token_grace_seconds,
            jwks: s.jwks.clone(),
            jwks_uri: s.jwks_uri.clone(),
            dpop_bound_access_tokens: s.dpop_bound_access_tokens || s.fapi2,
            idle_seconds: s.session_idle_seconds,
            sealed_secret,
        },
    ))
}

/// The secret sealed under the server key: the stored sealed value when it still opens to the
/// same secret, a new seal otherwise.
fn sealed(state: &AppState, s: &ServiceEntry, secret: &str, current: Option<&Service>) -> String {
    use crate::oidc::client_keys::{open_client_secret, seal_client_secret};
    let key = &state.client_secret_key;
    if let Some(stored) = current.and_then(|c| c.protocol.sealed_secret.as_deref())
        && open_client_secret(key, &s.client_id, stored)
            .is_some_and(|open| crate::crypto::constant_time_eq(&open, secret.as_bytes()))
    {
        return stored.to_owned();
    }
    seal_client_secret(key, &s.client_id, secret)
}
