//! What a page handler returns when it cannot show its page. Handlers return
//! `PageResult` and use `?`: a store or mail failure becomes the "service momentanément
//! indisponible" page (logged once, no detail shown), a refused console action the page that
//! says why, and a response already made (the login redirect, the expired-form page) passes
//! through unchanged.

use super::frame::page;
use crate::accounts::lifecycle::LifecycleError;
use crate::habilitations::HabilitationError;
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{Markup, html};

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
            PageError::Internal(e) => internal_error_page(e),
            PageError::Refused(e) => failure(e),
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

/// A page that explains a failure in words a non-technical person can act on.
pub fn error_page(status: StatusCode, title: &str, message: &str, advice: &str) -> Response {
    let advice = html! { @if !advice.is_empty() { p { (advice) } } };
    error_page_with(status, title, message, advice)
}

/// `error_page` whose advice holds links.
pub fn error_page_with(status: StatusCode, title: &str, message: &str, advice: Markup) -> Response {
    let body = html! {
        div class="error" role="alert" {
            p { (message) }
        }
        (advice)
    };
    (status, Html(page(title, body).into_string())).into_response()
}

/// The page of a person who holds no active habilitation for the service they came from.
pub fn not_habilitated_page(service: &str) -> Response {
    error_page(
        StatusCode::FORBIDDEN,
        "Accès non habilité",
        &format!("Votre compte n'a pas d'habilitation active pour le service « {service} »."),
        "Si vous devez y accéder, demandez-la à l'administrateur des habilitations de votre organisme (ou à votre Caf). Vous restez connecté à vos autres services.",
    )
}

/// The page for an unexpected internal error (most often a store out of reach): logged once,
/// shown without details, as a 503 the browser may retry.
pub fn internal_error_page(error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "internal error on a page");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Service momentanément indisponible",
        "Une erreur interne empêche de traiter votre demande.",
        "Réessayez dans quelques minutes. Si le problème persiste, contactez votre Caf.",
    )
}

/// The answer to a form whose CSRF token does not verify.
pub fn expired_form() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Page expirée",
        "Le formulaire n'a pas pu être vérifié : la page a expiré, ou votre navigateur refuse les cookies.",
        "Revenez à la page précédente, rechargez-la et recommencez. Passerelle a besoin des cookies pour fonctionner.",
    )
}

tokio::task_local! {
    /// The console page a form was posted from (from `Referer`, same host, under
    /// `/console`), for the refusal page's way back.
    static CAME_FROM: Option<String>;
}

/// Remembers, while a console request is handled, the console page it came from.
pub async fn remember_page(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let headers = request.headers();
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let came_from = headers
        .get(axum::http::header::REFERER)
        .and_then(|r| r.to_str().ok())
        .and_then(|r| url::Url::parse(r).ok())
        .filter(|u| {
            let authority = match u.port() {
                Some(port) => format!("{}:{port}", u.host_str().unwrap_or_default()),
                None => u.host_str().unwrap_or_default().to_owned(),
            };
            Some(authority.as_str()) == host && u.path().starts_with("/console")
        })
        .map(|u| match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_owned(),
        })
        .filter(|p| *p != request.uri().path());
    let mut response = CAME_FROM.scope(came_from, next.run(request)).await;
    // Console pages carry no code or token in their address: the browser may tell the
    // console which of its pages a form came from, and no one else.
    response.headers_mut().insert(
        axum::http::header::REFERRER_POLICY,
        axum::http::HeaderValue::from_static("same-origin"),
    );
    response
}

/// A refused or failed change, as a page that says why and links back.
pub fn failure(e: HabilitationError) -> Response {
    let (status, title) = match &e {
        HabilitationError::NotFound(_) => (StatusCode::NOT_FOUND, "Introuvable"),
        HabilitationError::Forbidden(_) => (StatusCode::FORBIDDEN, "Action non permise"),
        HabilitationError::Invalid(_) | HabilitationError::Lifecycle(_) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Demande incomplète ou impossible",
        ),
        HabilitationError::QuotaReached { .. } => (StatusCode::CONFLICT, "Quota atteint"),
        HabilitationError::SharedAddress(_) => {
            (StatusCode::UNPROCESSABLE_ENTITY, "Adresse partagée")
        }
        HabilitationError::Conflict(_) => (StatusCode::CONFLICT, "Action impossible"),
        HabilitationError::Store(_) => return internal_error_page(e),
    };
    if let HabilitationError::Lifecycle(l) = &e
        && !matches!(l, crate::accounts::lifecycle::LifecycleError::Invalid(_))
    {
        return internal_error_page(e);
    }
    let message = crate::labels::refusal(&e);
    let back = CAME_FROM.try_with(|c| c.clone()).ok().flatten();
    let body = html! {
        div class="error" role="alert" { p { (message) } }
        @if let Some(back) = back {
            p { "Ce que vous aviez saisi est encore dans le formulaire : revenez-y avec le bouton « Retour » de votre navigateur, ou " a href=(back) { "rouvrez la page" } "." }
        }
        p { a href="/console" { "Revenir à l'accueil de la console" } }
    };
    (
        status,
        Html(super::frame::console(title, None, body).into_string()),
    )
        .into_response()
}
