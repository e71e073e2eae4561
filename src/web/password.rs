//! Choosing a password through a single-use link: activation now, reset with the same page.
//! The rules are shown before the person types; every failed rule is listed after. The link
//! is consumed only when a valid password is stored, so a refused attempt does not burn it.

use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
use super::{browser, page};
use crate::accounts::lifecycle::{self, LifecycleError};
use crate::accounts::password::Password;
use crate::crypto::TokenHash;
use crate::state::AppState;
use crate::store::{Account, LinkPurpose, LinkRefusal};
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
        .route(
            "/activation",
            get(|s, j, q| show(s, j, q, LinkPurpose::Activation))
                .post(|s, f| submit(s, f, LinkPurpose::Activation)),
        )
        .route(
            "/reinitialisation",
            get(|s, j, q| show(s, j, q, LinkPurpose::Reset))
                .post(|s, f| submit(s, f, LinkPurpose::Reset)),
        )
}

fn path(purpose: LinkPurpose) -> &'static str {
    match purpose {
        LinkPurpose::Activation => "/activation",
        LinkPurpose::Reset | LinkPurpose::Unlock => "/reinitialisation",
    }
}

fn title(purpose: LinkPurpose) -> &'static str {
    match purpose {
        LinkPurpose::Activation => "Activer votre compte",
        _ => "Choisir un nouveau mot de passe",
    }
}

#[derive(Deserialize)]
struct LinkQuery {
    jeton: Option<String>,
}

#[derive(Deserialize)]
struct ChooseForm {
    jeton: Option<String>,
    csrf: Option<String>,
    password: Option<String>,
    confirmation: Option<String>,
}

pub fn refusal_page(refusal: LinkRefusal) -> Response {
    let message = match refusal {
        LinkRefusal::Expired => "Ce lien a expiré.",
        LinkRefusal::Spent => {
            "Ce lien a déjà été utilisé, ou il ne vaut plus : un lien plus récent l'a remplacé, ou le mot de passe a changé depuis."
        }
        LinkRefusal::Unknown => {
            "Ce lien n'est pas valide. Vérifiez que vous avez copié l'adresse complète."
        }
    };
    let advice = maud::html! {
        p {
            "Vous pouvez demander un nouveau lien depuis la page "
            a href="/mot-de-passe-oublie" { "Mot de passe oublié" }
            ", ou vous adresser à la personne qui gère vos accès : chaque nouveau lien annule les précédents."
        }
    };
    super::error::error_page_with(
        StatusCode::BAD_REQUEST,
        "Lien plus valable",
        message,
        advice,
    )
}

/// The account a live link of `purpose` designates, or why there is none.
async fn account_for(
    state: &AppState,
    token: Option<&str>,
    purpose: LinkPurpose,
) -> PageResult<Result<Account, LinkRefusal>> {
    let Some(token) = token else {
        return Ok(Err(LinkRefusal::Unknown));
    };
    let link = state.stores.links.get_link(TokenHash::of(token)).await?;
    let link = match link {
        Some(l) if l.purpose == purpose => l,
        _ => return Ok(Err(LinkRefusal::Unknown)),
    };
    if link.used_at.is_some() || link.revoked_at.is_some() {
        return Ok(Err(LinkRefusal::Spent));
    }
    if link.expires_at <= state.clock.now() {
        return Ok(Err(LinkRefusal::Expired));
    }
    let account = state.stores.accounts.get_account(&link.account).await?;
    Ok(account.ok_or(LinkRefusal::Unknown))
}

