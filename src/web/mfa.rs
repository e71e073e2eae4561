//! The TOTP second factor's enrolment in pages (QR code, otpauth URI, confirmation code, ten
//! recovery codes shown once); the code form `second_step` also shows.

use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
use super::{browser, page};
use crate::accounts::totp;
use crate::flow::ACR_MFA;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/compte/double-authentification",
            get(show_enrol).post(submit_enrol),
        )
        .route(
            "/compte/double-authentification/continuer",
            post(continue_after_enrol),
        )
}

#[derive(Deserialize)]
pub(super) struct RequestQuery {
    pub(super) request: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CodeForm {
    pub(super) csrf: Option<String>,
    pub(super) request: Option<String>,
    pub(super) code: Option<String>,
}

pub(super) fn code_form(
    action: &str,
    csrf: &str,
    request: Option<&str>,
    label: &str,
    error: Option<&str>,
) -> Markup {
    html! {
        @if let Some(error) = error {
            div class="error" role="alert" id="erreur" tabindex="-1" autofocus { p { (error) } }
        }
        form method="post" action=(action) {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(r) = request { input type="hidden" name="request" value=(r); }
            label for="code" { (label) }
            input type="text" id="code" name="code" inputmode="numeric" autocomplete="one-time-code" required
                aria-describedby=[error.map(|_| "erreur")] aria-invalid=[error.map(|_| "true")];
            button type="submit" { "Valider" }
        }
    }
}

async fn show_enrol(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<RequestQuery>,
) -> PageResult {
    let (_, account) = super::account::signed_in(&state, &jar).await?;
    let factors = state.stores.factors.as_ref();
    if totp::enrolled(factors, &account).await? {
        let remaining = factors
            .remaining_recovery_codes(&account.id)
            .await
            .unwrap_or_default();
        let body = html! {
            div class="info" role="status" { p { "La double authentification est activée sur votre compte." } }
            p { "Codes de secours encore utilisables : " (remaining) "." }
            p { a href="/compte" { "Retour à mon compte" } }
        };
        return Ok(Html(page("Double authentification", body).into_string()).into_response());
    }
    let secret = totp::new_secret();
    let setup = async {
        factors
            .begin_totp(&account.id, &secret, state.clock.now())
            .await?;
        totp::totp(&secret, &account)
    };
    let totp = setup.await?;
    let (qr, uri) = match (totp.to_qr_base64(), totp.to_url()) {
        (Ok(qr), Ok(uri)) => (qr, uri),
        _ => {
            return Err(PageError::internal(
                "TOTP QR code or URI could not be built",
            ));
        }
    };
    let (jar, browser_id) = browser::ensure(&state, jar);
    let csrf = browser::csrf_for(&state, &browser_id);
    let body = html! {
        @if q.request.is_some() {
            div class="info" role="status" { p { "Ce service demande une double authentification : activez-la pour continuer." } }
        }
        @if state.passkeys.is_some() {
            p { "Vous préférez une clé d'accès (empreinte, visage, code PIN ou clé USB) ? "
                a href={ "/compte/cles-d-acces" @if let Some(r) = &q.request { "?request=" (r) } } { "Ajoutez une clé d'accès" } "." }
        }
        ol {
            li { "Installez une application d'authentification (par exemple FreeOTP, Aegis ou celle de votre organisme)." }
            li { "Scannez ce code avec l'application :" br;
                img src={ "data:image/png;base64," (qr) } width="200" height="200"
                    alt="Code QR d'enrôlement ; si vous ne pouvez pas le scanner, saisissez la clé indiquée ci-dessous.";
            }
            li { "Ou saisissez cette clé dans l'application : " code id="cle" { (totp.secret().to_base32()) } }
            li { "Tapez le code à 6 chiffres qu'elle affiche." }
        }
        details { summary { "Adresse otpauth (pour les gestionnaires de mots de passe)" } p { code { (uri) } } }
        (code_form("/compte/double-authentification", &csrf, q.request.as_deref(), "Code affiché par l'application", None))
    };
    Ok((
        jar,
        Html(page("Activer la double authentification", body).into_string()),
    )
        .into_response())
}

async fn submit_enrol(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> PageResult {
    let (session, account) = super::account::signed_in(&state, &jar).await?;
    let factors = state.stores.factors.as_ref();
    let factor = match factors.get_totp(&account.id).await? {
        Some(f) if f.confirmed_at.is_none() => f,
        _ => return Ok(Redirect::to("/compte/double-authentification").into_response()),
    };
    let step = totp::totp(&factor.secret, &account).ok().and_then(|t| {
        t.check(
            form.code.as_deref().unwrap_or_default().trim(),
            state.clock.now() as u64,
        )
    });
    let csrf = form.csrf.clone().unwrap_or_default();
    let Some(step) = step else {
        let body = html! {
            (code_form("/compte/double-authentification", &csrf, form.request.as_deref(), "Code affiché par l'application",
                Some("Ce code n'est pas valable. Vérifiez que l'heure de votre téléphone est juste, puis saisissez le code suivant.")))
            p { a href={ "/compte/double-authentification" @if let Some(r) = &form.request { "?request=" (r) } } { "Recommencer avec un nouveau code QR" } }
        };
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page("Activer la double authentification", body).into_string()),
        )
            .into_response());
    };
    let (codes, digests) = totp::recovery_codes();
    factors
        .confirm_totp(&account.id, step as i64, &digests, state.clock.now())
        .await?;
    let amr = vec!["pwd".to_owned(), "otp".to_owned()];
    state
        .stores
        .sessions
        .upgrade_session(&session.sid, ACR_MFA, &amr)
        .await?;
    tracing::info!(account = %account.id, "TOTP factor enrolled");
    state
        .tracer
        .record(
            crate::traces::Event::new("credential.totp", crate::store::Outcome::Success)
                .account(&account)
                .session(&session.sid),
        )
        .await;
    let body = html! {
        div class="info" role="status" { p { "La double authentification est activée." } }
        p { "Voici vos 10 codes de secours. Chacun ne sert qu'une fois, si vous n'avez plus votre téléphone. Notez-les et rangez-les en lieu sûr : ils ne seront plus jamais affichés." }
        ul id="codes-secours" { @for c in &codes { li { code { (c) } } } }
        form method="post" action="/compte/double-authentification/continuer" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(r) = &form.request { input type="hidden" name="request" value=(r); }
            button type="submit" { "J'ai noté mes codes, continuer" }
        }
    };
    Ok(Html(page("Activer la double authentification", body).into_string()).into_response())
}

#[derive(Deserialize)]
struct ContinueForm {
    request: Option<String>,
}

async fn continue_after_enrol(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ContinueForm>,
) -> PageResult {
    let (session, account) = super::account::signed_in(&state, &jar).await?;
    if form.request.is_none() {
        // Back where the enrolment was asked for: the console for those who administer.
        let back = if account.profile.admin_roles.is_empty() {
            "/compte"
        } else {
            "/console"
        };
        return Ok(Redirect::to(back).into_response());
    }
    super::login::continue_request(&state, jar, &account, &session, form.request.as_deref()).await
}
