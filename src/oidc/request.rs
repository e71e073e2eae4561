//! The parameters of an authorization request (OIDC Core §3.1.2.1), validated into an
//! `AuthorizationRequest` once the client and its redirect URI are known good: shared by
//! `/authorize` and `/par`, which validates a pushed request the same way.

use super::error::ErrorCode;
use super::params::Params;
use crate::flow;
use crate::store::{
    AuthorizationRequest, ClaimsRequest, ClientType, GrantType, PkcePolicy, ResponseMode, Service,
};
use crate::types::{RedirectUri, Scopes};

pub type Refusal = (ErrorCode, String);

pub fn refuse<T>(code: ErrorCode, description: impl Into<String>) -> Result<T, Refusal> {
    Err((code, description.into()))
}

pub enum Prompt {
    Default,
    None,
    Login,
}

pub struct Validated {
    pub request: AuthorizationRequest,
    pub prompt: Prompt,
    pub login_hint: Option<String>,
    pub id_token_hint: Option<String>,
}

pub fn validate(
    client: &Service,
    redirect_uri: &RedirectUri,
    params: &Params,
) -> Result<Validated, Refusal> {
    match params.get("response_type") {
        None => return refuse(ErrorCode::InvalidRequest, "response_type is required"),
        Some("code") => {}
        Some(other) => {
            return refuse(
                ErrorCode::UnsupportedResponseType,
                format!("response_type `{other}` is not supported: use `code`"),
            );
        }
    }
    let response_mode = response_mode(params)?;
    if !client.allows(GrantType::AuthorizationCode) {
        return refuse(
            ErrorCode::UnauthorizedClient,
            "this client may not use the authorization code grant",
        );
    }
    let scope = match params.get("scope").map(Scopes::parse) {
        None => {
            return refuse(
                ErrorCode::InvalidScope,
                "scope is required (at least `openid`)",
            );
        }
        Some(Err(e)) => return refuse(ErrorCode::InvalidScope, e.0),
        Some(Ok(s)) => s,
    };
    // Scopes this provider does not know are ignored, not refused (OIDC Core §3.1.2.1);
    // offline_access only for a client that may refresh (Core §11).
    let scope: Scopes = scope
        .iter()
        .filter(|s| super::claims::SUPPORTED_SCOPES.contains(s))
        .filter(|s| *s != super::claims::OFFLINE_ACCESS || client.allows(GrantType::RefreshToken))
        .map(str::to_owned)
        .collect();
    if scope.is_empty() {
        return refuse(
            ErrorCode::InvalidScope,
            format!(
                "none of the requested scopes is supported (supported: {})",
                super::claims::SUPPORTED_SCOPES.join(" ")
            ),
        );
    }
    let dpop_jkt = match params.get("dpop_jkt") {
        Some(jkt) if jkt.len() != 43 || !jkt.bytes().all(crate::crypto::is_base64url_byte) => {
            return refuse(
                ErrorCode::InvalidRequest,
                "dpop_jkt must be a base64url SHA-256 JWK thumbprint (43 characters)",
            );
        }
        jkt => jkt.map(str::to_owned),
    };
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    ) {
        (Some(challenge), Some("S256")) => {
            if challenge.len() != 43 || !challenge.bytes().all(crate::crypto::is_base64url_byte) {
                return refuse(
                    ErrorCode::InvalidRequest,
                    "code_challenge must be a base64url SHA-256 digest (43 characters)",
                );
            }
            Some(challenge.to_owned())
        }
        (Some(_), None) | (Some(_), Some("plain")) | (None, Some("plain")) => {
            return refuse(
                ErrorCode::InvalidRequest,
                "PKCE method `plain` is not supported: use code_challenge_method=S256",
            );
        }
        (_, Some(other)) if other != "S256" => {
            return refuse(
                ErrorCode::InvalidRequest,
                format!("code_challenge_method `{other}` is not supported: use S256"),
            );
        }
        (None, Some(_)) => {
            return refuse(
                ErrorCode::InvalidRequest,
                "code_challenge_method given without code_challenge",
            );
        }
        (None, None) => {
            if client.client_type == ClientType::Public || client.pkce == PkcePolicy::Required {
                return refuse(
                    ErrorCode::InvalidRequest,
                    "PKCE is required: send code_challenge with code_challenge_method=S256",
                );
            }
            None
        }
        (Some(_), Some(_)) => unreachable!("S256 handled above"),
    };
    let prompt_values: Vec<&str> = params
        .get("prompt")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .collect();
    if prompt_values.contains(&"none") && prompt_values.len() > 1 {
        return refuse(
            ErrorCode::InvalidRequest,
            "prompt=none cannot be combined with other values",
        );
    }
    let prompt = if prompt_values.contains(&"none") {
        Prompt::None
    } else if prompt_values.contains(&"login") {
        Prompt::Login
    } else {
        Prompt::Default
    };
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n >= 0 => Some(n),
            _ => {
                return refuse(
                    ErrorCode::InvalidRequest,
                    "max_age must be a non-negative number of seconds",
                );
            }
        },
    };
    let bounded = |name: &str, max: usize| -> Result<Option<String>, Refusal> {
        match params.get(name) {
            Some(v) if v.len() > max => refuse(
                ErrorCode::InvalidRequest,
                format!("{name} is longer than {max} characters"),
            ),
            v => Ok(v.map(str::to_owned)),
        }
    };
    let nonce = bounded("nonce", 512)?;
    let state = bounded("state", 2048)?;
    let login_hint = bounded("login_hint", 254)?;
    let id_token_hint = bounded("id_token_hint", 8192)?;
    let claims = match bounded("claims", 4096)? {
        None => ClaimsRequest::default(),
        Some(text) => super::claims::parse_claims_request(&text)
            .map_err(|e| (ErrorCode::InvalidRequest, e))?,
    };
    if !claims.acr_required.is_empty()
        && !claims
            .acr_required
            .iter()
            .any(|v| [flow::ACR_PASSWORD, flow::ACR_MFA].contains(&v.as_str()))
    {
        return refuse(
            ErrorCode::UnmetAuthenticationRequirements,
            format!(
                "none of the essential acr values is available (available: {} {})",
                flow::ACR_PASSWORD,
                flow::ACR_MFA
            ),
        );
    }
    let acr_values = params
        .get("acr_values")
        .unwrap_or_default()
        .split(' ')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    // display, ui_locales and claims_locales are accepted: pages exist in French only and
    // adapt to any display. Unknown parameters are ignored (OIDC Core §3.1.2.1).
    Ok(Validated {
        request: AuthorizationRequest {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            scope,
            state,
            nonce,
            code_challenge,
            acr_values,
            max_age,
            response_mode,
            claims,
            dpop_jkt,
        },
        prompt,
        login_hint,
        id_token_hint,
    })
}

/// The response mode asked for: `query` (the default) or `form_post`; `fragment` does not
/// apply to the code flow.
pub fn response_mode(params: &Params) -> Result<ResponseMode, Refusal> {
    match params.get("response_mode") {
        None | Some("query") => Ok(ResponseMode::Query),
        Some("form_post") => Ok(ResponseMode::FormPost),
        Some(mode) => refuse(
            ErrorCode::InvalidRequest,
            format!("response_mode `{mode}` is not supported: use `query` or `form_post`"),
        ),
    }
}
