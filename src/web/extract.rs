//! Extractors for pages: the signed-in console user, and posted forms whose CSRF token is
//! checked before anything else is read. Forms are typed (serde, with repeated fields as
//! `Vec`s and empty fields as `None`).

use super::error::PageError;
use super::error::{PageResult, error_page};
use crate::flow::ACR_MFA;
use crate::habilitations::{Actor, HabilitationError};
use crate::session::{self, browser};
use crate::state::AppState;
use crate::store::{Account, Session};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::response::Redirect;
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
    /// The fields as posted, to carry them through a confirmation step.
    pub(in crate::web) raw: Vec<(String, String)>,
}

impl<T> ConsoleForm<T> {
    /// Whether the person confirmed a destructive action (`confirme=oui`).
    pub(in crate::web) fn confirmed(&self) -> bool {
        self.raw.iter().any(|(k, v)| k == "confirme" && v == "oui")
    }

    /// Whether to ask for confirmation first: not yet confirmed, and (when the action needs a
    /// reason) with its reason given, so that a missing reason is said before, not after.
    pub(in crate::web) fn asks_confirmation(&self, reason_required: bool) -> bool {
        !self.confirmed()
            && (!reason_required
                || self
                    .raw
                    .iter()
                    .any(|(k, v)| k == "reason" && !v.trim().is_empty()))
    }
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
            raw: serde_html_form::from_bytes(&body).unwrap_or_default(),
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
        return Err(super::error::expired_form().into());
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

/// The person using the console, with the CSRF token of their browser and when their session
/// closes if they do nothing more.
pub struct ConsoleUser {
    pub actor: Actor,
    pub csrf: String,
    pub session_ends_at: i64,
}

/// The console's user, or the page that sends them where they must go first: the login page,
/// the second factor, or an explanation that the console is for administrators.
pub async fn console_user(state: &AppState, jar: &CookieJar) -> PageResult<ConsoleUser> {
    let (current, account) = signed_in(state, jar).await?;
    let admin = !account.profile.admin_roles.is_empty();
    let passkey_only = admin && state.settings.phishing_resistant_for_administrators;
    let missing = if passkey_only {
        !crate::flow::phishing_resistant(&current)
    } else {
        admin && state.settings.mfa_for_administrators && current.acr != ACR_MFA
    };
    if missing {
        let enrolled = if passkey_only {
            !state
                .stores
                .passkeys
                .passkeys_of(&account.id)
                .await?
                .is_empty()
        } else {
            crate::accounts::passkey::has_second_factor(&state.stores, &account).await?
        };
        return Err(Redirect::to(match (enrolled, passkey_only) {
            (true, _) => "/login/otp",
            (false, true) => "/compte/cles-d-acces",
            (false, false) => "/compte/double-authentification",
        })
        .into_response()
        .into());
    }
    let actor = Actor::of(state, account).await.map_err(|e| match e {
        HabilitationError::Forbidden(_) => PageError::from(error_page(
            StatusCode::FORBIDDEN,
            "Console réservée",
            "La console d'administration est réservée aux personnes chargées des habilitations et aux responsables sécurité.",
            "Pour utiliser les services de la Caf, revenez à l'application concernée.",
        )),
        other => other.into(),
    })?;
    // This request is activity: the session closes `idle` from now (or at its end).
    let mut current = current;
    current.last_seen = state.clock.now();
    Ok(ConsoleUser {
        actor,
        csrf: browser::csrf_token(state, jar).unwrap_or_default(),
        session_ends_at: current.ends_at(state.settings.session_idle),
    })
}

/// The session of the request and its account, or the way to the login page.
pub async fn signed_in(state: &AppState, jar: &CookieJar) -> PageResult<(Session, Account)> {
    account_of(state, session::current(state, jar).await?).await
}

/// `signed_in`, also for a session still waiting for its second factor.
pub async fn signed_in_any(state: &AppState, jar: &CookieJar) -> PageResult<(Session, Account)> {
    account_of(state, session::current_any(state, jar).await?).await
}

async fn account_of(state: &AppState, session: Option<Session>) -> PageResult<(Session, Account)> {
    let session = session.ok_or_else(PageError::login)?;
    let account = state
        .stores
        .accounts
        .get_account(&session.account)
        .await?
        .ok_or_else(PageError::login)?;
    Ok((session, account))
}
