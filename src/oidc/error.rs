//! OAuth 2.0 / OpenID Connect error codes, defined once (RFC 6749 §5.2, RFC 6750 §3.1,
//! OIDC Core §3.1.2.6, RFC 7009 §2.2.1).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    UnsupportedResponseType,
    UnsupportedTokenType,
    InvalidScope,
    AccessDenied,
    ServerError,
    TemporarilyUnavailable,
    LoginRequired,
    InteractionRequired,
    RequestNotSupported,
    RequestUriNotSupported,
    InvalidToken,
    InsufficientScope,
    /// OpenID Connect Core Unmet Authentication Requirements 1.0: an essential `acr` that
    /// Passerelle has not.
    UnmetAuthenticationRequirements,
    /// RFC 9101 §6.3: a request object that does not verify.
    InvalidRequestObject,
    /// RFC 9449 §7.1 and §8: a DPoP proof that does not verify, or one without the nonce
    /// Passerelle asks for.
    InvalidDpopProof,
    UseDpopNonce,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

/// An error answered as JSON by the token, introspection and revocation endpoints.
#[derive(Debug, Clone)]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: Cow<'static, str>,
    /// For `invalid_client`: the client tried HTTP Basic, so the answer is 401 with a challenge.
    pub basic_challenge: bool,
    /// A DPoP nonce to hand the client (`DPoP-Nonce`), with `use_dpop_nonce`.
    pub dpop_nonce: Option<String>,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            description: description.into(),
            basic_challenge: false,
            dpop_nonce: None,
        }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    pub fn invalid_grant(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    pub fn invalid_client() -> Self {
        Self {
            code: ErrorCode::InvalidClient,
            description: "client authentication failed".into(),
            basic_challenge: true,
            dpop_nonce: None,
        }
    }

    /// An unexpected failure: logged once here, reported without details.
    pub fn server_error(error: impl std::fmt::Display) -> Self {
        tracing::error!(error = %error, "internal error on a protocol endpoint");
        Self::new(ErrorCode::ServerError, "internal error, try again later")
    }

    fn status(&self) -> StatusCode {
        match self.code {
            ErrorCode::InvalidClient => StatusCode::UNAUTHORIZED,
            ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<crate::store::StoreError> for OAuthError {
    /// A store that cannot be reached (PostgreSQL or Redis away) is a temporary condition:
    /// 503 `temporarily_unavailable`, and the client may retry.
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Backend(e) => {
                tracing::error!(error = %format!("{e:#}"), "store unavailable on a protocol endpoint");
                Self::new(
                    ErrorCode::TemporarilyUnavailable,
                    "temporarily unavailable, try again later",
                )
            }
            other => Self::server_error(other),
        }
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": self.code.as_str(),
            "error_description": self.description,
        });
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(nonce) = self
            .dpop_nonce
            .as_deref()
            .and_then(|n| HeaderValue::from_str(n).ok())
        {
            headers.insert("dpop-nonce", nonce);
        }
        if self.code == ErrorCode::InvalidClient && self.basic_challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"passerelle\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

/// An error at a resource endpoint protected by a bearer token (RFC 6750 §3).
#[derive(Debug)]
pub struct BearerError {
    pub code: Option<ErrorCode>,
    pub description: &'static str,
    /// The challenge names the DPoP scheme (RFC 9449 §7.1) rather than Bearer.
    pub dpop: bool,
}

impl IntoResponse for BearerError {
    fn into_response(self) -> Response {
        let (status, challenge) = match self.code {
            None => (
                StatusCode::UNAUTHORIZED,
                if self.dpop {
                    format!("DPoP algs=\"{}\"", super::client_keys::ALGORITHMS.join(" "))
                } else {
                    "Bearer realm=\"passerelle\"".to_owned()
                },
            ),
            Some(code) => {
                let status = match code {
                    ErrorCode::InsufficientScope => StatusCode::FORBIDDEN,
                    ErrorCode::InvalidRequest => StatusCode::BAD_REQUEST,
                    ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
                    _ => StatusCode::UNAUTHORIZED,
                };
                (
                    status,
                    format!(
                        "{} error=\"{}\", error_description=\"{}\"",
                        if self.dpop {
                            format!(
                                "DPoP algs=\"{}\",",
                                super::client_keys::ALGORITHMS.join(" ")
                            )
                        } else {
                            "Bearer realm=\"passerelle\",".to_owned()
                        },
                        code.as_str(),
                        self.description
                    ),
                )
            }
        };
        // The same error in a JSON body, for clients that read bodies rather than headers; a
        // request without a token says so there only (RFC 6750 §3.1: no error in the header).
        let body = serde_json::json!({
            "error": self.code.unwrap_or(ErrorCode::InvalidToken).as_str(),
            "error_description": if self.code.is_some() {
                self.description
            } else {
                "a bearer access token is required"
            },
        });
        let mut response = (status, axum::Json(body)).into_response();
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_str(&challenge).expect("challenge is ASCII"),
        );
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }
}
