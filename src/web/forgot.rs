//! "Mot de passe oublié": the identifier and a CAPTCHA; the answer is always the same neutral
//! page, and the mail (if any) is sent in the background so that the response time does not
//! depend on whether the account exists. Also the page that lifts a temporary lock.

use super::captcha::{self, CaptchaView};
use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
use super::{browser, page};
use crate::accounts::{lifecycle, throttle};
use crate::crypto::TokenHash;
use crate::state::AppState;
use crate::store::LinkPurpose;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use maud::html;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/mot-de-passe-oublie", get(show).post(submit))
        .route("/deverrouillage", get(show_unlock).post(submit_unlock))
}

#[derive(Deserialize)]
struct ForgotForm {
    csrf: Option<String>,
    email: Option<String>,
    captcha_id: Option<String>,
    captcha: Option<String>,
    captcha_work: Option<String>,
}

fn render(
    status: StatusCode,
    csrf: &str,
    email: &str,
    captcha: &CaptchaView,
    error: Option<&str>,
) -> Response {
    let body = html! {
        p { "Saisissez l'adresse électronique de votre compte. Si elle correspond à un compte, vous recevrez un lien pour choisir un nouveau mot de passe." }
        @if let Some(error) = error {
            div class="error" role="alert" id="erreur" tabindex="-1" autofocus { p { (error) } }
        }
        form method="post" action="/mot-de-passe-oublie" {
            input type="hidden" name="csrf" value=(csrf);
            label for="email" { "Adresse électronique professionnelle" }
            input type="email" id="email" name="email" autocomplete="username" required value=(email);
            (captcha::fields(captcha))
            button type="submit" { "Recevoir un lien" }
        }
    };
    (
        status,
        Html(page("Mot de passe oublié", body).into_string()),
    )
        .into_response()
}

async fn show(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let (jar, browser_id) = browser::ensure(&state, jar);
    let csrf = browser::csrf_for(&state, &browser_id);
    let view = captcha::new_challenge(&state).await?;
    Ok((jar, render(StatusCode::OK, &csrf, "", &view, None)).into_response())
}

async fn submit(State(state): State<AppState>, CsrfForm(form): CsrfForm<ForgotForm>) -> PageResult {
    let csrf = form.csrf.unwrap_or_default();
    let email = form.email.unwrap_or_default();
    let answer = captcha::CaptchaAnswer {
        id: form.captcha_id.as_deref(),
        code: form.captcha.as_deref(),
        work: form.captcha_work.as_deref(),
    };
    let solved = captcha::verify(&state, answer).await?;
    if !solved || email.trim().is_empty() {
        let view = captcha::new_challenge(&state).await?;
        let error = if solved {
            "Saisissez votre adresse électronique."
        } else {
            "La vérification anti-robot n'a pas abouti (code de l'image incorrect, ou page restée ouverte trop longtemps) : une nouvelle vérification vous est proposée."
        };
        return Ok(render(
            StatusCode::BAD_REQUEST,
            &csrf,
            &email,
            &view,
            Some(error),
        ));
    }
    let background = state.clone();
    let requested = email.clone();
    tokio::spawn(async move {
        match lifecycle::send_reset(&background, &requested).await {
            Ok(Some(suspended)) => {
                if let Err(e) =
                    crate::habilitations::notify::explain_suspension(&background, &suspended).await
                {
                    tracing::error!(error = %e, "a suspended person was not told why no link came");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::error!(error = %e, "reset link not sent"),
        }
    });
    let body = html! {
        div class="info" role="status" {
            p { "Si un compte existe pour l'adresse " strong { (email.trim()) } ", un courriel contenant un lien pour choisir un nouveau mot de passe vient de lui être envoyé." }
        }
        p { "Le lien est valable une heure et ne fonctionne qu'une fois. Votre mot de passe actuel reste valable d'ici là." }
        p { "Vous ne recevez rien ? Vérifiez vos courriers indésirables, puis adressez-vous à la personne qui gère vos accès." }
        p { a href="/login" { "Retour à la connexion" } }
    };
    Ok(Html(page("Mot de passe oublié", body).into_string()).into_response())
}

#[derive(Deserialize)]
struct UnlockForm {
    jeton: Option<String>,
}

#[derive(Deserialize)]
struct LinkQuery {
    jeton: Option<String>,
}

/// The link only shows a button: mail scanners that open links must not lift the lock.
async fn show_unlock(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<LinkQuery>,
) -> Response {
    let (jar, browser_id) = browser::ensure(&state, jar);
    let csrf = browser::csrf_for(&state, &browser_id);
    let body = html! {
        p { "Votre compte a été bloqué temporairement après plusieurs mots de passe erronés. Si c'est vous qui vous êtes trompé, débloquez-le :" }
        form method="post" action="/deverrouillage" {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="jeton" value=(q.jeton.unwrap_or_default());
            button type="submit" { "Débloquer mon compte" }
        }
    };
    (
        jar,
        Html(page("Débloquer votre compte", body).into_string()),
    )
        .into_response()
}

async fn submit_unlock(
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<UnlockForm>,
) -> PageResult {
    let token = form.jeton.unwrap_or_default();
    let link = match state
        .stores
        .links
        .use_link(
            TokenHash::of(&token),
            LinkPurpose::Unlock,
            state.clock.now(),
        )
        .await
    {
        Ok(Ok(link)) => link,
        Ok(Err(refusal)) => return Ok(super::password::refusal_page(refusal)),
        Err(e) => return Err(PageError::internal(e)),
    };
    let account = match state.stores.accounts.get_account(&link.account).await? {
        Some(a) => a,
        None => {
            return Ok(super::password::refusal_page(
                crate::store::LinkRefusal::Unknown,
            ));
        }
    };
    state
        .stores
        .throttle
        .clear_attempts(&throttle::identifier_key(account.profile.email.as_str()))
        .await?;
    tracing::info!(account = %account.id, "temporary lock lifted by link");
    let body = html! {
        div class="info" role="status" { p { "Votre compte est débloqué." } }
        p { "Vous pouvez vous reconnecter. Si vous avez oublié votre mot de passe, " a href="/mot-de-passe-oublie" { "demandez-en un nouveau" } "." }
    };
    Ok(Html(page("Débloquer votre compte", body).into_string()).into_response())
}
