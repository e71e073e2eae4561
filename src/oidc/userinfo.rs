//! The userinfo endpoint (OIDC Core §5.3): GET or POST with a bearer access token.

use super::claims::user_claims;
use super::error::{BearerError, ErrorCode};
use super::params::Params;
use super::tokens::{active_access_token, active_account};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};

fn bearer_error(code: ErrorCode, description: &'static str) -> BearerError {
    BearerError {
        code: Some(code),
        description,
        dpop: false,
    }
}

fn dpop_error(code: ErrorCode, description: &'static str) -> BearerError {
    BearerError {
        dpop: true,
        ..bearer_error(code, description)
    }
}

/// A token bound to a DPoP key is used with the DPoP scheme and a proof by that key (RFC
/// 9449 §7); an unbound one with Bearer.
async fn check_binding(
    state: &AppState,
    (method, headers): (&Method, &HeaderMap),
    (token, dpop_scheme): (&str, bool),
    jkt: Option<&str>,
) -> Result<(), BearerError> {
    use super::dpop::{Expected, ProofError, verify};
    match (jkt, dpop_scheme) {
        (None, false) => Ok(()),
        (None, true) => Err(bearer_error(
            ErrorCode::InvalidToken,
            "this token is not bound to a DPoP key: use the Bearer scheme",
        )),
        (Some(_), false) => Err(dpop_error(
            ErrorCode::InvalidToken,
            "this token is bound to a DPoP key: use the DPoP scheme with a proof",
        )),
        (Some(jkt), true) => {
            let proof = headers
                .get("dpop")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| {
                    dpop_error(ErrorCode::InvalidDpopProof, "a DPoP proof is required")
                })?;
            let url = state.settings.endpoint("/userinfo");
            let expected = Expected {
                method: method.as_str(),
                url: &url,
                access_token: Some(token),
                nonce: false,
            };
            match verify(state, proof, &expected).await {
                Ok(key) if key == jkt => Ok(()),
                Ok(_) => Err(dpop_error(
                    ErrorCode::InvalidDpopProof,
                    "the proof is signed by another key than the token's",
                )),
                Err(ProofError::Invalid(why)) => Err(dpop_error(ErrorCode::InvalidDpopProof, why)),
                Err(ProofError::UseNonce) => Err(dpop_error(
                    ErrorCode::InvalidDpopProof,
                    "the proof needs a nonce",
                )),
            }
        }
    }
}

/// The access token of a request: the Authorization header (Bearer or DPoP, which it says),
/// or for a form POST the `access_token` body parameter (RFC 6750 §2.1–2.2), never both.
fn bearer_token(
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, bool), BearerError> {
    let from_header = match headers.get(header::AUTHORIZATION) {
        Some(value) => {
            let value = value.to_str().map_err(|_| {
                bearer_error(ErrorCode::InvalidRequest, "malformed Authorization header")
            })?;
            match value.split_once(' ') {
                Some((scheme, token))
                    if (scheme.eq_ignore_ascii_case("bearer")
                        || scheme.eq_ignore_ascii_case("dpop"))
                        && !token.trim().is_empty() =>
                {
                    Some((token.trim().to_owned(), scheme.eq_ignore_ascii_case("dpop")))
                }
                _ => {
                    return Err(bearer_error(
                        ErrorCode::InvalidRequest,
                        "use the Bearer scheme",
                    ));
                }
            }
        }
        None => None,
    };
    let from_body = if method == Method::POST && super::token::require_form(headers).is_ok() {
        Params::parse(body)
            .map_err(|_| bearer_error(ErrorCode::InvalidRequest, "malformed form body"))?
            .take("access_token")
    } else {
        None
    };
    match (from_header, from_body) {
        (Some(_), Some(_)) => Err(bearer_error(
            ErrorCode::InvalidRequest,
            "send the token once only",
        )),
        (Some(t), None) => Ok(t),
        (None, Some(t)) => Ok((t, false)),
        (None, None) => Err(BearerError {
            code: None,
            description: "",
            dpop: false,
        }),
    }
}

pub async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (token, dpop_scheme) = match bearer_token(&method, &headers, &body) {
        Ok(t) => t,
        Err(e) => return e.into_response(),
    };
    let result = async {
        let Some(record) = active_access_token(&state, &token).await? else {
            return Ok(Err(bearer_error(
                ErrorCode::InvalidToken,
                "the access token is invalid, expired or revoked",
            )));
        };
        if let Err(e) = check_binding(
            &state,
            (&method, &headers),
            (&token, dpop_scheme),
            record.jkt.as_deref(),
        )
        .await
        {
            return Ok(Err(e));
        }
        let Some(account_id) = &record.account else {
            return Ok(Err(bearer_error(
                ErrorCode::InsufficientScope,
                "this token does not act for a person",
            )));
        };
        if !record.scope.contains("openid") {
            return Ok(Err(bearer_error(
                ErrorCode::InsufficientScope,
                "the openid scope is required",
            )));
        }
        let Some(account) = active_account(&state, account_id).await? else {
            return Ok(Err(bearer_error(
                ErrorCode::InvalidToken,
                "the account may no longer log in",
            )));
        };
        user_claims(
            &state,
            &account,
            &record.client_id,
            &record.scope,
            &record.claims,
            None,
        )
        .await
        .map(Ok)
    }
    .await;
    match result {
        Ok(Ok(claims)) => ([(header::CACHE_CONTROL, "no-store")], Json(claims)).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => {
            tracing::error!(error = %e, "userinfo failed on a store error");
            bearer_error(ErrorCode::ServerError, "internal error").into_response()
        }
    }
}
