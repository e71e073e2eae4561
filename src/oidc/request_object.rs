//! Request objects by value (OIDC Core §6.1, RFC 9101): the authorization parameters as the
//! claims of a JWT the client signs with a key it registered (`jwks`, `jwks_uri`), or MACs with
//! its secret (HS256) when it is provisioned for `client_secret_jwt`. Once
//! verified, its claims are the request: parameters beside it are not used (RFC 9101 §5),
//! `client_id` and `response_type` apart, which must agree. `request_uri` is only what `/par`
//! issued: Passerelle fetches no URL a request names.

use super::assertion;
use super::error::ErrorCode;
use super::params::Params;
use super::request::Refusal;
use crate::state::AppState;
use crate::store::Service;
use serde_json::Value;

/// The longest a request object may live (FAPI 2.0: at most 60 minutes).
const MAX_LIFETIME: i64 = 3600;
const LEEWAY: i64 = 60;
/// Claims about the object itself, not parameters of the request.
const ENVELOPE: [&str; 6] = ["iss", "aud", "exp", "nbf", "iat", "jti"];

fn invalid<T>(description: impl Into<String>) -> Result<T, Refusal> {
    Err((ErrorCode::InvalidRequestObject, description.into()))
}

/// The request's parameters: those of its `request` object when it has one, else `params`.
pub async fn resolve(
    state: &AppState,
    client: &Service,
    params: Params,
) -> Result<Params, Refusal> {
    let Some(jwt) = params.get("request") else {
        return Ok(params);
    };
    if !assertion::can_sign(client) {
        return invalid(
            "this client registered no key (jwks, jwks_uri) and no client_secret_jwt to sign request objects",
        );
    }
    let jws = match assertion::split_from_client(jwt) {
        Ok(jws) => jws,
        Err(why) => return invalid(format!("the request object is not a signed JWT: {why}")),
    };
    let signed = assertion::signed_by(state, client, &jws)
        .await
        .map_err(|e| (ErrorCode::InvalidRequestObject, e.description.into_owned()))?;
    if !signed {
        return invalid("the request object's signature does not verify with the client's keys");
    }
    let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(&jws.payload) else {
        return invalid("the request object's claims are not a JSON object");
    };
    let text = |name: &str| claims.get(name).and_then(Value::as_str);
    let client_id = client.client_id.as_str();
    if text("iss") != Some(client_id) {
        return invalid("the request object's iss must be the client_id");
    }
    let issuer = state.settings.issuer.as_str();
    let audience_ok = match claims.get("aud") {
        Some(Value::String(a)) => a == issuer,
        Some(Value::Array(all)) => all.iter().any(|a| a.as_str() == Some(issuer)),
        _ => false,
    };
    if !audience_ok {
        return invalid(format!("the request object's aud must be {issuer}"));
    }
    let now = state.clock.now();
    let Some(exp) = claims.get("exp").and_then(Value::as_i64) else {
        return invalid("the request object needs exp");
    };
    if exp + LEEWAY < now || exp > now + MAX_LIFETIME {
        return invalid("the request object has expired, or lives longer than 60 minutes");
    }
    if claims
        .get("nbf")
        .and_then(Value::as_i64)
        .is_some_and(|nbf| nbf > now + LEEWAY)
    {
        return invalid("the request object is not valid yet (nbf)");
    }
    if let Some(jti) = text("jti") {
        let first = assertion::once(state, client_id, jti, exp + LEEWAY)
            .await
            .map_err(|e| (ErrorCode::ServerError, e.description.into_owned()))?;
        if !first {
            return invalid("the request object was already used (jti)");
        }
    }
    for outer in ["client_id", "response_type"] {
        if let (Some(inside), Some(beside)) = (text(outer), params.get(outer))
            && inside != beside
        {
            return invalid(format!(
                "{outer} differs inside and beside the request object"
            ));
        }
    }
    let mut resolved = Params::default();
    for (name, value) in &claims {
        if ENVELOPE.contains(&name.as_str()) || name == "request" || name == "request_uri" {
            continue;
        }
        let value = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            // The claims parameter is itself a JSON object.
            Value::Object(_) => value.to_string(),
            Value::Null | Value::Array(_) => continue,
        };
        resolved.insert(name, value);
    }
    resolved.insert("client_id", client_id.to_owned());
    if resolved.get("response_type").is_none()
        && let Some(beside) = params.get("response_type")
    {
        resolved.insert("response_type", beside.to_owned());
    }
    Ok(resolved)
}
