//! ID tokens, built with openidconnect's claim types and signed by our aws-lc-rs keys.

use super::claims::{PasserelleClaims, UserClaims};
use crate::state::AppState;
use crate::store::SigningAlg;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, Audience, AuthenticationContextClass, AuthenticationMethodReference, EndUserEmail,
    EndUserFamilyName, EndUserGivenName, EndUserName, IdToken, IdTokenClaims, Nonce,
    StandardClaims, SubjectIdentifier,
};

type PasserelleIdToken = IdToken<
    PasserelleClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

pub struct IdTokenInput<'a> {
    pub client_id: &'a str,
    pub alg: SigningAlg,
    pub claims: UserClaims,
    pub sid: &'a str,
    pub nonce: Option<&'a str>,
    pub auth_time: i64,
    pub acr: &'a str,
    pub amr: &'a [String],
    pub access_token: &'a str,
    pub now: i64,
}

fn at(ts: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default()
}

pub fn issue(state: &AppState, input: IdTokenInput<'_>) -> anyhow::Result<String> {
    let key = state
        .keys
        .active(input.alg)
        .ok_or_else(|| anyhow::anyhow!("no active {} signing key", input.alg.as_str()))?;
    let c = input.claims;
    let mut standard = StandardClaims::new(SubjectIdentifier::new(c.sub));
    if let Some(email) = c.email {
        standard = standard
            .set_email(Some(EndUserEmail::new(email)))
            .set_email_verified(c.email_verified);
    }
    if let Some(given) = c.given_name {
        standard = standard.set_given_name(Some(EndUserGivenName::new(given).into()));
    }
    if let Some(family) = c.family_name {
        standard = standard.set_family_name(Some(EndUserFamilyName::new(family).into()));
    }
    if let Some(name) = c.name {
        standard = standard.set_name(Some(EndUserName::new(name).into()));
    }
    let extra = PasserelleClaims {
        sid: Some(input.sid.to_owned()),
        ..c.extra
    };
    let claims = IdTokenClaims::new(
        state.settings.issuer_url.clone(),
        vec![Audience::new(input.client_id.to_owned())],
        at(input.now + state.settings.id_token_ttl as i64),
        at(input.now),
        standard,
        extra,
    )
    .set_auth_time(Some(at(input.auth_time)))
    .set_nonce(input.nonce.map(|n| Nonce::new(n.to_owned())))
    .set_auth_context_ref(Some(AuthenticationContextClass::new(input.acr.to_owned())))
    .set_auth_method_refs(Some(
        input
            .amr
            .iter()
            .map(|m| AuthenticationMethodReference::new(m.clone()))
            .collect(),
    ));
    let token = PasserelleIdToken::new(
        claims,
        key.as_ref(),
        key.jws_alg(),
        Some(&AccessToken::new(input.access_token.to_owned())),
        None,
    )?;
    Ok(token.to_string())
}

/// What an `id_token_hint` tells: verified against our published keys, expiry ignored.
#[derive(Debug, Clone)]
pub struct IdTokenHint {
    pub sub: String,
    pub audiences: Vec<String>,
    pub sid: Option<String>,
}

pub fn parse_hint(state: &AppState, token: &str) -> Option<IdTokenHint> {
    let payload = state.keys.verify_compact(token)?;
    if payload.get("iss")?.as_str()? != state.settings.issuer {
        return None;
    }
    let audiences = match payload.get("aud")? {
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => return None,
    };
    Some(IdTokenHint {
        sub: payload.get("sub")?.as_str()?.to_owned(),
        audiences,
        sid: payload
            .get("sid")
            .and_then(|s| s.as_str())
            .map(str::to_owned),
    })
}
