//! Personal API tokens: created by the person for their scripts, shown once, revocable.

use super::{console_user, done_message, failure, field, hidden_csrf, posted_by, render, when};
use crate::accounts::api_token::{self, ApiTokenError, MAX_DAYS};
use crate::habilitations::HabilitationError;
use crate::state::AppState;
use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::{Markup, html};
use std::collections::HashMap;

type Fields = Vec<(String, String)>;

async fn page_body(
    state: &AppState,
    user: &super::ConsoleUser,
    created: Option<(&str, &str)>,
    done: Option<&str>,
) -> Result<Markup, HabilitationError> {
    let tokens = state
        .stores
        .api_tokens
        .api_tokens_of(user.actor.id())
        .await?;
    let now = state.clock.now();
    Ok(html! {
        (done_message(done))
        @if let Some((id, secret)) = created {
            div class="info" role="status" {
                p { "Jeton " (id) " créé. Copiez-le maintenant : il ne sera plus affiché." }
                p { code id="nouveau-jeton" { (secret) } }
            }
        }
        p { "Un jeton d'API permet à un script d'utiliser l'API d'administration en votre nom : ce qu'il fait vous est attribué. Il expire au plus tard après " (MAX_DAYS) " jours et il est révoqué quand votre mot de passe change." }
        table {
            thead { tr { th scope="col" { "Nom" } th scope="col" { "Créé le" } th scope="col" { "Expire le" } th scope="col" { "Dernier usage" } th scope="col" { "État" } th scope="col" { "Action" } } }
            tbody {
                @for t in &tokens {
                    tr {
                        td { (t.name) } td { (when(t.created_at)) } td { (when(t.expires_at)) }
                        td { (t.last_used_at.map(when).unwrap_or_else(|| "jamais".into())) }
                        td { @if t.revoked_at.is_some() { "révoqué" } @else if t.is_live(now) { "actif" } @else { "expiré" } }
                        td {
                            @if t.is_live(now) {
                                form method="post" action="/console/jetons/revoquer" {
                                    (hidden_csrf(user))
                                    input type="hidden" name="id" value=(t.id);
                                    button type="submit" class="secondary" { "Révoquer" }
                                }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action="/console/jetons" {
            (hidden_csrf(user))
            fieldset {
                legend { "Créer un jeton" }
                label for="name" { "Nom" span class="hint" { "par exemple le script qui l'utilisera" } }
                input type="text" id="name" name="name" required maxlength="100";
                label for="days" { "Validité en jours" }
                input type="number" id="days" name="days" min="1" max=(MAX_DAYS) value="30" required;
                button type="submit" { "Créer le jeton" }
            }
        }
    })
}

pub(super) async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let user = match console_user(&state, &jar).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    match page_body(&state, &user, None, query.get("fait").map(String::as_str)).await {
        Ok(body) => render("Jetons d'API", &user, body),
        Err(e) => failure(e),
    }
}

pub(super) async fn create(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let days = field(&fields, "days")
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or(0);
    match api_token::create(
        &state,
        &user.actor.account,
        field(&fields, "name").unwrap_or(""),
        days,
    )
    .await
    {
        Ok((secret, token)) => {
            match page_body(&state, &user, Some((&token.id, &secret)), None).await {
                Ok(body) => render("Jetons d'API", &user, body),
                Err(e) => failure(e),
            }
        }
        Err(ApiTokenError::Invalid(m)) => failure(HabilitationError::Invalid(m)),
        Err(ApiTokenError::Store(e)) => failure(e.into()),
    }
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    jar: CookieJar,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let id = field(&fields, "id").unwrap_or("");
    match state
        .stores
        .api_tokens
        .revoke_api_token(user.actor.id(), id, state.clock.now())
        .await
    {
        Ok(true) => Redirect::to("/console/jetons?fait=jeton").into_response(),
        Ok(false) => failure(HabilitationError::NotFound("jeton")),
        Err(e) => failure(e.into()),
    }
}
