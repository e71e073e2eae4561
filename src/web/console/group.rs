//! A group's page: members (added and removed within quotas), its habilitations, closure.

use super::partner::{status_forms, status_text, validity};
use super::{
    console_user, done_message, failure, field, hidden_csrf, may, posted_by, reason_field, render,
};
use crate::habilitations::HabilitationError;
use crate::habilitations::access::{Action, Target};
use crate::habilitations::manage;
use crate::state::AppState;
use crate::types::{AccountId, GroupId};
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::CookieJar;
use maud::html;
use std::collections::HashMap;

type Fields = Vec<(String, String)>;

fn group_id(id: &str) -> Result<GroupId, HabilitationError> {
    GroupId::parse(id).map_err(|_| HabilitationError::NotFound("groupe"))
}

pub(super) async fn show(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let user = match console_user(&state, &jar).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = group_id(&id)?;
        let (group, context) = manage::group(&state, &user.actor, &id).await?;
        let members = state.stores.habilitations.group_members(&id).await?;
        let accounts = state
            .stores
            .accounts
            .accounts_of_partner(&context.partner.id)
            .await?;
        let habilitations = state
            .stores
            .habilitations
            .habilitations_of_group(&id)
            .await?;
        Ok::<_, HabilitationError>((group, context, members, accounts, habilitations))
    }
    .await;
    let (group, context, members, accounts, habilitations) = match result {
        Ok(v) => v,
        Err(e) => return failure(e),
    };
    let here = format!("/console/groupes/{}", group.id);
    let manage_groups =
        may(&user.actor, &context, Action::ManageGroups) && group.closed_at.is_none();
    let candidates: Vec<_> = accounts
        .iter()
        .filter(|a| a.closed_at.is_none() && !members.contains(&a.id))
        .collect();
    let body = html! {
        (done_message(query.get("fait").map(String::as_str)))
        p { "Groupe de " a href={ "/console/partenaires/" (context.partner.id) "#groupes" } { (context.partner.name) }
            @if group.closed_at.is_some() { " — fermé" } }
        h2 { "Membres" }
        @if members.is_empty() { p { "Aucun membre." } }
        ul {
            @for m in &members {
                @if let Some(a) = accounts.iter().find(|a| &a.id == m) {
                    li {
                        a href={ "/console/personnes/" (a.id) } { (a.profile.given_name) " " (a.profile.family_name) }
                        @if manage_groups {
                            form method="post" action={ (here) "/membres" } class="inline" {
                                (hidden_csrf(&user))
                                input type="hidden" name="account" value=(a.id);
                                button type="submit" name="action" value="remove" class="secondary" { "Retirer du groupe" }
                            }
                        }
                    }
                }
            }
        }
        @if manage_groups && !candidates.is_empty() {
            form method="post" action={ (here) "/membres" } {
                (hidden_csrf(&user))
                label for="member" { "Ajouter une personne" }
                select id="member" name="account" required {
                    @for a in &candidates { option value=(a.id) { (a.profile.family_name) " " (a.profile.given_name) " – " (a.profile.email) } }
                }
                button type="submit" name="action" value="add" { "Ajouter au groupe" }
            }
        }
        h2 { "Habilitations du groupe" }
        @if habilitations.is_empty() { p { "Aucune habilitation : attribuez-en depuis la page du partenaire." } }
        table {
            thead { tr { th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Périmètre" } th scope="col" { "Validité" } th scope="col" { "Statut" } th scope="col" { "Actions" } } }
            tbody {
                @for h in &habilitations {
                    tr {
                        td { (h.client_id) } td { (h.role) }
                        td { @if h.scope.is_empty() { "—" } @else { (h.scope.join(", ")) } }
                        td { (validity(h)) } td { (status_text(h)) }
                        td { (status_forms(&user, &context, h, Target::Other, &here)) }
                    }
                }
            }
        }
        @if manage_groups {
            h2 { "Fermer le groupe" }
            form method="post" action={ (here) "/fermer" } {
                (hidden_csrf(&user))
                p class="hint" { "Ses habilitations sont retirées et ses membres déconnectés." }
                (reason_field("fermer-motif", true))
                button type="submit" class="secondary" { "Fermer le groupe" }
            }
        }
    };
    render(&format!("Groupe « {} »", group.name), &user, body)
}

pub(super) async fn members(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = group_id(&id)?;
        let account = AccountId::from_stored(
            field(&fields, "account")
                .ok_or_else(|| HabilitationError::Invalid("Choisissez une personne.".into()))?
                .chars()
                .take(64)
                .collect(),
        );
        match field(&fields, "action") {
            Some("remove") => {
                manage::remove_member(&state, &user.actor, &id, &account, field(&fields, "reason"))
                    .await?
            }
            _ => manage::add_member(&state, &user.actor, &id, &account).await?,
        }
        Ok::<_, HabilitationError>(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/console/groupes/{id}?fait=membres")).into_response(),
        Err(e) => failure(e),
    }
}

pub(super) async fn close(
    State(state): State<AppState>,
    jar: CookieJar,
    Path(id): Path<String>,
    Form(fields): Form<Fields>,
) -> Response {
    let user = match posted_by(&state, &jar, &fields).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let result = async {
        let id = group_id(&id)?;
        manage::close_group(&state, &user.actor, &id, field(&fields, "reason")).await?;
        Ok::<_, HabilitationError>(id)
    }
    .await;
    match result {
        Ok(id) => Redirect::to(&format!("/console/groupes/{id}?fait=membres")).into_response(),
        Err(e) => failure(e),
    }
}
