//! Personal API tokens: created by the person for their scripts, shown once, revocable.

use super::{ConsoleUser, done_message, hidden_csrf, render, when};
use crate::accounts::api_token::{self, ApiTokenError, MAX_DAYS};
use crate::habilitations::HabilitationError;
use crate::habilitations::Record;
use crate::state::AppState;
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

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
        table class="stack" {
            thead { tr { th scope="col" { "Nom" } th scope="col" { "Créé le" } th scope="col" { "Expire le" } th scope="col" { "Dernier usage" } th scope="col" { "État" } th scope="col" { "Action" } } }
            tbody {
                @if tokens.is_empty() { tr { td colspan="6" { "Aucun jeton pour l'instant." } } }
                @for t in &tokens {
                    tr {
                        td data-label="Nom" { (t.name) } td data-label="Créé le" { (when(t.created_at)) } td data-label="Expire le" { (when(t.expires_at)) }
                        td data-label="Dernier usage" { (t.last_used_at.map(when).unwrap_or_else(|| "jamais".into())) }
                        td data-label="État" { @if t.revoked_at.is_some() { "révoqué" } @else if t.is_live(now) { "actif" } @else { "expiré" } }
                        td data-label="Action" {
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
    user: ConsoleUser,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let body = page_body(&state, &user, None, query.get("fait").map(String::as_str)).await?;
    render("Jetons d'API", &user, body)
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    name: Option<String>,
    days: Option<String>,
}

pub(super) async fn create(
    State(state): State<AppState>,
    ConsoleForm { user, form, .. }: ConsoleForm<CreateForm>,
) -> PageResult {
    let days = form
        .days
        .as_deref()
        .and_then(|d| d.trim().parse().ok())
        .unwrap_or(0);
    let name = form.name.as_deref().unwrap_or("");
    let (secret, token) = api_token::create(&state, &user.actor.account, name, days)
        .await
        .map_err(|e| match e {
            ApiTokenError::Invalid(m) => HabilitationError::Invalid(m),
            ApiTokenError::Store(e) => e.into(),
        })?;
    let body = page_body(&state, &user, Some((&token.id, &secret)), None).await?;
    render("Jetons d'API", &user, body)
}

#[derive(Deserialize)]
pub(super) struct RevokeForm {
    id: Option<String>,
}

pub(super) async fn revoke(
    State(state): State<AppState>,
    ConsoleForm { user, form, .. }: ConsoleForm<RevokeForm>,
) -> PageResult {
    let id = form.id.as_deref().unwrap_or("");
    let revoked = state
        .stores
        .api_tokens
        .revoke_api_token(user.actor.id(), id, state.clock.now())
        .await?;
    if !revoked {
        return Err(HabilitationError::NotFound(Record::ApiToken).into());
    }
    Ok(Redirect::to("/console/jetons?fait=jeton#message").into_response())
}
