//! A partner's page: conventions and modes, quotas with what remains, people, groups,
//! habilitations, annexe 1, reviews and the latest changes; the forms that act on them are
//! in `partner/actions.rs`.

use super::{
    ConsoleUser, PersonForm, confirm_page, day, done_message, hidden_csrf, may, reason_field,
    render,
};
use crate::habilitations::Record;
use crate::habilitations::access::{Action, Target};
use crate::habilitations::manage::{self, StatusChange};
use crate::habilitations::{HabilitationError, PartnerContext};
use crate::state::AppState;
use crate::store::{
    Account, ConventionKind, Group, Habilitation, HabilitationMode, HabilitationStatus, Holder,
    Service,
};
use crate::types::{ClientId, ConventionId, HabilitationId, PartnerId, RoleCode};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

mod actions;
mod conventions;

pub(super) use actions::{
    change_status, contacts, create_convention, create_group, create_partner, create_person, grant,
    set_mode, set_quota, subscribed_roles, terminate_convention,
};

/// Back to the partner page, its message at the top and focused.
fn back(partner: &str, done: &str) -> PageResult {
    Ok(Redirect::to(&format!(
        "/console/partenaires/{partner}?fait={done}#message"
    ))
    .into_response())
}

fn partner_id(id: &str) -> Result<PartnerId, HabilitationError> {
    PartnerId::parse(id).map_err(|_| HabilitationError::NotFound(Record::Partner))
}

pub(super) fn holder_name(holder: &Holder, accounts: &[Account], groups: &[Group]) -> Markup {
    match holder {
        Holder::Account(id) => match accounts.iter().find(|a| &a.id == id) {
            Some(a) => {
                html! { a href={ "/console/personnes/" (a.id) } { (a.profile.given_name) " " (a.profile.family_name) } }
            }
            None => html! { (id) },
        },
        Holder::Group(id) => match groups.iter().find(|g| &g.id == id) {
            Some(g) => html! { "groupe " a href={ "/console/groupes/" (g.id) } { (g.name) } },
            None => html! { (id) },
        },
    }
}

/// The recorded name of a closed habilitation's holder whose account data was erased (the
/// habilitation keeps who held it for its own, longer, retention).
fn erased_holder(
    h: &Habilitation,
    accounts: &[Account],
    records: &[crate::store::HolderRecord],
) -> Option<String> {
    let Holder::Account(id) = &h.holder else {
        return None;
    };
    if accounts.iter().any(|a| &a.id == id) {
        return None;
    }
    records
        .iter()
        .find(|r| r.habilitation == h.id && &r.account == id)
        .map(|r| format!("{} {} ({})", r.given_name, r.family_name, r.email))
}

/// The habilitation a row's buttons act on, for screen readers: "Action sociale (T1) du
/// service CDAP, de Sophie Lambert".
pub(super) fn row_target(
    h: &Habilitation,
    catalog: &super::catalog::Catalog,
    accounts: &[Account],
    groups: &[Group],
) -> String {
    let holder = match &h.holder {
        Holder::Account(id) => accounts
            .iter()
            .find(|a| &a.id == id)
            .map(|a| format!("de {} {}", a.profile.given_name, a.profile.family_name)),
        Holder::Group(id) => groups
            .iter()
            .find(|g| &g.id == id)
            .map(|g| format!("du groupe {}", g.name)),
    };
    format!(
        "{} du service {}{}",
        catalog.role(h.client_id.as_str(), h.role.as_str()),
        catalog.service(h.client_id.as_str()),
        holder.map(|h| format!(", {h}")).unwrap_or_default()
    )
}

