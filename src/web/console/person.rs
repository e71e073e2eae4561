//! A person's page: profile, habilitations, groups, account actions (suspension, departure,
//! forced password change), the Caf's appointments and the administrators' delegations.

use super::forms::{account_id, back_to_person as back};
use super::partner::{holder_name, row_target, status_forms, validity};
use super::person_access::{access_facts, access_section};
use super::{
    ConsoleUser, PersonForm, confirm_page, done_message, hidden_csrf, may, reason_field, render,
};
use crate::habilitations::HabilitationError;
use crate::habilitations::access::{Action, Target};
use crate::habilitations::manage::{self, Appointment};
use crate::state::AppState;
use crate::store::{AdminRole, Delegation};
use crate::types::{ClientId, RoleCode};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, Query, State};
use maud::html;
use serde::Deserialize;
use std::collections::HashMap;

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let id = account_id(&id);
    let (account, context) = manage::person(&state, &user.actor, &id).await?;
    let habilitations = state
        .stores
        .habilitations
        .habilitations_of_account(&id)
        .await?;
    let groups = state
        .stores
        .habilitations
        .groups_of_partner(&context.partner.id)
        .await?;
    let member_of = state.stores.habilitations.groups_of_account(&id).await?;
    let delegations = state.stores.habilitations.delegations_of(&id).await?;
    let all_services = state.stores.services.list_services().await?;
    let catalog = super::catalog::Catalog::new(&all_services);
    let access = access_facts(&state, &account).await?;
    let mut services = Vec::new();
    for c in context.in_force() {
        for s in &c.services {
            if let Some(service) = state.stores.services.get_service(s).await?
                && !services
                    .iter()
                    .any(|x: &crate::store::Service| x.client_id == service.client_id)
            {
                services.push(service);
            }
        }
    }
    let actor = &user.actor;
    let target = Target::of(&account);
    let p = &account.profile;
    let here = format!("/console/personnes/{}", account.id);
    let manage_users = may(actor, &context, Action::ManageUsers);
    let suspend = may(actor, &context, Action::SuspendAccount { target });
    let close = may(actor, &context, Action::CloseAccount { target });
    let force = may(actor, &context, Action::ForcePasswordChange);
    let edit = may(actor, &context, Action::EditPerson { target });
    let reset_factor = may(actor, &context, Action::ResetSecondFactor);
    let appoint = may(actor, &context, Action::AppointAdministrators);
    let delegate =
        may(actor, &context, Action::NameDelegatedManagers) && target != Target::Administrator;
    let open = account.closed_at.is_none();
    let blocked = !account.is_usable() && account.status != crate::store::AccountStatus::Pending;
    let now = state.clock.now();
    let accounts = std::slice::from_ref(&account);
    let body = html! {
        (done_message(query.get("fait").map(String::as_str)))
        p {
            a href={ "/console/partenaires/" (context.partner.id) } { (context.partner.name) }
            " — " (p.email) " — compte " strong { (manage::account_state_label(&account)) }
            @if let Some(r) = &account.status_reason { " (" (r) ")" }
        }
        @if !p.admin_roles.is_empty() {
            p { "Rôles d'administration : " (super::roles_of(&account)) }
        }

        h2 { "Profil" }
        @if manage_users && open {
            form method="post" action=(here) {
                (hidden_csrf(&user))
                label for="civility" { "Civilité" }
                select id="civility" name="civility" {
                    option value="" selected[p.civility.is_none()] { "—" }
                    option selected[p.civility.as_deref() == Some("Mme")] { "Mme" }
                    option selected[p.civility.as_deref() == Some("M.")] { "M." }
                }
                label for="given_name" { "Prénom" }
                input type="text" id="given_name" name="given_name" required maxlength="100" value=(p.given_name);
                label for="family_name" { "Nom" }
                input type="text" id="family_name" name="family_name" required maxlength="100" value=(p.family_name);
                label for="function" { "Fonction" }
                input type="text" id="function" name="function" maxlength="100" value=(p.function.as_deref().unwrap_or(""));
                button type="submit" { "Corriger le profil" }
            }
        } @else {
            p { (p.civility.as_deref().unwrap_or("")) " " (p.given_name) " " (p.family_name) " — " (p.function.as_deref().unwrap_or("fonction non renseignée")) }
        }

        h2 { "Habilitations" }
        @if habilitations.is_empty() { p { "Aucune habilitation." } }
        @if blocked && !habilitations.is_empty() {
            p class="error" { "Le compte est " (manage::account_state_label(&account)) " : ses habilitations restent enregistrées mais sont sans effet, la personne ne peut se connecter à aucun service." }
        }
        table class="stack" {
            thead { tr { th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Périmètre" } th scope="col" { "Détenue" } th scope="col" { "Validité" } th scope="col" { "Statut" } th scope="col" { "Actions" } } }
            tbody {
                @for h in &habilitations {
                    tr {
                        td data-label="Service" { (catalog.service(h.client_id.as_str())) }
                        td data-label="Rôle" { (catalog.role(h.client_id.as_str(), h.role.as_str())) }
                        td data-label="Périmètre" { @if h.scope.is_empty() { "—" } @else { (h.scope.join(", ")) } }
                        td data-label="Détenue" { @if let crate::store::Holder::Group(_) = &h.holder { "par le " (holder_name(&h.holder, accounts, &groups)) } @else { "en propre" } }
                        td data-label="Validité" { (validity(h)) }
                        td data-label="Statut" { (super::partner::effect(h, blocked.then(|| manage::account_state_label(&account)), now)) }
                        td data-label="Actions" { (status_forms(&user, &context, h, target, &here, &row_target(h, &catalog, accounts, &groups))) }
                    }
                }
            }
        }
        @if !member_of.is_empty() {
            p { "Membre des groupes : "
                @for (i, g) in member_of.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href={ "/console/groupes/" (g.id) } { (g.name) }
                }
            }
        }

        h2 id="acces" { "Accès" }
        (access_section(&user, &here, &access, open && edit))
        @if open && reset_factor && (access.totp || !access.passkeys.is_empty()) {
            form method="post" action={ (here) "/second-facteur" } {
                (hidden_csrf(&user))
                (reason_field("facteur-motif", true))
                button type="submit" class="secondary" { "Réinitialiser les seconds facteurs (téléphone ou clé perdus)" }
            }
        }

        @if open && (suspend || close || force) {
            h2 { "Compte" }
            form method="post" action={ (here) "/compte" } {
                (hidden_csrf(&user))
                (reason_field("compte-motif", true))
                @if suspend && account.status != crate::store::AccountStatus::Suspended {
                    button type="submit" name="action" value="suspend" { "Suspendre le compte à titre conservatoire" }
                }
                @if suspend && account.status == crate::store::AccountStatus::Suspended {
                    button type="submit" name="action" value="reactivate" { "Lever la suspension" }
                }
                @if force {
                    button type="submit" name="action" value="force_password_change" class="secondary" { "Forcer le changement de mot de passe" }
                }
                @if close {
                    button type="submit" name="action" value="close" class="secondary" { "Fermer l'accès (départ)" }
                }
            }
        }

        @if open && !close && crate::habilitations::access::files_requests(actor, &context.partner) && account.id != actor.account.id {
            (super::requests::close_request_form(&user, &context.partner, &account, &here))
        }

        @if appoint && open {
            h2 { "Désignation des administrateurs" }
            form method="post" action={ (here) "/designation" } {
                (hidden_csrf(&user))
                @for (appointment, role) in [(Appointment::Principal, AdminRole::PartnerAdministrator), (Appointment::Substitute, AdminRole::PartnerSubstitute)] {
                    @let held = p.admin_roles.contains(&role);
                    button type="submit" name="designation" value={ (if appointment == Appointment::Principal { "principal" } else { "substitute" }) ":" (if held { "remove" } else { "appoint" }) } class="secondary" {
                        @if held { "Retirer le rôle d'" (appointment.label()) } @else { "Désigner " (appointment.label()) }
                    }
                }
            }
        }

        @if delegate && open {
            h2 { "Gestionnaire délégué" }
            form method="post" action={ (here) "/delegations" } {
                (hidden_csrf(&user))
                fieldset {
                    legend { "Rôles que cette personne peut attribuer et retirer" }
                    @for s in &services {
                        @let all = Delegation { client_id: s.client_id.clone(), role: None };
                        div class="check" {
                            input type="checkbox" id={ "d-" (s.client_id) } name="delegation" value={ (s.client_id) "|*" } checked[delegations.contains(&all)];
                            label for={ "d-" (s.client_id) } { (s.name) " : tous les rôles" }
                        }
                        @for r in &s.roles {
                            @let one = RoleCode::parse(&r.code).ok().map(|role| Delegation { client_id: s.client_id.clone(), role: Some(role) });
                            div class="check" {
                                input type="checkbox" id={ "d-" (s.client_id) "-" (r.code) } name="delegation" value={ (s.client_id) "|" (r.code) } checked[one.is_some_and(|d| delegations.contains(&d))];
                                label for={ "d-" (s.client_id) "-" (r.code) } { (s.name) " : " (r.label) }
                            }
                        }
                    }
                    p class="hint" { "Ne rien cocher retire le rôle de gestionnaire délégué." }
                    button type="submit" { "Enregistrer les délégations" }
                }
            }
        }
    };
    render(&format!("{} {}", p.given_name, p.family_name), &user, body)
}