async fn render(
    state: &AppState,
    csrf: &str,
    token: &str,
    account: &Account,
    purpose: LinkPurpose,
    errors: &[String],
) -> PageResult {
    let policy = lifecycle::applicable_policy(state, account).await?;
    let rules = policy.rules(state.settings.password_history);
    let body = html! {
        p { "Compte : " strong { (account.profile.email) } }
        @if !errors.is_empty() {
            div class="error" role="alert" id="erreurs" tabindex="-1" autofocus {
                p { "Ce mot de passe ne convient pas :" }
                ul { @for e in errors { li { (e) } } }
            }
        }
        div class="info" id="regles" {
            p { "Votre mot de passe doit comporter :" }
            ul { @for r in &rules { li { (r) } } }
        }
        form method="post" action=(path(purpose)) {
            input type="hidden" name="csrf" value=(csrf);
            input type="hidden" name="jeton" value=(token);
            input type="hidden" name="username" autocomplete="username" value=(account.profile.email);
            label for="password" { "Nouveau mot de passe" }
            input type="password" id="password" name="password" autocomplete="new-password" required
                aria-describedby=(if errors.is_empty() { "regles" } else { "erreurs regles" })
                aria-invalid=[(!errors.is_empty()).then_some("true")];
            label for="confirmation" { "Confirmez le mot de passe" }
            input type="password" id="confirmation" name="confirmation" autocomplete="new-password" required;
            button type="submit" { "Enregistrer mon mot de passe" }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, Html(page(title(purpose), body).into_string())).into_response())
}

async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<LinkQuery>,
    purpose: LinkPurpose,
) -> PageResult {
    let account = match account_for(&state, query.jeton.as_deref(), purpose).await? {
        Ok(a) => a,
        Err(refusal) => return Ok(refusal_page(refusal)),
    };
    let (jar, browser_id) = browser::ensure(&state, jar);
    let csrf = browser::csrf_for(&state, &browser_id);
    let token = query.jeton.unwrap_or_default();
    Ok((
        jar,
        render(&state, &csrf, &token, &account, purpose, &[]).await,
    )
        .into_response())
}

async fn submit(
    State(state): State<AppState>,
    CsrfForm(form): CsrfForm<ChooseForm>,
    purpose: LinkPurpose,
) -> PageResult {
    let account = match account_for(&state, form.jeton.as_deref(), purpose).await? {
        Ok(a) => a,
        Err(refusal) => return Ok(refusal_page(refusal)),
    };
    let (csrf, token) = (
        form.csrf.unwrap_or_default(),
        form.jeton.unwrap_or_default(),
    );
    let password = form.password.unwrap_or_default();
    if password != form.confirmation.unwrap_or_default() {
        let errors = ["Les deux saisies du mot de passe sont différentes.".to_owned()];
        return render(&state, &csrf, &token, &account, purpose, &errors).await;
    }
    let password = Password::new(password);
    let failures = lifecycle::check_new_password(&state, &account, &password).await?;
    if !failures.is_empty() {
        let errors: Vec<String> = failures.iter().map(|f| f.french()).collect();
        return render(&state, &csrf, &token, &account, purpose, &errors).await;
    }
    match state
        .stores
        .links
        .use_link(TokenHash::of(&token), purpose, state.clock.now())
        .await
    {
        Ok(Ok(_)) => {}
        Ok(Err(refusal)) => return Ok(refusal_page(refusal)),
        Err(e) => return Err(PageError::internal(e)),
    }
    // A successful reset (or activation) lifts any lock on the identifier.
    state
        .stores
        .throttle
        .clear_attempts(&crate::accounts::throttle::identifier_key(
            account.profile.email.as_str(),
        ))
        .await?;
    match lifecycle::set_password(&state, &account, password).await {
        Ok(()) => {}
        // The password is stored; only the notification failed: say so to operators, not here.
        Err(LifecycleError::Mail(e)) => {
            tracing::error!(error = %e, "password-change notification not sent")
        }
        Err(e) => return Err(PageError::internal(e)),
    }
    let body = html! {
        div class="info" role="status" { p { "Votre mot de passe est enregistré." } }
        p { "Vous pouvez maintenant vous connecter avec votre adresse électronique et ce mot de passe." }
        p { a href="/login" { "Se connecter" } }
    };
    Ok(Html(page(title(purpose), body).into_string()).into_response())
}