/// The status forms of one habilitation the actor may change; `what` names it for screen
/// readers, since every row has the same buttons.
pub(super) fn status_forms(
    user: &ConsoleUser,
    context: &PartnerContext,
    h: &Habilitation,
    target: Target,
    back_to: &str,
    what: &str,
) -> Markup {
    let suspend = may(
        &user.actor,
        context,
        Action::Suspend {
            client_id: &h.client_id,
            role: &h.role,
            target,
        },
    );
    let close = may(
        &user.actor,
        context,
        Action::Grant {
            client_id: &h.client_id,
            role: &h.role,
            target,
        },
    );
    if h.status == HabilitationStatus::Closed || !(suspend || close) {
        return html! {};
    }
    let id = format!("motif-{}", h.id);
    html! {
        form method="post" action={ "/console/habilitations/" (h.id) "/statut" } class="inline" {
            (hidden_csrf(user))
            input type="hidden" name="back" value=(back_to);
            label for=(id) class="sr-only" { "Motif pour " (what) }
            input type="text" id=(id) name="reason" required maxlength="500" placeholder="Motif (obligatoire)";
            @if suspend && h.status == HabilitationStatus::Active {
                button type="submit" name="change" value="suspend" class="secondary" { "Suspendre" span class="sr-only" { " " (what) } }
            }
            @if suspend && h.status == HabilitationStatus::Suspended {
                button type="submit" name="change" value="reactivate" class="secondary" { "Réactiver" span class="sr-only" { " " (what) } }
            }
            @if close {
                button type="submit" name="change" value="close" class="secondary" { "Retirer" span class="sr-only" { " " (what) } }
            }
        }
    }
}

pub(super) fn validity(h: &Habilitation) -> String {
    match h.valid_until {
        Some(until) => format!("du {} au {}", day(h.valid_from), day(until - 1)),
        None => format!("depuis le {}", day(h.valid_from)),
    }
}

pub(super) fn status_text(h: &Habilitation) -> String {
    match (h.status, &h.status_reason) {
        (HabilitationStatus::Active, _) => "active".into(),
        (s, Some(r)) => format!("{} le {} ({r})", s.label(), day(h.status_changed_at)),
        (s, None) => format!("{} le {}", s.label(), day(h.status_changed_at)),
    }
}

/// What a habilitation's status means now: "active", or why it gives no access.
/// `holder_blocked` names the state of a holder's account that cannot log in ("suspendu").
pub(super) fn effect(
    h: &crate::store::Habilitation,
    holder_blocked: Option<&str>,
    now: i64,
) -> String {
    let status = status_text(h);
    if h.status == HabilitationStatus::Closed {
        return status;
    }
    if let Some(state) = holder_blocked {
        return format!("{status} — sans effet : le compte du titulaire est {state}");
    }
    if h.status == HabilitationStatus::Active && !h.is_effective(now) {
        return format!("{status} — sans effet : hors de sa période de validité");
    }
    status
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let id = partner_id(&id)?;
    let context = manage::partner(&state, &user.actor, &id).await?;
    let done = query.get("fait").map(String::as_str);
    let body = page_body(&state, &user, &context, done).await?;
    render(&context.partner.name, &user, body)
}

