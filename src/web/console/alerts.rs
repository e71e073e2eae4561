//! `/console/alertes`: the alerts in an officer's reach, newest first, with their evidence and
//! a link to the traces; an officer acknowledges one saying what was verified (traced).

use super::{ConsoleUser, done_message, hidden_csrf, render};
use crate::state::AppState;
use crate::traces::alerts::{self, rule_label};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let list = alerts::list(&state, &user.actor).await?;
    let partners: HashMap<String, String> = state
        .stores
        .organisations
        .list_partners(None)
        .await?
        .into_iter()
        .map(|p| (p.id.to_string(), p.name))
        .collect();
    let mut officers = HashMap::new();
    for id in list.iter().filter_map(|a| a.acknowledged_by.as_ref()) {
        if let Some(a) = state.stores.accounts.get_account(id).await? {
            officers.insert(
                id.to_string(),
                format!("{} {}", a.profile.given_name, a.profile.family_name),
            );
        }
    }
    let open = list.iter().filter(|a| a.acknowledged_at.is_none()).count();
    let body = html! {
        (done_message(q.get("fait").map(String::as_str)))
        p {
            "Les alertes de votre périmètre, les plus récentes d'abord. Une alerte est envoyée par courriel une fois par série : "
            "tant que les événements d'une même règle se suivent, elle compte les suivants sans nouveau message. "
            "Les règles et leurs seuils sont dans la section [alerts] de la configuration."
        }
        p { strong { (open) } " alerte(s) à acquitter." }
        @if list.is_empty() { p { "Aucune alerte." } }
        @for a in &list {
            section class="alert-item" id={ "alerte-" (a.id) } aria-labelledby={ "titre-" (a.id) } {
                h2 id={ "titre-" (a.id) } {
                    (rule_label(&a.rule))
                    @if a.acknowledged_at.is_none() { " — " span class="status-open" { "à acquitter" } }
                }
                dl class="facts" {
                    dt { "Ce qui a été vu" } dd { (a.evidence["summary"].as_str().unwrap_or("—")) }
                    dt { "Partenaire" } dd {
                        @match (&a.partner, &a.caf) {
                            (Some(p), _) => (partners.get(p.as_str()).map(String::as_str).unwrap_or(p.as_str())),
                            (None, Some(c)) => { "personnel de la Caf " (c) },
                            (None, None) => "aucun (adresse inconnue de tout partenaire)",
                        }
                    }
                    dt { "Première fois" } dd { (super::when(a.first_at)) }
                    dt { "Dernière fois" } dd { (super::when(a.last_at)) " — règle déclenchée " (a.events) " fois dans la série" }
                    dt { "Traces" } dd {
                        a href={ "/console/traces?" (a.evidence["search"].as_str().unwrap_or("search=1")) } { "voir les traces en cause" }
                    }
                    @if let Some(at) = a.acknowledged_at {
                        dt { "Acquittée" } dd {
                            "le " (super::when(at)) " par "
                            (a.acknowledged_by.as_ref().and_then(|b| officers.get(b.as_str())).map(String::as_str).unwrap_or("un responsable"))
                            " : " (a.acknowledgement.as_deref().unwrap_or(""))
                        }
                    }
                }
                @if a.acknowledged_at.is_none() {
                    form method="post" action={ "/console/alertes/" (a.id) "/acquitter" } {
                        (hidden_csrf(&user))
                        label for={ "commentaire-" (a.id) } { "Ce qui a été vérifié ou fait" }
                        textarea id={ "commentaire-" (a.id) } name="comment" required rows="2" maxlength="1000" {}
                        button type="submit" { "Acquitter l'alerte" }
                    }
                }
            }
        }
    };
    render("Alertes de sécurité", &user, body)
}

#[derive(Deserialize)]
pub(super) struct AcknowledgeForm {
    comment: Option<String>,
}

pub(super) async fn acknowledge(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ConsoleForm { user, form, .. }: ConsoleForm<AcknowledgeForm>,
) -> PageResult {
    let origin = crate::web::origin(&headers, Some(peer));
    alerts::acknowledge(
        &state,
        &user.actor,
        &id,
        form.comment.as_deref().unwrap_or(""),
        &origin,
    )
    .await?;
    Ok(Redirect::to("/console/alertes?fait=alerte#message").into_response())
}