pub(super) async fn update(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<PersonForm>,
) -> PageResult {
    let id = account_id(&id);
    let (account, _) = manage::person(&state, &user.actor, &id).await?;
    let person = form.fields(Some(account.profile.email.as_str()))?;
    manage::update_person(&state, &user.actor, &id, person).await?;
    back(&id, "profil")
}

#[derive(Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(super) enum AccountAction {
    Suspend,
    Reactivate,
    Close,
    ForcePasswordChange,
}

#[derive(Deserialize)]
pub(super) struct AccountActionForm {
    action: AccountAction,
    reason: Option<String>,
}

pub(super) async fn account_action(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<AccountActionForm>,
) -> PageResult {
    let id = account_id(&id);
    if posted.asks_confirmation(true) && posted.form.action != AccountAction::Reactivate {
        let (account, _) = manage::person(&state, &posted.user.actor, &id).await?;
        let who = format!(
            "{} {} ({})",
            account.profile.given_name, account.profile.family_name, account.profile.email
        );
        let (title, what) = match posted.form.action {
            AccountAction::Suspend => (
                "Suspendre un compte",
                format!(
                    "Vous allez suspendre le compte de {who} : ses sessions prennent fin et aucune application ne l'accepte plus jusqu'à sa réactivation."
                ),
            ),
            AccountAction::Close => (
                "Fermer un compte",
                format!(
                    "Vous allez fermer le compte de {who} (départ) : ses habilitations sont retirées, et le compte ne se rouvre pas."
                ),
            ),
            _ => (
                "Demander un changement de mot de passe",
                format!(
                    "{who} devra choisir un nouveau mot de passe à sa prochaine connexion ; ses sessions prennent fin."
                ),
            ),
        };
        return confirm_page(
            &posted.user,
            title,
            maud::html! { (what) },
            &format!("/console/personnes/{id}/compte"),
            &posted.raw,
            &format!("/console/personnes/{id}"),
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    let (actor, reason) = (&user.actor, form.reason.as_deref());
    let done = match form.action {
        AccountAction::Suspend => {
            manage::suspend_person(&state, actor, &id, true, reason).await?;
            "compte-suspendu"
        }
        AccountAction::Reactivate => {
            manage::suspend_person(&state, actor, &id, false, reason).await?;
            "compte-reactive"
        }
        AccountAction::Close => {
            manage::close_person(&state, actor, &id, reason).await?;
            "compte-ferme"
        }
        AccountAction::ForcePasswordChange => {
            manage::force_password_change(&state, actor, &id, reason).await?;
            "mot-de-passe-demande"
        }
    };
    back(&id, done)
}

#[derive(Deserialize)]
pub(super) struct AppointForm {
    /// `principal:appoint`, `substitute:remove`…
    designation: Option<String>,
    reason: Option<String>,
}

pub(super) async fn appoint(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<AppointForm>,
) -> PageResult {
    let id = account_id(&id);
    let unknown = || HabilitationError::Invalid("Désignation inconnue.".into());
    let designation = posted.form.designation.clone().unwrap_or_default();
    let (which, what) = designation.split_once(':').ok_or_else(unknown)?;
    let appointment = Appointment::parse(which).ok_or_else(unknown)?;
    if what != "appoint" && posted.asks_confirmation(false) {
        let (account, _) = manage::person(&state, &posted.user.actor, &id).await?;
        let role =
            crate::labels::admin_role(appointment.role(), account.profile.civility.as_deref());
        return confirm_page(
            &posted.user,
            "Mettre fin à une désignation",
            maud::html! {
                "Vous allez mettre fin à la désignation de " (account.profile.given_name) " " (account.profile.family_name)
                " comme " (role) " : ses droits d'administration cessent et ses sessions prennent fin."
            },
            &format!("/console/personnes/{id}/designation"),
            &posted.raw,
            &format!("/console/personnes/{id}"),
        );
    }
    let ConsoleForm { user, form, .. } = posted;
    manage::appoint(
        &state,
        &user.actor,
        &id,
        appointment,
        what == "appoint",
        form.reason.as_deref(),
    )
    .await?;
    back(&id, "designation")
}

#[derive(Deserialize)]
pub(super) struct DelegationsForm {
    /// `service|role`, or `service|*` for every role of the service.
    #[serde(default)]
    delegation: Vec<String>,
    reason: Option<String>,
}

pub(super) async fn delegations(
    State(state): State<AppState>,
    Path(id): Path<String>,
    posted: ConsoleForm<DelegationsForm>,
) -> PageResult {
    let id = account_id(&id);
    if posted.form.delegation.is_empty() && posted.asks_confirmation(false) {
        let (account, _) = manage::person(&state, &posted.user.actor, &id).await?;
        if account
            .profile
            .admin_roles
            .contains(&AdminRole::DelegatedManager)
        {
            let role = crate::labels::admin_role(
                AdminRole::DelegatedManager,
                account.profile.civility.as_deref(),
            );
            return confirm_page(
                &posted.user,
                "Mettre fin à une délégation",
                maud::html! {
                    "Vous allez retirer à " (account.profile.given_name) " " (account.profile.family_name)
                    " le rôle de " (role) " : ses droits de gestion cessent et ses sessions prennent fin."
                },
                &format!("/console/personnes/{id}/delegations"),
                &posted.raw,
                &format!("/console/personnes/{id}"),
            );
        }
    }
    let ConsoleForm { user, form, .. } = posted;
    let mut delegations = Vec::new();
    for value in &form.delegation {
        let invalid = || HabilitationError::Invalid("Délégation inconnue.".into());
        let (service, role) = value.split_once('|').ok_or_else(invalid)?;
        delegations.push(Delegation {
            client_id: ClientId::parse(service).map_err(|_| invalid())?,
            role: match role {
                "*" => None,
                r => Some(RoleCode::parse(r).map_err(|_| invalid())?),
            },
        });
    }
    manage::name_delegated_manager(
        &state,
        &user.actor,
        &id,
        delegations,
        form.reason.as_deref(),
    )
    .await?;
    back(&id, "delegations")
}
