//! Extractors for pages: the signed-in console user, and posted forms whose CSRF token is
//! checked before anything else is read. Forms are typed (serde, with repeated fields as
//! `Vec`s and empty fields as `None`).

use super::console::{ConsoleUser, console_user};
use super::error::PageError;
use super::{browser, error_page};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum_extra::extract::CookieJar;
use serde::de::DeserializeOwned;

/// A posted form whose `csrf` field matched the browser's token; otherwise the request stops
/// at the expired-form page and nothing of the form is used.
pub struct CsrfForm<T>(pub T);

/// A form posted in the console: its CSRF token checked first, then the session (the login
/// page, the second factor or the administrators-only page otherwise), then its fields.
pub(in crate::web) struct ConsoleForm<T> {
    pub(in crate::web) user: ConsoleUser,
    pub(in crate::web) form: T,
}

impl<T: DeserializeOwned> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (jar, body) = checked_body(req, state).await?;
        drop(jar);
        Ok(Self(fields(&body)?))
    }
}

impl<T: DeserializeOwned> FromRequest<AppState> for ConsoleForm<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, PageError> {
        let (jar, body) = checked_body(req, state).await?;
        let user = console_user(state, &jar).await?;
        Ok(Self {
            user,
            form: fields(&body)?,
        })
    }
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let jar = CookieJar::from_headers(&parts.headers);
        console_user(state, &jar).await
    }
}

/// The body of a posted form, once its CSRF token is known to be the browser's.
async fn checked_body(req: Request, state: &AppState) -> Result<(CookieJar, Bytes), PageError> {
    let jar = CookieJar::from_headers(req.headers());
    let body = Bytes::from_request(req, state)
        .await
        .map_err(|e| PageError::from(e.into_response()))?;
    let pairs: Vec<(String, String)> = serde_html_form::from_bytes(&body).unwrap_or_default();
    let token = pairs
        .iter()
        .find(|(name, _)| name == "csrf")
        .map(|(_, value)| value.as_str());
    if !browser::csrf_valid(state, &jar, token) {
        return Err(super::login::expired_form().into());
    }
    Ok((jar, body))
}

fn fields<T: DeserializeOwned>(body: &[u8]) -> Result<T, PageError> {
    serde_html_form::from_bytes(body).map_err(|e| {
        tracing::debug!(error = %e, "malformed form");
        PageError::from(error_page(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Formulaire incomplet",
            "Le formulaire envoyé est incomplet ou contient une valeur inattendue.",
            "Revenez à la page précédente, rechargez-la et recommencez.",
        ))
    })
}