async fn page_body(
    state: &AppState,
    user: &ConsoleUser,
    context: &PartnerContext,
    done: Option<&str>,
) -> Result<Markup, HabilitationError> {
    let partner = &context.partner;
    let stores = &state.stores;
    let accounts = stores.accounts.accounts_of_partner(&partner.id).await?;
    let groups = stores.habilitations.groups_of_partner(&partner.id).await?;
    let habilitations = stores
        .habilitations
        .habilitations_of_partner(&partner.id)
        .await?;
    let former_holders = stores
        .habilitations
        .closed_holders_of_partner(&partner.id)
        .await?;
    let quotas = manage::quota_uses(state, context).await?;
    let changes = stores
        .habilitations
        .changes_of_partner(&partner.id, 20)
        .await?;
    let reviews = stores.habilitations.reviews_of_partner(&partner.id).await?;
    let mut services: Vec<Service> = Vec::new();
    for c in context.in_force() {
        for s in &c.services {
            if !services.iter().any(|x| &x.client_id == s)
                && let Some(service) = stores.services.get_service(s).await?
            {
                services.push(service);
            }
        }
    }
    let all_services = stores.services.list_services().await?;
    let catalog = super::catalog::Catalog::new(&all_services);
    let names = super::history::Names::load(
        state,
        partner,
        &accounts,
        &groups,
        &all_services,
        &context.conventions,
        &habilitations,
        &changes,
    )
    .await?;
    let actor = &user.actor;
    let here = format!("/console/partenaires/{}", partner.id);
    let manage_users = may(actor, context, Action::ManageUsers);
    let manage_groups = may(actor, context, Action::ManageGroups);
    let caf = may(actor, context, Action::SetQuota);
    let quota_table = context.quotas(state).await?;
    // What the convention lets be granted: a subscribed role, and in delegated mode one the
    // Caf set a quota for.
    let open_to_grant = |s: &Service, role: &RoleCode| {
        context.convention_for(&s.client_id).is_some_and(|c| {
            c.opens_role(&s.client_id, role)
                && (c.mode == HabilitationMode::Centralized
                    || quota_table.contains_key(&(s.client_id.clone(), role.clone())))
        })
    };
    let without_quota: Vec<String> = services
        .iter()
        .flat_map(|s| s.roles.iter().map(move |r| (s, r)))
        .filter(|(s, r)| {
            RoleCode::parse(&r.code).is_ok_and(|role| {
                context.convention_for(&s.client_id).is_some_and(|c| {
                    c.mode == HabilitationMode::Delegated
                        && c.opens_role(&s.client_id, &role)
                        && !quota_table.contains_key(&(s.client_id.clone(), role.clone()))
                })
            })
        })
        .map(|(s, r)| format!("{} – {}", s.name, r.display()))
        .collect();
    let grantable: Vec<(&Service, &crate::store::ServiceRole)> = services
        .iter()
        .flat_map(|s| s.roles.iter().map(move |r| (s, r)))
        .filter(|(s, r)| {
            RoleCode::parse(&r.code).is_ok_and(|role| {
                open_to_grant(s, &role)
                    && may(
                        actor,
                        context,
                        Action::Grant {
                            client_id: &s.client_id,
                            role: &role,
                            target: Target::Other,
                        },
                    )
            })
        })
        .collect();
    let open_accounts: Vec<&Account> = accounts.iter().filter(|a| a.closed_at.is_none()).collect();
    let open_groups: Vec<&Group> = groups.iter().filter(|g| g.closed_at.is_none()).collect();
    let can_grant = !grantable.is_empty() && (!open_accounts.is_empty() || !open_groups.is_empty());
    let now = state.clock.now();
    let files_requests = crate::habilitations::access::files_requests(actor, partner);
    let show_requests = files_requests && context.has_mode(HabilitationMode::Centralized)
        || crate::habilitations::access::decides_requests(actor, partner);
    let requests = if show_requests {
        Some(super::requests::partner_requests(state, user, partner).await?)
    } else {
        None
    };
    let requestable: Vec<(&Service, &crate::store::ServiceRole)> = services
        .iter()
        .filter(|s| {
            context
                .convention_for(&s.client_id)
                .is_some_and(|c| c.mode == HabilitationMode::Centralized)
        })
        .flat_map(|s| s.roles.iter().map(move |r| (s, r)))
        .filter(|(s, r)| {
            RoleCode::parse(&r.code).is_ok_and(|role| {
                open_to_grant(s, &role)
                    && crate::habilitations::access::may_request(
                        actor,
                        partner,
                        &s.client_id,
                        &role,
                        Target::Other,
                    )
                    && !may(
                        actor,
                        context,
                        Action::Grant {
                            client_id: &s.client_id,
                            role: &role,
                            target: Target::Other,
                        },
                    )
            })
        })
        .collect();
    // A request is for people the requester would manage: not the partner's administrators
    // (nor, for a delegated manager, other managers).
    let requestable_holders: Vec<&Account> = open_accounts
        .iter()
        .copied()
        .filter(|a| {
            let target = Target::of(a);
            if crate::habilitations::access::cancels_requests(actor, partner) {
                target != Target::Administrator
            } else {
                target == Target::Other
            }
        })
        .collect();
    let (closed, current): (Vec<&Habilitation>, Vec<&Habilitation>) = habilitations
        .iter()
        .partition(|h| h.status == HabilitationStatus::Closed);
    let habilitation_rows = |caption: &str, rows: &[&Habilitation]| {
        html! {
            table class="stack" {
                caption class="sr-only" { (caption) }
                thead { tr { th scope="col" { "Titulaire" } th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Périmètre" } th scope="col" { "Validité" } th scope="col" { "Statut" } th scope="col" { "Actions" } } }
                tbody {
                    @for h in rows {
                        @let holder = match &h.holder {
                            Holder::Account(a) => accounts.iter().find(|x| &x.id == a),
                            Holder::Group(_) => None,
                        };
                        @let blocked = holder.is_some_and(|a| !a.is_usable() && a.status != crate::store::AccountStatus::Pending);
                        tr {
                            td data-label="Titulaire" {
                                @match erased_holder(h, &accounts, &former_holders) {
                                    Some(name) => { (name) " " span class="hint" { "(données du compte effacées)" } }
                                    None => (holder_name(&h.holder, &accounts, &groups)),
                                }
                            }
                            td data-label="Service" { (catalog.service(h.client_id.as_str())) }
                            td data-label="Rôle" { (catalog.role(h.client_id.as_str(), h.role.as_str())) }
                            td data-label="Périmètre" { @if h.scope.is_empty() { "—" } @else { (h.scope.join(", ")) } }
                            td data-label="Validité" { (validity(h)) }
                            td data-label="Statut" { (effect(h, blocked.then(|| holder.map(manage::account_state_label).unwrap_or("suspendu ou fermé")), now)) }
                            td data-label="Actions" {
                                @let target = holder.map(Target::of).unwrap_or(Target::Other);
                                @let what = row_target(h, &catalog, &accounts, &groups);
                                @let forms = status_forms(user, context, h, target, &here, &what);
                                @if forms.0.is_empty() && files_requests {
                                    (super::requests::status_request_form(user, h, &here, &what))
                                } @else {
                                    (forms)
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(html! {
        (done_message(done))
        p { "SIRET : " (partner.siret.as_ref().map(|s| s.to_string()).unwrap_or_else(|| "non renseigné".into())) " — Caf " (partner.caf) }
        nav aria-label="Sections de la page" {
            ul class="nav inpage" {
                li { a href="#conventions" { "Conventions" } }
                li { a href="#quotas" { "Quotas" } }
                li { a href="#personnes" { "Personnes" } }
                li { a href="#groupes" { "Groupes" } }
                li { a href="#habilitations" { "Habilitations" } }
                @if requests.is_some() { li { a href="#demandes" { "Demandes à la Caf" } } }
                li { a href="#annexe1" { "Annexe 1" } }
                li { a href="#revues" { "Revues" } }
                li { a href="#historique" { "Historique" } }
            }
        }

        (conventions::section(user, context, &catalog, &all_services, caf, &here))

        h2 id="quotas" { "Quotas" }
        table class="stack" {
            thead { tr { th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Attribuées" } th scope="col" { "Maximum" } th scope="col" { "Restantes" } } }
            tbody {
                @for q in &quotas {
                    tr {
                        td data-label="Service" { (catalog.service(q.client_id.as_str())) }
                        td data-label="Rôle" { (catalog.role(q.client_id.as_str(), q.role.as_str())) }
                        td data-label="Attribuées" { (q.used) }
                        td data-label="Maximum" { (q.maximum.map(|m| m.to_string()).unwrap_or_else(|| "sans limite".into())) }
                        td data-label="Restantes" { (q.remaining().map(|m| m.to_string()).unwrap_or_else(|| "—".into())) }
                    }
                }
            }
        }
        @if caf && !quotas.is_empty() {
            form method="post" action={ "/console/conventions/" (quotas[0].convention) "/quota" } {
                (hidden_csrf(user))
                fieldset {
                    legend { "Fixer un quota" }
                    label for="quota-role" { "Service et rôle" }
                    select id="quota-role" name="service_role" required {
                        @for q in &quotas { option value={ (q.convention) "|" (q.client_id) "|" (q.role) } { (catalog.service(q.client_id.as_str())) " – " (catalog.role(q.client_id.as_str(), q.role.as_str())) } }
                    }
                    label for="quota-max" { "Nombre maximal de personnes" span class="hint" { "vide : sans limite" } }
                    input type="number" id="quota-max" name="maximum" min="0" max="100000";
                    (reason_field("quota-motif", false))
                    button type="submit" { "Enregistrer le quota" }
                }
            }
        }

        h2 id="personnes" { "Personnes" }
        table class="stack" {
            thead { tr { th scope="col" { "Nom" } th scope="col" { "Adresse" } th scope="col" { "Fonction" } th scope="col" { "Compte" } th scope="col" { "Rôle d'administration" } } }
            tbody {
                @for a in &accounts {
                    tr {
                        td data-label="Nom" { a href={ "/console/personnes/" (a.id) } { (a.profile.family_name) " " (a.profile.given_name) } }
                        td data-label="Adresse" { (a.profile.email) }
                        td data-label="Fonction" { (a.profile.function.as_deref().unwrap_or("—")) }
                        td data-label="Compte" { (manage::account_state_label(a)) }
                        td data-label="Rôle d'administration" { (super::roles_of(a)) }
                    }
                }
            }
        }
        @if manage_users {
            form method="post" action={ (here) "/personnes" } {
                (hidden_csrf(user))
                fieldset {
                    legend { "Créer une personne" }
                    p class="hint" { "Elle reçoit par courriel un lien pour choisir son mot de passe." }
                    label for="p-email" { "Adresse électronique professionnelle" span class="hint" { "celle de la personne elle-même, pas celle d'un service (accueil@…, service.…@…) : le compte est nominatif" } }
                    input type="email" id="p-email" name="email" required autocomplete="off";
                    label for="p-civ" { "Civilité" span class="hint" { "facultatif" } }
                    select id="p-civ" name="civility" { option value="" { "—" } option { "Mme" } option { "M." } }
                    label for="p-given" { "Prénom" }
                    input type="text" id="p-given" name="given_name" required maxlength="100";
                    label for="p-family" { "Nom" }
                    input type="text" id="p-family" name="family_name" required maxlength="100";
                    label for="p-function" { "Fonction" span class="hint" { "facultatif" } }
                    input type="text" id="p-function" name="function" maxlength="100";
                    button type="submit" { "Créer la personne" }
                }
            }
        }

        h2 id="groupes" { "Groupes" }
        @if groups.is_empty() { p { "Aucun groupe." } }
        ul {
            @for g in &groups {
                li {
                    a href={ "/console/groupes/" (g.id) } { (g.name) }
                    @if g.closed_at.is_some() { " (fermé)" }
                }
            }
        }
        @if manage_groups {
            form method="post" action={ (here) "/groupes" } {
                (hidden_csrf(user))
                label for="g-name" { "Nom du nouveau groupe" }
                input type="text" id="g-name" name="name" required maxlength="100";
                button type="submit" { "Créer le groupe" }
            }
        }

        h2 id="habilitations" { "Habilitations" }
        p { a href={ "/console/recherche?type=habilitations&partner=" (partner.id) } { "Rechercher et filtrer les habilitations de ce partenaire" } }
        @if current.is_empty() { p { "Aucune habilitation en cours." } } @else {
            (habilitation_rows("Habilitations en cours", &current))
        }
        @if !closed.is_empty() {
            details {
                summary { "Habilitations retirées (" (closed.len()) ")" }
                (habilitation_rows("Habilitations retirées", &closed))
            }
        }
        @if !without_quota.is_empty() && (manage_users || caf) {
            p class="hint" { "Rôles souscrits qui ne peuvent pas encore être attribués, faute de nombre maximal fixé par la Caf : " (without_quota.join(" ; ")) "." }
        }
        @if can_grant {
            form method="post" action={ (here) "/habilitations" } {
                (hidden_csrf(user))
                fieldset {
                    legend { "Attribuer une habilitation" }
                    label for="h-holder" { "Titulaire" }
                    select id="h-holder" name="holder" required {
                        @for a in &open_accounts { option value={ "account:" (a.id) } { (a.profile.family_name) " " (a.profile.given_name) " – " (a.profile.email) } }
                        @for g in &open_groups { option value={ "group:" (g.id) } { "Groupe " (g.name) } }
                    }
                    label for="h-role" { "Service et rôle" }
                    select id="h-role" name="service_role" required {
                        @for (s, r) in &grantable { option value={ (s.client_id) "|" (r.code) } { (s.name) " – " (r.display()) } }
                    }
                    label for="h-scope" { "Périmètre" span class="hint" { "codes INSEE des communes couvertes, séparés par des virgules, pour les services qui en demandent un" } }
                    input type="text" id="h-scope" name="scope" maxlength="2000";
                    label for="h-until" { "Dernier jour de validité" span class="hint" { "facultatif" } }
                    input type="date" id="h-until" name="valid_until";
                    (reason_field("h-motif", false))
                    button type="submit" { "Attribuer" }
                }
            }
        }

        @if let Some(requests) = &requests {
            h2 id="demandes" { "Demandes à la Caf" }
            @if files_requests && context.has_mode(HabilitationMode::Centralized) {
                p { "La gestion des habilitations de ce partenaire est centralisée : adressez vos demandes à la Caf, qui les réalise ou les refuse en donnant le motif. Vous êtes averti par courriel de sa décision." }
                (super::requests::filing_forms(user, partner, &requestable_holders, &open_groups, &requestable))
            }
            @if crate::habilitations::access::decides_requests(actor, partner) {
                p { a href="/console/demandes" { "Traiter les demandes en attente" } }
            }
            h3 { "Demandes adressées à la Caf" }
            (requests)
        }

        h2 id="annexe1" { "Annexe 1" }
        ul {
            @for s in &services {
                li {
                    (s.name) " : "
                    a href={ (here) "/annexe1?service=" (s.client_id) } { "version imprimable et import" }
                    " — "
                    a href={ (here) "/annexe1?service=" (s.client_id) "&format=csv" } { "CSV" }
                }
            }
        }

        h2 id="revues" { "Revues annuelles" }
        @if reviews.is_empty() { p { "Aucune revue." } }
        ul {
            @for r in &reviews {
                li {
                    a href={ "/console/revues/" (r.id) } { "Revue commencée le " (day(r.started_at)) }
                    @match r.completed_at {
                        Some(t) => { " — terminée le " (day(t)) " — " a href={ "/console/revues/" (r.id) "/rapport" } { "rapport signé" } }
                        None => { " — en cours" }
                    }
                }
            }
        }
        @if may(actor, context, Action::PerformReview) {
            form method="post" action={ (here) "/revues" } {
                (hidden_csrf(user))
                button type="submit" { "Commencer ou reprendre la revue annuelle" }
            }
        }

        h2 id="historique" { "Derniers changements" }
        (super::history::table(&changes, &names))
    })
}
