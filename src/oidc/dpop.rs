//! DPoP (RFC 9449): tokens bound to a key the client holds. Each request carries a proof, a
//! JWT signed with that key (its public half in the header), naming the method and URL, fresh
//! (`iat`), used once (`jti`), and at the token and pushed-request endpoints carrying a nonce
//! Passerelle issued (`DPoP-Nonce`), so that a proof cannot be made in advance. Userinfo asks
//! for no nonce: the proof there names the access token (`ath`) and is single use. Tokens issued with a proof carry
//! the key's thumbprint (RFC 7638, `cnf.jkt`); using them needs a proof by the same key, with
//! the token's hash (`ath`).

use super::assertion;
use super::error::{ErrorCode, OAuthError};
use crate::crypto::{b64url, hmac_sign, sha256};
use crate::state::AppState;
use axum::http::HeaderMap;
use openidconnect::JsonWebKey;
use openidconnect::core::{CoreJsonWebKey, CoreJwsSigningAlgorithm};
use serde_json::Value;

/// How old (or how far ahead) a proof's `iat` may be.
const WINDOW: i64 = 120;
/// Nonces change every NONCE_PERIOD seconds; the current and the previous one are accepted.
const NONCE_PERIOD: i64 = 300;

/// Why a proof is refused: `use_dpop_nonce` when only the nonce is missing or stale (the
/// client retries with the one in the `DPoP-Nonce` header), else `invalid_dpop_proof`.
#[derive(Debug, PartialEq, Eq)]
pub enum ProofError {
    UseNonce,
    Invalid(&'static str),
}

/// What a request's proof is checked against.
pub struct Expected<'a> {
    pub method: &'a str,
    /// The endpoint's URL, without query or fragment.
    pub url: &'a str,
    /// The access token presented with the proof (resource requests), for `ath`.
    pub access_token: Option<&'a str>,
    /// Whether the proof must carry a nonce Passerelle issued (the token endpoint).
    pub nonce: bool,
}

/// The nonce of the period `at` falls in (stateless: an HMAC of the period, so every replica
/// issues and accepts the same).
fn nonce_at(state: &AppState, at: i64) -> String {
    let period = at.div_euclid(NONCE_PERIOD);
    b64url(&hmac_sign(
        &state.csrf_key,
        format!("dpop-nonce:{period}").as_bytes(),
    ))
}

/// The nonce to send in `DPoP-Nonce` now.
pub fn nonce(state: &AppState) -> String {
    nonce_at(state, state.clock.now())
}

fn nonce_ok(state: &AppState, presented: &str) -> bool {
    let now = state.clock.now();
    [now, now - NONCE_PERIOD].iter().any(|at| {
        crate::crypto::constant_time_eq(nonce_at(state, *at).as_bytes(), presented.as_bytes())
    })
}

/// The RFC 7638 thumbprint of a public JWK: SHA-256 of its required members, in order.
pub fn thumbprint(jwk: &Value) -> Option<String> {
    let member = |name: &str| jwk.get(name).and_then(Value::as_str);
    let canonical = match member("kty")? {
        "EC" => format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            member("crv")?,
            member("x")?,
            member("y")?
        ),
        "RSA" => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            member("e")?,
            member("n")?
        ),
        "OKP" => format!(
            r#"{{"crv":"{}","kty":"OKP","x":"{}"}}"#,
            member("crv")?,
            member("x")?
        ),
        _ => return None,
    };
    Some(b64url(&sha256(canonical.as_bytes())))
}

