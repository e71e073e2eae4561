//! Self-service: change one's password (current password required), see one's sessions and
//! end them. The password page is also where a forced change happens (after a temporary
//! password, or when a Caf officer asked for it): no relying application gets a code before.

use super::error::{PageError, PageResult};
use super::extract::CsrfForm;
pub(super) use super::extract::signed_in;
use super::{browser, page, session};
use crate::accounts::lifecycle::{self, LifecycleError};
use crate::accounts::password::Password;
use crate::accounts::throttle::{self, Gate};
use crate::state::AppState;
use crate::store::Account;
use crate::types::SessionId;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect};
use axum::routing::{get, post};
use axum_extra::extract::CookieJar;
use maud::html;
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/compte", get(overview))
        .route("/compte/sessions/fermer", post(end_session))
        .route("/compte/mot-de-passe", get(show_change).post(submit_change))
}

fn when(ts: i64) -> String {
    format!("{} ({})", crate::labels::paris(ts), crate::labels::ZONE)
}

async fn overview(State(state): State<AppState>, jar: CookieJar) -> PageResult {
    let (current, account) = signed_in(&state, &jar).await?;
    let sessions = state
        .stores
        .sessions
        .sessions_of_account(&account.id)
        .await?;
    let csrf = browser::csrf_token(&state, &jar).unwrap_or_default();
    let services = state.stores.services.list_services().await?;
    let app_name = |c: &crate::types::ClientId| {
        services
            .iter()
            .find(|s| &s.client_id == c)
            .map_or_else(|| c.to_string(), |s| s.name.clone())
    };
    let p = &account.profile;
    let idle = state.settings.session_idle;
    let now = state.clock.now();
    // This page is activity: the current session's is now.
    let last_active = |s: &crate::store::Session| {
        if s.sid == current.sid {
            now
        } else {
            s.last_active()
        }
    };
    let ends = |s: &crate::store::Session| {
        let mut s = s.clone();
        s.last_seen = last_active(&s);
        s.ends_at(idle)
    };
    let short = |ts: i64| crate::labels::paris_recent(ts, now);
    let body = html! {
        p { strong { (p.given_name) " " (p.family_name) } " — " (p.email) }
        p id="fin-de-session" {
            "Par sécurité, une session se ferme "
            @if idle > 0 {
                "après " (crate::labels::duration(idle)) " sans activité (ni sur Passerelle, ni dans ses applications), et "
            }
            "au plus tard " (crate::labels::duration(state.settings.session_ttl)) " après la connexion. "
            "Celle-ci se ferme le " (when(ends(&current)))
            @if idle > 0 { " si vous ne faites rien d'ici là" }
            "."
        }
        ul {
            li { a href="/compte/mot-de-passe" { "Changer mon mot de passe" } }
            li { a href="/compte/double-authentification" { "Double authentification" } }
            li { a href="/compte/cles-d-acces" { "Mes clés d'accès" } }
            @if !p.admin_roles.is_empty() {
                li { a href="/console" { "Revenir à la console des habilitations" } }
            }
        }
        h2 { "Mes sessions ouvertes" }
        p class="hint" { "Heures de Paris." }
        table class="stack" {
            thead { tr { th scope="col" { "Ouverte" } th scope="col" { "Dernière activité" } th scope="col" { "Fin prévue" } th scope="col" { "Applications" } th scope="col" { span class="hint" { "Action" } } } }
            tbody {
                @for s in sessions.iter().filter(|s| ends(s) > now) {
                    tr {
                        td data-label="Ouverte" { (short(s.auth_time)) @if s.sid == current.sid { " (cette session)" } }
                        td data-label="Dernière activité" { (short(last_active(s))) }
                        td data-label="Fin prévue" { (short(ends(s))) }
                        td data-label="Applications" { @if s.clients.is_empty() { "—" } @else { (s.clients.iter().map(app_name).collect::<Vec<_>>().join(", ")) } }
                        td data-label="Action" {
                            form method="post" action="/compte/sessions/fermer" {
                                input type="hidden" name="csrf" value=(csrf);
                                input type="hidden" name="sid" value=(s.sid);
                                button type="submit" class="secondary" {
                                    "Fermer" span class="sr-only" { " la session ouverte à " (short(s.auth_time)) }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action="/logout" {
            input type="hidden" name="csrf" value=(csrf);
            button type="submit" { "Se déconnecter" }
        }
    };
    Ok(Html(super::wide_page("Mon compte", body).into_string()).into_response())
}

#[derive(Deserialize)]
struct EndForm {
    sid: Option<String>,
}

async fn end_session(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<EndForm>,
) -> PageResult {
    let (current, account) = signed_in(&state, &jar).await?;
    let Some(sid) = form.sid.as_deref().and_then(|s| SessionId::parse(s).ok()) else {
        return Ok(Redirect::to("/compte").into_response());
    };
    // Only the person's own sessions: another person's sid is ignored.
    match state.stores.sessions.get_session(&sid).await? {
        Some(s) if s.account == account.id => {
            session::end(&state, &sid).await?;
        }
        _ => {}
    }
    if sid == current.sid {
        return Ok((session::clear(jar), Redirect::to("/")).into_response());
    }
    Ok(Redirect::to("/compte").into_response())
}

#[derive(Deserialize)]
struct ChangeQuery {
    request: Option<String>,
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: Option<String>,
    request: Option<String>,
    current: Option<String>,
    password: Option<String>,
    confirmation: Option<String>,
}

async fn render_change(
    state: &AppState,
    csrf: &str,
    request: Option<&str>,
    account: &Account,
    errors: &[String],
) -> PageResult {
    let policy = lifecycle::applicable_policy(state, account).await?;
    let body = html! {
        @if account.must_change_password {
            div class="info" role="status" {
                @if account.temporary_password_expires_at.is_some() || account.password_hash.is_none() {
                    p { "Avant de continuer, choisissez votre propre mot de passe." }
                } @else {
                    p { "La Caf vous demande de choisir un nouveau mot de passe avant de continuer (vous en avez été averti par courriel). Choisissez-en un que vous n'avez pas encore utilisé." }
                }
            }
        }
        @if !errors.is_empty() {
            div class="error" role="alert" id="erreurs" tabindex="-1" autofocus {
                p { "Le mot de passe n'a pas été changé :" }
                ul { @for e in errors { li { (e) } } }
            }
        }
        div class="info" id="regles" {
            p { "Votre nouveau mot de passe doit comporter :" }
            ul { @for r in policy.rules(state.settings.password_history) { li { (r) } } }
        }
        form method="post" action="/compte/mot-de-passe" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(r) = request { input type="hidden" name="request" value=(r); }
            input type="hidden" name="username" autocomplete="username" value=(account.profile.email);
            label for="current" { "Mot de passe actuel" }
            input type="password" id="current" name="current" autocomplete="current-password" required;
            label for="password" { "Nouveau mot de passe" }
            input type="password" id="password" name="password" autocomplete="new-password" required
                aria-describedby=(if errors.is_empty() { "regles" } else { "erreurs regles" })
                aria-invalid=[(!errors.is_empty()).then_some("true")];
            label for="confirmation" { "Confirmez le nouveau mot de passe" }
            input type="password" id="confirmation" name="confirmation" autocomplete="new-password" required;
            button type="submit" { "Changer mon mot de passe" }
        }
    };
    let status = if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((
        status,
        Html(page("Changer de mot de passe", body).into_string()),
    )
        .into_response())
}

async fn show_change(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<ChangeQuery>,
) -> PageResult {
    let (_, account) = signed_in(&state, &jar).await?;
    let (jar, browser_id) = browser::ensure(&state, jar);
    let csrf = browser::csrf_for(&state, &browser_id);
    Ok((
        jar,
        render_change(&state, &csrf, q.request.as_deref(), &account, &[]).await,
    )
        .into_response())
}

async fn submit_change(
    State(state): State<AppState>,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<ChangeForm>,
) -> PageResult {
    let (signed, account) = signed_in(&state, &jar).await?;
    let csrf = form.csrf.unwrap_or_default();
    let request = form.request.as_deref();
    let key = throttle::identifier_key(account.profile.email.as_str());
    let rules = state.settings.throttling.clone();
    match state
        .stores
        .throttle
        .attempts(&key, state.clock.now())
        .await
    {
        Ok(a) => {
            if let Gate::Closed { .. } = throttle::gate(&a, state.clock.now(), &rules) {
                let errors = [
                    "Trop d'essais avec un mot de passe actuel erroné : réessayez plus tard."
                        .to_owned(),
                ];
                return render_change(&state, &csrf, request, &account, &errors).await;
            }
        }
        Err(e) => return Err(PageError::internal(e)),
    }
    let current = Password::new(form.current.unwrap_or_default());
    if !state
        .hasher
        .verify(current, account.password_hash.clone())
        .await
    {
        state
            .stores
            .throttle
            .record_failure(&key, state.clock.now())
            .await?;
        let errors = ["Le mot de passe actuel est incorrect.".to_owned()];
        return render_change(&state, &csrf, request, &account, &errors).await;
    }
    let new = form.password.unwrap_or_default();
    if new != form.confirmation.unwrap_or_default() {
        let errors = ["Les deux saisies du nouveau mot de passe sont différentes.".to_owned()];
        return render_change(&state, &csrf, request, &account, &errors).await;
    }
    let new = Password::new(new);
    match lifecycle::check_new_password(&state, &account, &new).await? {
        failures if !failures.is_empty() => {
            let errors: Vec<String> = failures.iter().map(|f| f.french()).collect();
            return render_change(&state, &csrf, request, &account, &errors).await;
        }
        _ => {}
    }
    // Every session of the person ends, this one included; this browser, which just proved
    // both passwords, gets a new one.
    match lifecycle::set_password(&state, &account, new).await {
        Ok(()) => {}
        Err(LifecycleError::Mail(e)) => {
            tracing::error!(error = %e, "password-change notification not sent")
        }
        Err(e) => return Err(PageError::internal(e)),
    }
    let account = state
        .stores
        .accounts
        .get_account(&account.id)
        .await?
        .ok_or_else(PageError::login)?;
    // The new session keeps what the person proved in the one that just ended.
    let started = session::start(
        &state,
        session::clear(jar),
        &account,
        &signed.acr,
        signed.amr.clone(),
        false,
    )
    .await;
    let (jar, new_session) = started?;
    if request.is_some() {
        return super::login::continue_request(&state, jar, &account, &new_session, request).await;
    }
    let body = html! {
        div class="info" role="status" { p { "Votre mot de passe est changé." } }
        p { "Par sécurité, vos autres sessions ont été fermées : reconnectez-vous aux applications que vous utilisiez." }
        p { a href="/compte" { "Retour à mon compte" } }
    };
    Ok((
        jar,
        Html(page("Changer de mot de passe", body).into_string()),
    )
        .into_response())
}
