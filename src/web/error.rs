//! What a page handler returns when it cannot show its page. Handlers return
//! `PageResult` and use `?`: a store or mail failure becomes the "service momentanément
//! indisponible" page (logged once, no detail shown), a refused console action the page that
//! says why, and a response already made (the login redirect, the expired-form page) passes
//! through unchanged.

use crate::accounts::lifecycle::LifecycleError;
use crate::habilitations::HabilitationError;
use crate::store::StoreError;
use axum::response::{IntoResponse, Redirect, Response};

#[derive(Debug)]
pub enum PageError {
    /// Unexpected: logged, shown as a 503 without details.
    Internal(String),
    /// A change the habilitation rules refused, or asked of something out of reach.
    Refused(HabilitationError),
    /// A page or redirect already made.
    Respond(Box<Response>),
}

pub type PageResult<T = Response> = Result<T, PageError>;

impl PageError {
    pub fn internal(error: impl std::fmt::Display) -> Self {
        Self::Internal(error.to_string())
    }

    /// Back to the login page (no session, or one that ended).
    pub fn login() -> Self {
        Self::Respond(Box::new(Redirect::to("/login").into_response()))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::Internal(e) => super::internal_error_page(e),
            PageError::Refused(e) => super::console::failure(e),
            PageError::Respond(r) => *r,
        }
    }
}

impl From<Response> for PageError {
    fn from(r: Response) -> Self {
        Self::Respond(Box::new(r))
    }
}

impl From<HabilitationError> for PageError {
    fn from(e: HabilitationError) -> Self {
        Self::Refused(e)
    }
}

macro_rules! internal {
    ($($t:ty),*) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> Self {
                Self::internal(e)
            }
        }
    )*};
}

internal!(StoreError, LifecycleError, anyhow::Error);
