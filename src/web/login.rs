//! The login page: email and password, a CSRF token, one generic message on failure.

use super::{browser, error_page, internal_error_page, page, session};
use crate::accounts::{self, password::Password};
use crate::oidc::authorize::{ACR_PASSWORD, issue_code};
use crate::state::AppState;
use crate::store::PendingLogin;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use serde::Deserialize;

pub const GENERIC_FAILURE: &str = "L'adresse électronique ou le mot de passe est incorrect.";

pub fn router() -> Router<AppState> {
    Router::new().route("/login", get(show).post(submit))
}

#[derive(Deserialize)]
struct LoginQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
struct LoginForm {
    request: Option<String>,
    csrf: Option<String>,
    email: Option<String>,
    password: Option<String>,
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

fn expired_request() -> Response {
    error_page(
        StatusCode::BAD_REQUEST,
        "Demande de connexion expirée",
        "Cette demande de connexion a expiré ou a été ouverte dans un autre navigateur.",
        "Revenez à l'application que vous vouliez utiliser et cliquez de nouveau sur « Se connecter ».",
    )
}

fn form(csrf: &str, request: Option<&str>, email: &str, error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            div class="error" role="alert" id="erreur" {
                p { (error) }
            }
        }
        form method="post" action="/login" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(request) = request {
                input type="hidden" name="request" value=(request);
            }
            label for="email" {
                "Adresse électronique professionnelle"
                span class="hint" { "Par exemple : prenom.nom@mairie.fr" }
            }
            input type="email" id="email" name="email" autocomplete="username" required
                value=(email) aria-describedby=[error.map(|_| "erreur")];
            label for="password" { "Mot de passe" }
            input type="password" id="password" name="password" autocomplete="current-password" required;
            button type="submit" { "Se connecter" }
        }
    }
}

fn render(
    status: StatusCode,
    csrf: &str,
    request: Option<&str>,
    email: &str,
    error: Option<&str>,
) -> Response {
    (
        status,
        Html(page("Connexion", form(csrf, request, email, error)).into_string()),
    )
        .into_response()
}

async fn pending_for(
    state: &AppState,
    jar: &CookieJar,
    request: &str,
) -> Result<Option<PendingLogin>, Response> {
    let pending = state
        .stores
        .pending_logins
        .get_pending_login(request)
        .await
        .map_err(internal_error_page)?;
    let browser = browser::browser_id(jar).map(|id| browser::binding(&id));
    Ok(pending.filter(|p| Some(&p.browser) == browser.as_ref()))
}

async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<LoginQuery>,
) -> Response {
    let (jar, browser_id) = browser::ensure(&state, jar);
    let mut email = String::new();
    if let Some(request) = &query.request {
        match pending_for(&state, &jar, request).await {
            Ok(Some(p)) => email = p.login_hint.unwrap_or_default(),
            Ok(None) => return expired_request(),
            Err(response) => return response,
        }
    }
    let csrf = browser::csrf_for(&state, &browser_id);
    (
        jar,
        render(
            StatusCode::OK,
            &csrf,
            query.request.as_deref(),
            &email,
            None,
        ),
    )
        .into_response()
}

async fn submit(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(form): Form<LoginForm>,
) -> Response {
    if !browser::csrf_valid(&state, &jar, form.csrf.as_deref()) {
        return expired_form();
    }
    let csrf = form.csrf.unwrap_or_default();
    let pending = match &form.request {
        Some(request) => match pending_for(&state, &jar, request).await {
            Ok(Some(p)) => Some(p),
            Ok(None) => return expired_request(),
            Err(response) => return response,
        },
        None => None,
    };
    let email = form.email.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    if email.trim().is_empty() || password.is_empty() {
        return render(
            StatusCode::BAD_REQUEST,
            &csrf,
            form.request.as_deref(),
            &email,
            Some("Saisissez votre adresse électronique et votre mot de passe."),
        );
    }
    let password = Password::new(password);
    let outcome = accounts::authenticate(
        state.stores.accounts.as_ref(),
        &state.hasher,
        &email,
        password.clone(),
    )
    .await;
    let account = match outcome {
        Err(e) => return internal_error_page(e),
        Ok(Err(failure)) => {
            tracing::info!(reason = failure.reason_code(), "login failed");
            return render(
                StatusCode::UNAUTHORIZED,
                &csrf,
                form.request.as_deref(),
                &email,
                Some(GENERIC_FAILURE),
            );
        }
        Ok(Ok(account)) => account,
    };
    // A new login always gets a new session id (no session fixation), and ends the session the
    // browser had, whoever it belonged to.
    let previous = match session::current(&state, &jar).await {
        Ok(s) => s,
        Err(e) => return internal_error_page(e),
    };
    if let Some(previous) = previous
        && let Err(e) = session::end(&state, &previous.sid).await
    {
        return internal_error_page(e);
    }
    let (jar, new_session) =
        match session::start(&state, jar, &account, ACR_PASSWORD, vec!["pwd".into()]).await {
            Ok(started) => started,
            Err(e) => return internal_error_page(e),
        };
    tracing::info!(account = %account.id, sid = %new_session.sid, "login succeeded");
    // Raising the Argon2id cost in configuration upgrades each hash at its owner's next login.
    if account
        .password_hash
        .as_deref()
        .is_some_and(|h| state.hasher.needs_rehash(h))
    {
        match state.hasher.hash(password).await {
            Ok(hash) => {
                if let Err(e) = state
                    .stores
                    .accounts
                    .set_password_hash(&account.id, &hash)
                    .await
                {
                    tracing::warn!(error = %e, "password hash upgrade not stored");
                }
            }
            Err(e) => tracing::warn!(error = %e, "password hash upgrade failed"),
        }
    }
    let Some(pending) = pending else {
        return (jar, Redirect::to("/")).into_response();
    };
    if let Some(request) = &form.request
        && let Err(e) = state
            .stores
            .pending_logins
            .remove_pending_login(request)
            .await
    {
        return internal_error_page(e);
    }
    match issue_code(&state, &pending.request, &new_session).await {
        Ok(response) => (jar, response).into_response(),
        Err(e) => internal_error_page(e),
    }
}
