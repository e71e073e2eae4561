//! A group's page: members (added and removed within quotas), its habilitations, closure.

use super::partner::{row_target, status_forms, status_text, validity};
use super::{
    ConsoleUser, ReasonForm, confirm_page, done_message, hidden_csrf, may, reason_field, render,
};
use crate::habilitations::HabilitationError;
use crate::habilitations::Record;
use crate::habilitations::access::{Action, Target};
use crate::habilitations::manage;
use crate::state::AppState;
use crate::types::{AccountId, GroupId};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

fn group_id(id: &str) -> Result<GroupId, HabilitationError> {
    GroupId::parse(id).map_err(|_| HabilitationError::NotFound(Record::Group))
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
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
    let all_services = state.stores.services.list_services().await?;
    let catalog = super::catalog::Catalog::new(&all_services);
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
        table class="stack" {
            thead { tr { th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Périmètre" } th scope="col" { "Validité" } th scope="col" { "Statut" } th scope="col" { "Actions" } } }
            tbody {
                @for h in &habilitations {
                    tr {
                        td data-label="Service" { (catalog.service(h.client_id.as_str())) } td data-label="Rôle" { (catalog.role(h.client_id.as_str(), h.role.as_str())) }
                        td data-label="Périmètre" { @if h.scope.is_empty() { "—" } @else { (h.scope.join(", ")) } }
                        td data-label="Validité" { (validity(h)) } td data-label="Statut" { (status_text(h)) }
                        td data-label="Actions" { (status_forms(&user, &context, h, Target::Other, &here, &row_target(h, &catalog, &accounts, std::slice::from_ref(&group)))) }
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

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum MemberAction {
    Add,
    Remove,
}

#[derive(Deserialize)]
pub(super) struct MemberForm {
    account: Option<String>,
    action: Option<MemberAction>,
    reason: Option<String>,
}

pub(super) async fn members(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<MemberForm>,
) -> PageResult {
    let id = group_id(&id)?;
    let account = AccountId::from_stored(
        posted
            .form
            .account
            .clone()
            .ok_or_else(|| HabilitationError::Invalid("Choisissez une personne.".into()))?
            .chars()
            .take(64)
            .collect(),
    );
    if matches!(posted.form.action, Some(MemberAction::Remove)) && posted.asks_confirmation(false) {
        let (group, _) = manage::group(&state, &posted.user.actor, &id).await?;
        let (person, _) = manage::person(&state, &posted.user.actor, &account).await?;
        return confirm_page(
            &posted.user,
            "Retirer du groupe",
            html! {
                "Vous allez retirer " (person.profile.given_name) " " (person.profile.family_name)
                " du groupe « " (group.name) " » : les habilitations du groupe cessent de lui donner accès, et ses sessions prennent fin."
            },
            &format!("/console/groupes/{id}/membres"),
            &posted.raw,
            &format!("/console/groupes/{id}"),
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    match form.action {
        Some(MemberAction::Remove) => {
            manage::remove_member(&state, &user.actor, &id, &account, form.reason.as_deref())
                .await?
        }
        _ => manage::add_member(&state, &user.actor, &id, &account).await?,
    }
    Ok(Redirect::to(&format!("/console/groupes/{id}?fait=membres#message")).into_response())
}

pub(super) async fn close(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<ReasonForm>,
) -> PageResult {
    let id = group_id(&id)?;
    if posted.asks_confirmation(true) {
        let (group, _) = manage::group(&state, &posted.user.actor, &id).await?;
        return confirm_page(
            &posted.user,
            "Fermer un groupe",
            html! {
                "Vous allez fermer le groupe « " (group.name) " » : ses habilitations sont retirées et ses membres déconnectés. Un groupe fermé ne se rouvre pas."
            },
            &format!("/console/groupes/{id}/fermer"),
            &posted.raw,
            &format!("/console/groupes/{id}"),
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    manage::close_group(&state, &user.actor, &id, form.reason.as_deref()).await?;
    Ok(Redirect::to(&format!("/console/groupes/{id}?fait=membres#message")).into_response())
}
