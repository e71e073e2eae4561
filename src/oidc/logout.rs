//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0). Without proof that the
//! relying application speaks for the current session (a valid `id_token_hint` for the same
//! person and session), the person confirms on a page first, so a third-party link cannot log
//! them out silently.

use super::authorize::redirect_with;
use super::params::Params;
use crate::session::{self, browser};
use crate::state::AppState;
use crate::types::RedirectUri;
use crate::web;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum_extra::extract::CookieJar;
use maud::html;

pub async fn logout_get(
    State(state): State<AppState>,
    jar: CookieJar,
    RawQuery(query): RawQuery,
) -> Response {
    handle(state, jar, query.unwrap_or_default().as_bytes(), false).await
}

pub async fn logout_post(
    State(state): State<AppState>,
    jar: CookieJar,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if super::token::require_form(&headers).is_err() {
        return logout_error("La demande de déconnexion est mal formée.");
    }
    handle(state, jar, &body, true).await
}

fn logout_error(message: &str) -> Response {
    web::error_page(
        StatusCode::BAD_REQUEST,
        "Déconnexion impossible",
        message,
        "Fermez votre navigateur pour mettre fin à votre session, puis signalez le problème à l'équipe technique de l'application.",
    )
}

async fn handle(state: AppState, jar: CookieJar, raw: &[u8], is_post: bool) -> Response {
    let params = match Params::parse(raw) {
        Ok(p) => p,
        Err(m) => return logout_error(&format!("La demande de déconnexion est invalide ({m}).")),
    };
    let hint = match params.get("id_token_hint") {
        Some(token) => match super::id_token::parse_hint(&state, token) {
            Some(h) => Some(h),
            None => {
                return logout_error(
                    "Le jeton fourni par l'application (id_token_hint) n'a pas été émis par Passerelle.",
                );
            }
        },
        None => None,
    };
    let client_id = match (params.get("client_id"), &hint) {
        (Some(id), Some(h)) if !h.audiences.iter().any(|a| a == id) => {
            return logout_error("Le jeton fourni ne correspond pas à l'application (client_id).");
        }
        (Some(id), _) => Some(id.to_owned()),
        (None, Some(h)) => h.audiences.first().cloned(),
        (None, None) => None,
    };
    let mut redirect: Option<RedirectUri> = None;
    if let Some(uri) = params.get("post_logout_redirect_uri") {
        let Some(client_id) = &client_id else {
            return logout_error(
                "L'adresse de retour ne peut être acceptée que si l'application est identifiée (client_id ou id_token_hint).",
            );
        };
        let client = match state.clients.get(client_id).await {
            Ok(Some(c)) => c,
            Ok(None) => {
                return logout_error(
                    "L'application qui demande la déconnexion n'est pas enregistrée.",
                );
            }
            Err(e) => return web::internal_error_page(e),
        };
        match client
            .post_logout_redirect_uris
            .iter()
            .find(|u| u.as_str() == uri)
        {
            Some(u) => redirect = Some(u.clone()),
            None => {
                return logout_error(
                    "L'adresse de retour après déconnexion n'est pas enregistrée pour cette application.",
                );
            }
        }
    }
    let client_state = params.get("state").map(str::to_owned);
    let current = match session::current(&state, &jar).await {
        Ok(s) => s,
        Err(e) => return web::internal_error_page(e),
    };
    let confirmed = is_post && browser::csrf_valid(&state, &jar, params.get("csrf"));
    if let Some(s) = &current {
        let vouched = hint.as_ref().is_some_and(|h| {
            h.sub == s.account.as_str() && h.sid.as_deref().is_none_or(|sid| sid == s.sid.as_str())
        });
        if !vouched && !confirmed {
            return confirmation_page(
                &state,
                jar,
                client_id.as_deref(),
                redirect.as_ref(),
                client_state.as_deref(),
            );
        }
        if let Err(e) = session::end(&state, &s.sid).await {
            return web::internal_error_page(e);
        }
    }
    let jar = session::clear(jar);
    match redirect {
        Some(uri) => (
            jar,
            redirect_with(&uri, &[("state", client_state.as_deref())]),
        )
            .into_response(),
        None => {
            let body = html! {
                div class="info" role="status" { p { "Vous êtes déconnecté·e de Passerelle." } }
                p { "Pour plus de sécurité sur un poste partagé, fermez aussi votre navigateur." }
            };
            (jar, Html(web::page("Déconnexion", body).into_string())).into_response()
        }
    }
}

fn confirmation_page(
    state: &AppState,
    jar: CookieJar,
    client_id: Option<&str>,
    redirect: Option<&RedirectUri>,
    client_state: Option<&str>,
) -> Response {
    let (jar, browser_id) = browser::ensure(state, jar);
    let csrf = browser::csrf_for(state, &browser_id);
    let body = html! {
        p { "Voulez-vous vous déconnecter de Passerelle ? Vous devrez saisir de nouveau votre mot de passe pour accéder aux services." }
        form method="post" action="/logout" {
            input type="hidden" name="csrf" value=(csrf);
            @if let Some(id) = client_id { input type="hidden" name="client_id" value=(id); }
            @if let Some(uri) = redirect { input type="hidden" name="post_logout_redirect_uri" value=(uri.as_str()); }
            @if let Some(s) = client_state { input type="hidden" name="state" value=(s); }
            button type="submit" { "Se déconnecter" }
        }
        p { a href="/" { "Rester connecté·e" } }
    };
    (jar, Html(web::page("Déconnexion", body).into_string())).into_response()
}
