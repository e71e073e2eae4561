//! The second login step: `/login/otp` offers what the person has — a passkey's button, the
//! TOTP code form (recovery codes go there too) — and `/login/cle` takes the passkey's answer.
//! Where only a passkey will do (a service's `mfa = "phishing_resistant"`, or administrators
//! under `credentials.phishing_resistant_for_administrators`), no code is asked for. A wrong
//! code and a refused passkey count alike against the identifier's throttle.

use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
use super::mfa::{CodeForm, RequestQuery, code_form};
use super::passkey::{CeremonyForm, Started, ceremony_form, relying_party};
use super::{page, session};
use crate::accounts::passkey::PasskeyRefusal;
use crate::accounts::throttle::{self, Gate};
use crate::accounts::totp::{self, SecondFactor};
use crate::flow::ACR_MFA;
use crate::session::browser;
use crate::state::AppState;
use crate::store::{Account, Outcome};
use crate::traces::Event;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/login/otp", get(show_step).post(submit_step))
        .route("/login/cle", post(prove))
}

/// The second-factor page: the passkey's button when the person has passkeys, the code form
/// when they have a TOTP application (its recovery codes go there too).
pub(super) async fn step_response(
    state: &AppState,
    jar: CookieJar,
    account: &crate::store::Account,
    request: Option<&str>,
    status: StatusCode,
    error: Option<&str>,
) -> PageResult {
    let (jar, browser_id) = browser::ensure(state, jar);
    let csrf = browser::csrf_for(state, &browser_id);
    let passkey = proof_form(state, account, &csrf, request).await?;
    // Where only a passkey will do, no code is asked for.
    let passkey_only = match request {
        Some(r) => match super::login::pending_for(state, &jar, r).await? {
            Some(p) => {
                crate::flow::needs_phishing_resistance(state, account, &p.request.client_id).await?
            }
            None => false,
        },
        None => {
            state.settings.phishing_resistant_for_administrators
                && !account.profile.admin_roles.is_empty()
        }
    };
    let totp = !passkey_only && totp::enrolled(state.stores.factors.as_ref(), account).await?;
    let title = if totp {
        "Code de vérification"
    } else {
        "Vérification avec votre clé d'accès"
    };
    let body = html! {
        p { "Votre compte est protégé par une double authentification." }
        @if passkey_only {
            div class="info" role="status" { p { "Ce service demande une clé d'accès : un code à 6 chiffres ne suffit pas." } }
            @if passkey.is_none() {
                p { a href={ "/compte/cles-d-acces" @if let Some(r) = request { "?request=" (r) } } { "Ajouter une clé d'accès" } }
            }
        }
        @if let (false, Some(error)) = (totp, error) {
            div class="error" role="alert" id="erreur" tabindex="-1" autofocus { p { (error) } }
        }
        @if let Some(form) = &passkey {
            @if totp { h2 { "Avec une clé d'accès" } }
            (form)
        }
        @if totp {
            @if passkey.is_some() { h2 { "Avec un code" } }
            (code_form("/login/otp", &csrf, request, "Code à 6 chiffres de votre application d'authentification, ou un code de secours", error))
        }
    };
    Ok((status, jar, Html(page(title, body).into_string())).into_response())
}

async fn show_step(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<RequestQuery>,
) -> PageResult {
    let (_, account) = super::extract::signed_in_any(&state, &jar).await?;
    step_response(
        &state,
        jar,
        &account,
        q.request.as_deref(),
        StatusCode::OK,
        None,
    )
    .await
}

/// The step page again, refused for now: too many wrong codes or passkeys (or passwords)
/// for this person.
async fn too_many_tries(
    state: &AppState,
    jar: CookieJar,
    account: &crate::store::Account,
    request: Option<&str>,
) -> PageResult {
    step_response(
        state,
        jar,
        account,
        request,
        StatusCode::TOO_MANY_REQUESTS,
        Some("Trop d'essais : réessayez plus tard."),
    )
    .await
}

