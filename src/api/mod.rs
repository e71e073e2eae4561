//! The admin API: JSON under `/api/v1`, described by the OpenAPI document served at
//! `/api/v1/openapi.json`. Callers authenticate with a personal API token
//! (`accounts::api_token`) and act as that person: the same `habilitations::access` rules as
//! the console apply, and every change is attributed to them.
//!
//! Architecture Invariant: handlers here translate HTTP to calls of `habilitations::manage`
//! and back; they decide nothing about rights themselves.

mod dashboard;
mod routes;
mod traces;
mod views;

use crate::habilitations::{Actor, HabilitationError};
use crate::state::AppState;
use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

pub use routes::ApiDoc;

pub fn router() -> Router<AppState> {
    routes::router().merge(traces::router())
}

/// An error as RFC 9457 problem details, with a stable `code` for scripts and a French
/// `detail` for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: String,
    ) -> Self {
        Self {
            kind: "about:blank",
            title,
            status: status.as_u16(),
            code,
            detail,
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut response = (status, axum::Json(&self)).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        response
    }
}

/// Every failure of an API call.
#[derive(Debug)]
pub struct ApiError(pub(crate) Problem);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.0.into_response()
    }
}

impl ApiError {
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self(Problem::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Requête invalide",
            detail.into(),
        ))
    }

    pub fn unauthenticated(detail: &str) -> Self {
        Self(Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "Authentification requise",
            detail.to_owned(),
        ))
    }
}

impl From<HabilitationError> for ApiError {
    fn from(e: HabilitationError) -> Self {
        let detail = crate::labels::refusal(&e);
        Self(match e {
            HabilitationError::NotFound(_) => {
                Problem::new(StatusCode::NOT_FOUND, "not_found", "Introuvable", detail)
            }
            HabilitationError::Forbidden(_) => Problem::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Action non permise",
                detail,
            ),
            HabilitationError::Invalid(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Demande impossible",
                detail,
            ),
            HabilitationError::SharedAddress(_) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "shared_address",
                "Adresse partagée",
                format!("{detail} (API : envoyez `\"named_person\": true` pour confirmer.)"),
            ),
            HabilitationError::QuotaReached { .. } => Problem::new(
                StatusCode::CONFLICT,
                "quota_reached",
                "Quota atteint",
                detail,
            ),
            HabilitationError::Conflict(_) => {
                Problem::new(StatusCode::CONFLICT, "conflict", "Conflit", detail)
            }
            HabilitationError::Lifecycle(crate::accounts::lifecycle::LifecycleError::Invalid(
                m,
            )) => Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid",
                "Demande impossible",
                m,
            ),
            HabilitationError::Store(crate::store::StoreError::Backend(e)) => {
                tracing::error!(error = %format!("{e:#}"), "store unavailable on the admin API");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service momentanément indisponible",
                    "Le stockage ne répond pas ; réessayez dans quelques instants.".into(),
                )
            }
            other => {
                tracing::error!(error = %other, "admin API failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal_error",
                    "Erreur interne",
                    "Une erreur interne est survenue ; elle a été consignée.".into(),
                )
            }
        })
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        HabilitationError::Store(e).into()
    }
}

/// The person an API call acts for, from its `Authorization: Bearer` personal API token.
pub struct ApiActor(pub Actor);

impl FromRequestParts<AppState> for ApiActor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::unauthenticated("Présentez un jeton d'API personnel."))?;
        let secret = value
            .strip_prefix("Bearer ")
            .ok_or_else(|| ApiError::unauthenticated("Le jeton se présente en « Bearer »."))?;
        let token = crate::accounts::api_token::authenticate(state, secret.trim())
            .await?
            .ok_or_else(|| ApiError::unauthenticated("Jeton inconnu, expiré ou révoqué."))?;
        let account = state
            .stores
            .accounts
            .get_account(&token.account)
            .await?
            .ok_or_else(|| ApiError::unauthenticated("Jeton inconnu, expiré ou révoqué."))?;
        match Actor::of(state, account).await {
            Ok(actor) => Ok(ApiActor(actor)),
            Err(HabilitationError::Forbidden(_)) => Err(ApiError::unauthenticated(
                "Ce compte n'a plus de rôle d'administration ou ne peut plus se connecter.",
            )),
            Err(e) => Err(e.into()),
        }
    }
}

/// A JSON body whose rejections are problem details too.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "Corps JSON invalide : {}",
                rejection.body_text()
            ))),
        }
    }
}
