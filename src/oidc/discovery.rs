//! OpenID Provider metadata (OIDC Discovery 1.0, RFC 8414) and the JWKS, built with
//! openidconnect's metadata types.

use super::claims::SUPPORTED_SCOPES;
use crate::flow::{ACR_MFA, ACR_PASSWORD};
use crate::state::AppState;
use crate::store::SigningAlg;
use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreJwsSigningAlgorithm, CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, AuthenticationContextClass, JsonWebKeySetUrl, LanguageTag,
    ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};

/// Metadata beyond OIDC Discovery's core fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExtraMetadata {
    pub code_challenge_methods_supported: Vec<String>,
    pub introspection_endpoint: String,
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    pub revocation_endpoint: String,
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    pub end_session_endpoint: String,
    pub authorization_response_iss_parameter_supported: bool,
    pub backchannel_logout_supported: bool,
    pub backchannel_logout_session_supported: bool,
    pub pushed_authorization_request_endpoint: String,
    pub dpop_signing_alg_values_supported: Vec<String>,
    /// Whether every client must push its requests; some must, by their registration.
    pub require_pushed_authorization_requests: bool,
}

impl AdditionalProviderMetadata for ExtraMetadata {}

pub type PasserelleProviderMetadata = ProviderMetadata<
    ExtraMetadata,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// The algorithms client assertions and request objects may be signed with (the MACs only by
/// clients provisioned for `client_secret_jwt`).
fn signed_by_clients() -> Vec<CoreJwsSigningAlgorithm> {
    super::client_keys::ALGORITHMS
        .iter()
        .chain(super::client_keys::MAC_ALGORITHMS.iter())
        .filter_map(|a| serde_json::from_value(serde_json::Value::String((*a).into())).ok())
        .collect()
}

pub fn metadata(state: &AppState) -> anyhow::Result<PasserelleProviderMetadata> {
    let s = &state.settings;
    let secret_methods = || {
        vec![
            "client_secret_basic".to_owned(),
            "client_secret_post".to_owned(),
            "private_key_jwt".to_owned(),
            "client_secret_jwt".to_owned(),
        ]
    };
    let extra = ExtraMetadata {
        code_challenge_methods_supported: vec!["S256".into()],
        introspection_endpoint: s.endpoint("/introspect"),
        introspection_endpoint_auth_methods_supported: secret_methods(),
        revocation_endpoint: s.endpoint("/revoke"),
        revocation_endpoint_auth_methods_supported: {
            let mut m = secret_methods();
            m.push("none".into());
            m
        },
        end_session_endpoint: s.endpoint("/logout"),
        authorization_response_iss_parameter_supported: true,
        backchannel_logout_supported: true,
        backchannel_logout_session_supported: true,
        pushed_authorization_request_endpoint: s.endpoint("/par"),
        dpop_signing_alg_values_supported: super::client_keys::ALGORITHMS
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        require_pushed_authorization_requests: false,
    };
    let claims = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "acr",
        "amr",
        "sid",
        "email",
        "email_verified",
        "given_name",
        "family_name",
        "name",
        "caf",
        "partner",
        "habilitations",
    ];
    Ok(PasserelleProviderMetadata::new(
        s.issuer_url.clone(),
        AuthUrl::new(s.endpoint("/authorize"))?,
        JsonWebKeySetUrl::new(s.endpoint("/jwks.json"))?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        SigningAlg::ALL
            .into_iter()
            .map(super::keys::jws_alg)
            .collect(),
        extra,
    )
    .set_token_endpoint(Some(TokenUrl::new(s.endpoint("/token"))?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(s.endpoint("/userinfo"))?))
    .set_scopes_supported(Some(
        SUPPORTED_SCOPES
            .iter()
            .map(|s| Scope::new((*s).to_owned()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![
        CoreResponseMode::Query,
        CoreResponseMode::FormPost,
    ]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
        CoreClientAuthMethod::PrivateKeyJwt,
        CoreClientAuthMethod::ClientSecretJwt,
        CoreClientAuthMethod::None,
    ]))
    .set_token_endpoint_auth_signing_alg_values_supported(Some(signed_by_clients()))
    .set_acr_values_supported(Some(vec![
        AuthenticationContextClass::new(ACR_PASSWORD.into()),
        AuthenticationContextClass::new(ACR_MFA.into()),
    ]))
    .set_claims_supported(Some(
        claims
            .iter()
            .map(|c| CoreClaimName::new((*c).to_owned()))
            .collect(),
    ))
    .set_claim_types_supported(Some(vec![CoreClaimType::Normal]))
    .set_ui_locales_supported(Some(vec![LanguageTag::new("fr".into())]))
    .set_claims_parameter_supported(Some(true))
    .set_request_parameter_supported(Some(true))
    .set_request_object_signing_alg_values_supported(Some(signed_by_clients()))
    // request_uri only as /par issued it: Passerelle never fetches a URL a request names.
    .set_request_uri_parameter_supported(Some(false))
    .set_require_request_uri_registration(Some(false)))
}

pub async fn openid_configuration(State(state): State<AppState>) -> Response {
    match metadata(&state) {
        Ok(m) => (
            [
                (header::CACHE_CONTROL, "public, max-age=300"),
                (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            ],
            Json(m),
        )
            .into_response(),
        Err(e) => crate::oidc::error::OAuthError::server_error(e).into_response(),
    }
}

pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [
            // Short, so that relying applications see a rotation quickly.
            (header::CACHE_CONTROL, "public, max-age=60"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        state.keys.jwks().to_string(),
    )
        .into_response()
}

/// The public keys Passerelle no longer signs with, for verifying old documents (review
/// reports, seals, attestations): never to be used for tokens, hence apart from the JWKS.
pub async fn retired_jwks(State(state): State<AppState>) -> Response {
    (
        [
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
            (header::CONTENT_TYPE, "application/jwk-set+json"),
        ],
        state.keys.retired_jwks().to_string(),
    )
        .into_response()
}
