//! Client authentication by a signed assertion (OIDC Core §9, RFC 7523): `private_key_jwt`,
//! the client signing a short-lived JWT with a key whose public half it registered (inline
//! JWKS, or a `jwks_uri` fetched with a timeout, a size limit and a cache), or
//! `client_secret_jwt`, an HMAC keyed by its secret, for a client provisioned for it (its
//! secret then kept sealed under a server key beside the digest). Issuer and subject are the
//! client, the audience is Passerelle, and each assertion is accepted once (its `jti`).

use super::error::OAuthError;
use crate::crypto::{TokenHash, b64url_decode};
use crate::state::AppState;
use crate::store::Service;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use serde::Deserialize;
use std::sync::Arc;

/// The `client_assertion_type` of a JWT assertion (RFC 7523 §2.2).
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
use super::client_keys::{ALGORITHMS, MAC_ALGORITHMS};
/// The longest an assertion may live: a client makes one per request.
const MAX_LIFETIME: i64 = 600;
/// Clock difference tolerated between the client and Passerelle.
const LEEWAY: i64 = 60;
/// How long a fetched `jwks_uri` is trusted, and how soon an unknown `kid` may refetch it.
const CACHE_SECONDS: i64 = 300;
const REFETCH_AFTER: i64 = 10;
/// The largest JWKS document read from a `jwks_uri`.
const MAX_JWKS_BYTES: usize = 64 * 1024;

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: i64,
    #[serde(default)]
    nbf: Option<i64>,
    jti: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn any(&self, accepted: impl Fn(&str) -> bool) -> bool {
        match self {
            Audience::One(a) => accepted(a),
            Audience::Many(all) => all.iter().any(|a| accepted(a)),
        }
    }
}

fn refused(why: &str) -> OAuthError {
    tracing::info!(reason = why, "client assertion refused");
    OAuthError::invalid_client()
}

/// Parses a JWKS document; `None` when it is not one or holds no key.
pub fn parse_jwks(text: &[u8]) -> Option<CoreJsonWebKeySet> {
    serde_json::from_slice::<CoreJsonWebKeySet>(text)
        .ok()
        .filter(|set| !set.keys().is_empty())
}

async fn fetch(state: &AppState, uri: &str) -> Result<CoreJsonWebKeySet, String> {
    let mut response = state
        .backchannel
        .http()
        .get(uri)
        .header("accept", "application/json")
        .send()
        .await
        .map_err(|e| format!("jwks_uri unreachable: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("jwks_uri answered {}", response.status()));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| format!("jwks_uri: {e}"))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_JWKS_BYTES {
            return Err("jwks_uri document is larger than 64 KiB".into());
        }
    }
    parse_jwks(&body).ok_or_else(|| "jwks_uri is not a JWKS with a key".into())
}

/// The client's keys: its inline JWKS, or its `jwks_uri`'s (cached; fetched again when the
/// cache is old, or when `kid` is unknown and the last fetch is not too recent).
async fn keys_of(
    state: &AppState,
    client: &Service,
    kid: Option<&str>,
) -> Result<Arc<CoreJsonWebKeySet>, OAuthError> {
    if let Some(inline) = &client.protocol.jwks {
        return parse_jwks(inline.as_bytes())
            .map(Arc::new)
            .ok_or_else(|| refused("the registered jwks does not parse"));
    }
    let Some(uri) = &client.protocol.jwks_uri else {
        return Err(refused("the client registered no key"));
    };
    let now = state.clock.now();
    let known = |set: &CoreJsonWebKeySet| {
        kid.is_none_or(|kid| {
            set.keys()
                .iter()
                .any(|k| k.key_id().is_some_and(|i| **i == *kid))
        })
    };
    if let Some((at, set)) = state.client_keys.cached(uri) {
        let fresh = now - at < CACHE_SECONDS;
        if fresh && (known(&set) || now - at < REFETCH_AFTER) {
            return Ok(set);
        }
    }
    let set = Arc::new(fetch(state, uri).await.map_err(|e| {
        tracing::warn!(client = %client.client_id, error = %e, "client keys unavailable");
        OAuthError::invalid_client()
    })?);
    state.client_keys.remember(uri, now, set.clone());
    Ok(set)
}

/// Whether `client` can sign: keys registered, or its secret usable as a MAC key.
pub fn can_sign(client: &Service) -> bool {
    client.protocol.jwks.is_some()
        || client.protocol.jwks_uri.is_some()
        || client.protocol.sealed_secret.is_some()
}

/// A compact JWS taken apart, its signature not yet checked.
pub struct Jws<'a> {
    header: Header,
    /// The payload, decoded from base64url.
    pub payload: Vec<u8>,
    signature: Vec<u8>,
    signed: &'a str,
}

/// Splits a compact JWS signed with an accepted signature algorithm (a MAC is refused).
pub fn split(jws: &str) -> Result<Jws<'_>, &'static str> {
    split_with(jws, false)
}