/// Checks a DPoP proof; answers the thumbprint of its key.
pub async fn verify(
    state: &AppState,
    proof: &str,
    expected: &Expected<'_>,
) -> Result<String, ProofError> {
    use ProofError::Invalid;
    let jws = assertion::split(proof).map_err(Invalid)?;
    let header: Value = proof
        .split('.')
        .next()
        .and_then(crate::crypto::b64url_decode)
        .and_then(|h| serde_json::from_slice(&h).ok())
        .ok_or(Invalid("the header does not parse"))?;
    if header["typ"] != "dpop+jwt" {
        return Err(Invalid("typ must be dpop+jwt"));
    }
    let jwk = header
        .get("jwk")
        .ok_or(Invalid("the header needs the public jwk"))?;
    if ["d", "p", "q", "dp", "dq", "qi", "k"]
        .iter()
        .any(|private| jwk.get(private).is_some())
    {
        return Err(Invalid("the jwk must be a public key"));
    }
    let key: CoreJsonWebKey =
        serde_json::from_value(jwk.clone()).map_err(|_| Invalid("the jwk does not parse"))?;
    let alg: CoreJwsSigningAlgorithm = serde_json::from_value(header["alg"].clone())
        .map_err(|_| Invalid("algorithm not accepted"))?;
    let signed = &proof[..proof.rfind('.').expect("three parts")];
    let signature = proof
        .rsplit('.')
        .next()
        .and_then(crate::crypto::b64url_decode)
        .ok_or(Invalid("the signature is not base64url"))?;
    key.verify_signature(&alg, signed.as_bytes(), &signature)
        .map_err(|_| Invalid("the signature does not verify with its jwk"))?;
    let claims: Value =
        serde_json::from_slice(&jws.payload).map_err(|_| Invalid("the claims do not parse"))?;
    if claims["htm"].as_str() != Some(expected.method) {
        return Err(Invalid("htm is not this request's method"));
    }
    let htu = claims["htu"].as_str().unwrap_or_default();
    let htu = htu.split(['?', '#']).next().unwrap_or_default();
    if htu != expected.url {
        return Err(Invalid("htu is not this endpoint"));
    }
    let now = state.clock.now();
    let iat = claims["iat"].as_i64().ok_or(Invalid("iat is required"))?;
    if (now - iat).abs() > WINDOW {
        return Err(Invalid("iat is too far from now"));
    }
    if let Some(token) = expected.access_token {
        let ath = b64url(&sha256(token.as_bytes()));
        if claims["ath"].as_str() != Some(ath.as_str()) {
            return Err(Invalid("ath is not the hash of the access token"));
        }
    }
    if expected.nonce && !claims["nonce"].as_str().is_some_and(|n| nonce_ok(state, n)) {
        return Err(ProofError::UseNonce);
    }
    let jti = claims["jti"].as_str().ok_or(Invalid("jti is required"))?;
    let jkt = thumbprint(jwk).ok_or(Invalid("the jwk has no thumbprint"))?;
    let first = assertion::once(state, &format!("dpop:{jkt}"), jti, now + WINDOW)
        .await
        .map_err(|_| Invalid("the proof could not be recorded"))?;
    if !first {
        return Err(Invalid("the proof was already used (jti)"));
    }
    Ok(jkt)
}

/// A refusal at an authorization-server endpoint, with the nonce to use next (RFC 9449 §8).
pub fn refusal(state: &AppState, code: ErrorCode, description: &'static str) -> OAuthError {
    OAuthError {
        dpop_nonce: Some(nonce(state)),
        ..OAuthError::new(code, description)
    }
}

/// The thumbprint of the key of the request's DPoP proof, if it sent one, checked for a POST
/// to `path` (`/token`, `/par`) with a current nonce.
pub async fn key_of_proof(
    state: &AppState,
    headers: &HeaderMap,
    path: &str,
) -> Result<Option<String>, OAuthError> {
    let Some(proof) = headers.get("dpop") else {
        return Ok(None);
    };
    let proof = proof.to_str().map_err(|_| {
        refusal(
            state,
            ErrorCode::InvalidDpopProof,
            "the DPoP header is not text",
        )
    })?;
    let url = state.settings.endpoint(path);
    let expected = Expected {
        method: "POST",
        url: &url,
        access_token: None,
        nonce: true,
    };
    match verify(state, proof, &expected).await {
        Ok(jkt) => Ok(Some(jkt)),
        Err(ProofError::UseNonce) => Err(refusal(
            state,
            ErrorCode::UseDpopNonce,
            "the DPoP proof must carry the nonce given in the DPoP-Nonce header",
        )),
        Err(ProofError::Invalid(why)) => Err(refusal(state, ErrorCode::InvalidDpopProof, why)),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn thumbprint_of_rfc7638_example() {
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            super::thumbprint(&jwk).unwrap(),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }
}
