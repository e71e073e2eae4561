//! Login with a passkey alone (`/login/cle-d-acces`), for people who added a discoverable one:
//! the browser offers the passkeys it holds for Passerelle, the person unlocks one (fingerprint,
//! face or PIN), and the session starts with its proof — possession and user verification, a
//! second factor in itself. The password stays for everyone else. Refused answers count against
//! the client address as failed passwords do, and every attempt is traced `auth.login`.

use super::error::PageResult;
use super::extract::CsrfForm;
use super::login::{blocked_account, continue_login, expired_request, pending_for};
use super::passkey::{CeremonyForm, Started, ceremony_form, relying_party};
use super::{page, session};
use crate::accounts::throttle::{self, Gate};
use crate::flow::ACR_MFA;
use crate::session::browser;
use crate::state::AppState;
use crate::store::Outcome;
use crate::traces::Event;
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum_extra::extract::CookieJar;
use maud::html;
use serde::Deserialize;
use std::net::SocketAddr;

pub fn router() -> Router<AppState> {
    Router::new().route("/login/cle-d-acces", get(show).post(submit))
}

#[derive(Deserialize)]
struct LoginQuery {
    request: Option<String>,
}

async fn render(
    state: &AppState,
    jar: CookieJar,
    request: Option<&str>,
    status: StatusCode,
    error: Option<&str>,
) -> PageResult {
    let rp = relying_party(state)?;
    let (jar, browser_id) = browser::ensure(state, jar);
    let csrf = browser::csrf_for(state, &browser_id);
    let (options, id) = rp.start_login(&state.stores, state.clock.now()).await?;
    let back = match request {
        Some(r) => format!("/login?request={r}"),
        None => "/login".to_owned(),
    };
    let body = html! {
        @if let Some(error) = error {
            div class="error" role="alert" id="erreur" tabindex="-1" autofocus { p { (error) } }
        }
        p { "Votre navigateur vous propose les clés d'accès qu'il connaît pour Passerelle : choisissez la vôtre, puis déverrouillez-la (empreinte, visage ou code PIN)." }
        (ceremony_form("/login/cle-d-acces", "get", Started { options: &options, id: &id }, &csrf, request, html! {}, "Choisir ma clé d'accès"))
        p { a href=(back) { "Se connecter avec mon mot de passe" } }
    };
    Ok((
        status,
        jar,
        Html(page("Connexion avec une clé d'accès", body).into_string()),
    )
        .into_response())
}

async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(q): Query<LoginQuery>,
) -> PageResult {
    if let Some(r) = &q.request
        && pending_for(&state, &jar, r).await?.is_none()
    {
        return Ok(expired_request());
    }
    render(&state, jar, q.request.as_deref(), StatusCode::OK, None).await
}

async fn submit(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: axum::http::HeaderMap,
    jar: CookieJar,
    CsrfForm(form): CsrfForm<CeremonyForm>,
) -> PageResult {
    let rp = relying_party(&state)?;
    let origin = super::origin(&headers, Some(peer));
    let request = form.request.as_deref();
    let pending = match request {
        Some(r) => match pending_for(&state, &jar, r).await? {
            Some(p) => Some((r, p)),
            None => return Ok(expired_request()),
        },
        None => None,
    };
    let now = state.clock.now();
    let ip_key = throttle::ip_key(peer.ip());
    let rules = state.settings.throttling.for_ip();
    let attempts = state.stores.throttle.attempts(&ip_key, now).await?;
    if matches!(throttle::gate(&attempts, now, &rules), Gate::Closed { .. }) {
        return render(
            &state,
            jar,
            request,
            StatusCode::TOO_MANY_REQUESTS,
            Some("Trop d'essais depuis cet appareil : réessayez plus tard."),
        )
        .await;
    }
    let verified = rp
        .finish_login(
            &state.stores,
            now,
            form.ceremony.as_deref().unwrap_or_default(),
            form.answer.as_deref().unwrap_or_default(),
        )
        .await?;
    let account = match verified {
        Ok((id, proof)) => state
            .stores
            .accounts
            .get_account(&id)
            .await?
            .map(|a| (a, proof)),
        Err(_) => None,
    };
    let Some((account, proof)) = account else {
        state.stores.throttle.record_failure(&ip_key, now).await?;
        state.metrics.login("failure", "passkey");
        state
            .tracer
            .record(
                Event::new("auth.login", Outcome::Failure)
                    .reason("passkey_refused")
                    .origin(&origin),
            )
            .await;
        return render(
            &state,
            jar,
            request,
            StatusCode::UNAUTHORIZED,
            Some("Cette clé d'accès n'a pas été reconnue (ou le délai est dépassé) : réessayez, ou connectez-vous avec votre mot de passe."),
        )
        .await;
    };
    if !account.is_usable() {
        state
            .tracer
            .record(
                Event::new("auth.login", Outcome::Failure)
                    .account(&account)
                    .reason("suspended")
                    .origin(&origin),
            )
            .await;
        return blocked_account(&state, &account).await;
    }
    state.metrics.login("success", "none");
    state
        .tracer
        .record(
            Event::new("auth.login", Outcome::Success)
                .account(&account)
                .target("passkey")
                .origin(&origin),
        )
        .await;
    state.stores.throttle.record_success(&ip_key).await?;
    // A new login gets a new session id and ends the one the browser had.
    if let Some(previous) = session::current_any(&state, &jar).await? {
        session::end(&state, &previous.sid).await?;
    }
    let amr = vec![proof.amr.to_owned(), "mfa".to_owned()];
    let (jar, new_session) = session::start(&state, jar, &account, ACR_MFA, amr, false).await?;
    tracing::info!(account = %account.id, sid = %new_session.sid, "passkey login");
    continue_login(&state, jar, &account, &new_session, pending).await
}