/// Splits a compact JWS from a client: signed, or a MAC with its secret (HS256…).
pub fn split_from_client(jws: &str) -> Result<Jws<'_>, &'static str> {
    split_with(jws, true)
}

fn split_with(jws: &str, macs: bool) -> Result<Jws<'_>, &'static str> {
    let mut parts = jws.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("not a compact JWS");
    };
    let decode = |part: &str| b64url_decode(part).ok_or("not base64url");
    let header: Header =
        serde_json::from_slice(&decode(header)?).map_err(|_| "the header does not parse")?;
    let alg = header.alg.as_str();
    let accepted = ALGORITHMS.contains(&alg) || (macs && MAC_ALGORITHMS.contains(&alg));
    if !accepted {
        return Err("algorithm not accepted (RS256, PS256, ES256, EdDSA; HS256 with the secret)");
    }
    Ok(Jws {
        header,
        payload: decode(payload)?,
        signature: decode(signature)?,
        signed: &jws[..jws.rfind('.').expect("three parts")],
    })
}

/// Whether `jws` is signed by one of `client`'s registered keys, or MACed with its secret.
pub async fn signed_by(
    state: &AppState,
    client: &Service,
    jws: &Jws<'_>,
) -> Result<bool, OAuthError> {
    if MAC_ALGORITHMS.contains(&jws.header.alg.as_str()) {
        let Some(sealed) = &client.protocol.sealed_secret else {
            return Err(refused(
                "the client is not provisioned for client_secret_jwt",
            ));
        };
        let secret = super::client_keys::open_client_secret(
            &state.client_secret_key,
            client.client_id.as_str(),
            sealed,
        )
        .ok_or_else(|| refused("the sealed client secret does not open"))?;
        return Ok(super::client_keys::mac_verifies(
            &jws.header.alg,
            &secret,
            jws.signed.as_bytes(),
            &jws.signature,
        ));
    }
    let alg: CoreJwsSigningAlgorithm =
        serde_json::from_value(serde_json::Value::String(jws.header.alg.clone()))
            .map_err(|_| refused("algorithm not accepted"))?;
    let kid = jws.header.kid.as_deref();
    let keys = keys_of(state, client, kid).await?;
    Ok(keys
        .keys()
        .iter()
        .filter(|k: &&CoreJsonWebKey| kid.is_none_or(|kid| k.key_id().is_some_and(|i| **i == *kid)))
        .any(|k| {
            k.verify_signature(&alg, jws.signed.as_bytes(), &jws.signature)
                .is_ok()
        }))
}

/// Remembers `jti` of `client` until `until`; false when it was already used.
pub async fn once(
    state: &AppState,
    client: &str,
    jti: &str,
    until: i64,
) -> Result<bool, OAuthError> {
    let id = TokenHash::of(&format!("{client}\u{0}{jti}"));
    Ok(state.stores.tokens.claim_once(id, until).await?)
}

/// Authenticates the client that signed `assertion` (`client_id`, if sent, must be the
/// same). Refusals are all `invalid_client`, the reason going to the log only.
pub async fn authenticate(
    state: &AppState,
    assertion: &str,
    client_id: Option<&str>,
) -> Result<Arc<Service>, OAuthError> {
    let jws = split_from_client(assertion).map_err(refused)?;
    let claims: Claims = serde_json::from_slice(&jws.payload)
        .map_err(|_| refused("iss, sub, aud, exp and jti are required"))?;
    if claims.iss != claims.sub || client_id.is_some_and(|id| id != claims.sub) {
        return Err(refused("iss and sub must be the client"));
    }
    let s = &state.settings;
    let audiences = [
        s.issuer.clone(),
        s.endpoint("/token"),
        s.endpoint("/par"),
        s.endpoint("/introspect"),
        s.endpoint("/revoke"),
    ];
    if !claims.aud.any(|a| audiences.iter().any(|ours| ours == a)) {
        return Err(refused("the audience is not Passerelle"));
    }
    let now = state.clock.now();
    if claims.exp + LEEWAY < now
        || claims.exp > now + MAX_LIFETIME
        || claims.nbf.is_some_and(|nbf| nbf > now + LEEWAY)
    {
        return Err(refused(
            "expired, not yet valid, or living longer than 10 minutes",
        ));
    }
    let Some(client) = state.clients.get(&claims.sub).await? else {
        return Err(refused("unknown client"));
    };
    if !signed_by(state, &client, &jws).await? {
        return Err(refused(
            "the signature does not verify with the client's keys",
        ));
    }
    // Once only: the jti is remembered as long as the assertion could be presented again.
    if !once(state, &claims.sub, &claims.jti, claims.exp + LEEWAY).await? {
        return Err(refused("the assertion was already used (jti)"));
    }
    Ok(client)
}