async fn submit_step(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> PageResult {
    let (session, account) = super::extract::signed_in_any(&state, &jar).await?;
    let request = form.request.as_deref();
    // Wrong codes count like wrong passwords: the same gate protects both.
    let key = throttle::identifier_key(account.profile.email.as_str());
    if throttled(&state, &key).await? {
        return too_many_tries(&state, jar, &account, request).await;
    }
    let code = form.code.unwrap_or_default();
    let used = match totp::verify(
        state.stores.factors.as_ref(),
        &account,
        &code,
        state.clock.now(),
    )
    .await
    {
        Ok(u) => u,
        Err(e) => return Err(PageError::internal(e)),
    };
    let Some(factor) = used else {
        state
            .stores
            .throttle
            .record_failure(&key, state.clock.now())
            .await?;
        state
            .tracer
            .record(
                crate::traces::Event::new("auth.second_factor", crate::store::Outcome::Failure)
                    .account(&account)
                    .session(&session.sid)
                    .reason("wrong_code"),
            )
            .await;
        return step_response(
            &state,
            jar,
            &account,
            request,
            StatusCode::UNAUTHORIZED,
            Some(
                "Ce code n'est pas valable. Vérifiez l'heure de votre téléphone, ou utilisez un code de secours.",
            ),
        )
        .await;
    };
    if factor == SecondFactor::RecoveryCode {
        tracing::warn!(account = %account.id, "recovery code used");
    }
    state
        .tracer
        .record(
            crate::traces::Event::new("auth.second_factor", crate::store::Outcome::Success)
                .account(&account)
                .session(&session.sid)
                .target(if factor == SecondFactor::RecoveryCode {
                    "recovery_code"
                } else {
                    "totp"
                }),
        )
        .await;
    let amr = vec!["pwd".to_owned(), "otp".to_owned()];
    state.stores.throttle.record_success(&key).await?;
    state
        .stores
        .sessions
        .upgrade_session(&session.sid, ACR_MFA, &amr)
        .await?;
    let session = session::current(&state, &jar)
        .await?
        .ok_or_else(PageError::login)?;
    super::login::continue_request(&state, jar, &account, &session, request).await
}

/// The passkey form of the second-factor page, when the person has passkeys.
pub async fn proof_form(
    state: &AppState,
    account: &Account,
    csrf: &str,
    request: Option<&str>,
) -> PageResult<Option<Markup>> {
    let Some(rp) = &state.passkeys else {
        return Ok(None);
    };
    let Some((options, ceremony)) = rp
        .start_proof(&state.stores, state.clock.now(), account)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(ceremony_form(
        "/login/cle",
        "get",
        Started {
            options: &options,
            id: &ceremony,
        },
        csrf,
        request,
        html! {},
        "Utiliser ma clé d'accès",
    )))
}

async fn prove(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CeremonyForm>,
) -> PageResult {
    let (session, account) = super::extract::signed_in_any(&state, &jar).await?;
    let rp = relying_party(&state)?;
    let request = form.request.as_deref();
    // A refused passkey counts like a wrong code or password: the same gate protects all.
    let key = throttle::identifier_key(account.profile.email.as_str());
    let now = state.clock.now();
    if throttled(&state, &key).await? {
        return too_many_tries(&state, jar, &account, request).await;
    }
    let proved = rp
        .finish_proof(
            &state.stores,
            state.clock.now(),
            &account,
            form.ceremony.as_deref().unwrap_or_default(),
            form.answer.as_deref().unwrap_or_default(),
        )
        .await?;
    let proof = match proved {
        Ok(p) => p,
        Err(refusal) => {
            state.stores.throttle.record_failure(&key, now).await?;
            state
                .tracer
                .record(
                    Event::new("auth.second_factor", Outcome::Failure)
                        .account(&account)
                        .session(&session.sid)
                        .reason(if refusal == PasskeyRefusal::Ceremony {
                            "passkey_expired"
                        } else {
                            "passkey_refused"
                        }),
                )
                .await;
            return step_response(
                &state,
                jar,
                &account,
                request,
                StatusCode::UNAUTHORIZED,
                Some("La clé d'accès n'a pas été reconnue (ou le délai est dépassé) : réessayez."),
            )
            .await;
        }
    };
    state
        .tracer
        .record(
            Event::new("auth.second_factor", Outcome::Success)
                .account(&account)
                .session(&session.sid)
                .target("passkey"),
        )
        .await;
    state.stores.throttle.record_success(&key).await?;
    let amr = vec!["pwd".to_owned(), proof.amr.to_owned()];
    state
        .stores
        .sessions
        .upgrade_session(&session.sid, ACR_MFA, &amr)
        .await?;
    let session = super::session::current(&state, &jar)
        .await?
        .ok_or_else(PageError::login)?;
    super::login::continue_request(&state, jar, &account, &session, request).await
}

/// Whether the identifier's gate is closed: wrong codes, refused passkeys and wrong passwords
/// count alike.
async fn throttled(state: &AppState, key: &str) -> crate::store::StoreResult<bool> {
    let now = state.clock.now();
    let attempts = state.stores.throttle.attempts(key, now).await?;
    Ok(matches!(
        throttle::gate(&attempts, now, &state.settings.throttling),
        Gate::Closed { .. }
    ))
}
