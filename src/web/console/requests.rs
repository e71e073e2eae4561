//! Requests of partners in centralized mode: filed from the partner and person pages,
//! worked by the Caf's habilitation officer on `/console/demandes` (accept, which carries the
//! change out, or refuse with a reason); the partner's side sees its requests there too.

use super::forms::GrantForm;
use super::{ConsoleUser, hidden_csrf, render, when};
use crate::habilitations::access;
use crate::habilitations::manage;
use crate::habilitations::{HabilitationError, Record};
use crate::state::AppState;
use crate::store::request::{Request, RequestStatus, RequestedChange};
use crate::store::{Account, Partner};
use crate::types::{AccountId, HabilitationId, PartnerId, RequestId};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;

async fn who(state: &AppState, reference: &str) -> Result<String, HabilitationError> {
    manage::author_words(state, reference).await
}

/// One request as a table row's cells: received, partner, requester, what, reason, status.
struct Shown {
    request: Request,
    partner: String,
    requester: String,
    what: String,
    decider: Option<String>,
}

async fn shown(
    state: &AppState,
    request: Request,
    partner: &str,
) -> Result<Shown, HabilitationError> {
    let decider = match &request.decided_by {
        Some(d) => Some(who(state, d).await?),
        None => None,
    };
    Ok(Shown {
        partner: partner.to_owned(),
        requester: who(state, &request.requested_by).await?,
        what: manage::describe(state, &request.change).await?,
        decider,
        request,
    })
}

/// The partner's requests, newest first, with a way to withdraw the pending ones.
pub(super) async fn partner_requests(
    state: &AppState,
    user: &ConsoleUser,
    partner: &Partner,
) -> Result<Markup, HabilitationError> {
    let requests = manage::partner_requests(state, &user.actor, &partner.id, 50).await?;
    let mut rows = Vec::new();
    for r in requests {
        rows.push(shown(state, r, &partner.name).await?);
    }
    Ok(html! {
        @if rows.is_empty() { p { "Aucune demande adressée à la Caf." } } @else {
            table class="stack" {
                caption class="sr-only" { "Demandes adressées à la Caf" }
                thead { tr { th scope="col" { "Date" } th scope="col" { "Demande" } th scope="col" { "Par" } th scope="col" { "Statut" } } }
                tbody {
                    @for s in &rows {
                        tr {
                            td data-label="Date" { (when(s.request.requested_at)) }
                            td data-label="Demande" {
                                (capitalised(&s.what))
                                @if let Some(r) = &s.request.reason { br; span class="hint" { "Motif : " (r) } }
                            }
                            td data-label="Par" { (s.requester) }
                            td data-label="Statut" {
                                (s.request.status.label())
                                @if let (Some(d), Some(at)) = (&s.decider, s.request.decided_at) { " — " (d) ", " (when(at)) }
                                @if let Some(r) = &s.request.decision_reason { br; span class="hint" { "Motif : " (r) } }
                                @if s.request.status == RequestStatus::Pending && (s.request.requested_by == user.actor.reference() || access::cancels_requests(&user.actor, partner)) {
                                    form method="post" action={ "/console/demandes/" (s.request.id) } class="inline" {
                                        (hidden_csrf(user))
                                        button type="submit" name="decision" value="cancel" class="secondary" { "Retirer la demande" span class="sr-only" { " " (crate::french::de(&s.what)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `/console/demandes`: the Caf's queue of pending requests, and the partner's own requests.
pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let queue = manage::request_queue(&state, &user.actor).await?;
    let mut rows = Vec::new();
    for (request, partner) in queue {
        rows.push(shown(&state, request, &partner.name).await?);
    }
    let own = match &user.actor.account.profile.partner {
        Some(p) => match state.stores.organisations.get_partner(p).await? {
            Some(partner) if access::files_requests(&user.actor, &partner) => {
                Some((partner_requests(&state, &user, &partner).await?, partner))
            }
            _ => None,
        },
        None => None,
    };
    let decides = user
        .actor
        .holds(crate::store::AdminRole::CafHabilitationOfficer)
        || user.actor.holds(crate::store::AdminRole::NationalOperator);
    let body = html! {
        (super::done_message(query.get("fait").map(String::as_str)))
        @if decides {
            p { "Les partenaires en mode centralisé adressent ici leurs demandes. Accepter réalise le changement en votre nom (il figure dans l'historique du partenaire) ; refuser demande un motif, transmis au demandeur." }
            h2 { "Demandes en attente (" (rows.len()) ")" }
            @if rows.is_empty() { p { "Aucune demande en attente." } }
            @for s in &rows {
                @let id = format!("d-{}", s.request.id);
                section class="request" aria-labelledby=(id) {
                    h3 id=(id) { (s.partner) " : " (s.what) }
                    p { "Demandée par " (s.requester) ", " (when(s.request.requested_at)) "." }
                    @if let Some(r) = &s.request.reason { p { "Motif : " (r) } }
                    form method="post" action={ "/console/demandes/" (s.request.id) } {
                        (hidden_csrf(&user))
                        label for={ "m-" (s.request.id) } { "Motif de votre décision" span class="hint" { "obligatoire pour refuser ; transmis au demandeur" } }
                        input type="text" id={ "m-" (s.request.id) } name="reason" maxlength="500";
                        button type="submit" name="decision" value="approve" { "Accepter et réaliser" span class="sr-only" { " : " (s.what) } }
                        button type="submit" name="decision" value="refuse" class="secondary" { "Refuser" span class="sr-only" { " : " (s.what) } }
                    }
                    p { a href={ "/console/partenaires/" (s.request.partner) } { "Voir le partenaire " (s.partner) } }
                }
            }
        }
        @if let Some((list, partner)) = &own {
            h2 { "Demandes de " (partner.name) }
            p { "Elles se déposent depuis la page du partenaire (" a href={ "/console/partenaires/" (partner.id) "#demandes" } { "déposer une demande" } ")." }
            (list)
        }
        @if !decides && own.is_none() {
            p { "Aucune demande ne vous concerne." }
        }
    };
    render("Demandes à la Caf", &user, body)
}

#[derive(Deserialize)]
pub(super) struct DecisionForm {
    /// `approve`, `refuse` or `cancel`.
    decision: Option<String>,
    reason: Option<String>,
}

pub(super) async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<DecisionForm>,
) -> PageResult {
    let id = RequestId::parse(&id).map_err(|_| HabilitationError::NotFound(Record::Request))?;
    let reason = form.reason.as_deref();
    let done = match form.decision.as_deref() {
        Some("approve") => {
            manage::decide_request(&state, &user.actor, &id, true, reason).await?;
            "demande-acceptee"
        }
        Some("refuse") => {
            manage::decide_request(&state, &user.actor, &id, false, reason).await?;
            "demande-refusee"
        }
        Some("cancel") => {
            manage::cancel_request(&state, &user.actor, &id).await?;
            "demande-retiree"
        }
        _ => {
            return Err(
                HabilitationError::Invalid("Choisissez d'accepter ou de refuser.".into()).into(),
            );
        }
    };
    Ok(Redirect::to(&format!("/console/demandes?fait={done}#message")).into_response())
}

/// What a filing form posts: `kind` and the fields of that kind.
#[derive(Deserialize)]
pub(super) struct FileForm {
    kind: Option<String>,
    email: Option<String>,
    civility: Option<String>,
    given_name: Option<String>,
    family_name: Option<String>,
    function: Option<String>,
    holder: Option<String>,
    service_role: Option<String>,
    scope: Option<String>,
    valid_until: Option<String>,
    habilitation: Option<String>,
    account: Option<String>,
    reason: Option<String>,
    /// Back to this console page (the person page, for a closure).
    back: Option<String>,
}

pub(super) async fn file(
    State(state): State<AppState>,
    Path(partner): Path<String>,
    posted: ConsoleForm<FileForm>,
) -> PageResult {
    let partner =
        PartnerId::parse(&partner).map_err(|_| HabilitationError::NotFound(Record::Partner))?;
    let form = &posted.form;
    let habilitation = || {
        HabilitationId::parse(form.habilitation.as_deref().unwrap_or(""))
            .map_err(|_| HabilitationError::NotFound(Record::Habilitation))
    };
    let change = match form.kind.as_deref() {
        Some("create_person") => {
            let fields = super::PersonForm {
                email: form.email.clone(),
                civility: form.civility.clone(),
                given_name: form.given_name.clone(),
                family_name: form.family_name.clone(),
                function: form.function.clone(),
            }
            .fields(None)?;
            RequestedChange::CreatePerson {
                email: fields.email,
                civility: fields.civility,
                given_name: fields.given_name,
                family_name: fields.family_name,
                function: fields.function,
                named_person: posted.confirmed(),
            }
        }
        Some("grant") => {
            let grant = GrantForm {
                holder: form.holder.clone(),
                service_role: form.service_role.clone(),
                scope: form.scope.clone(),
                valid_until: form.valid_until.clone(),
                reason: None,
            }
            .request()?;
            RequestedChange::Grant {
                holder: grant.holder,
                client_id: grant.client_id,
                role: grant.role,
                scope: grant.scope,
                valid_until: grant.valid_until,
            }
        }
        Some("suspend") => RequestedChange::Suspend {
            habilitation: habilitation()?,
        },
        Some("reactivate") => RequestedChange::Reactivate {
            habilitation: habilitation()?,
        },
        Some("withdraw") => RequestedChange::Withdraw {
            habilitation: habilitation()?,
        },
        Some("close_account") => RequestedChange::CloseAccount {
            account: AccountId::from_stored(form.account.clone().unwrap_or_default()),
        },
        Some("suspend_account") => RequestedChange::SuspendAccount {
            account: AccountId::from_stored(form.account.clone().unwrap_or_default()),
        },
        Some("reactivate_account") => RequestedChange::ReactivateAccount {
            account: AccountId::from_stored(form.account.clone().unwrap_or_default()),
        },
        _ => {
            return Err(
                HabilitationError::Invalid("Choisissez ce que vous demandez.".into()).into(),
            );
        }
    };
    match manage::file_request(
        &state,
        &posted.user.actor,
        &partner,
        change,
        form.reason.as_deref(),
    )
    .await
    {
        Err(HabilitationError::SharedAddress(email)) => super::forms::shared_address_page(
            &posted.user,
            &email,
            &format!("/console/partenaires/{partner}/demandes"),
            &posted.raw,
            &format!("/console/partenaires/{partner}#demandes"),
        ),
        Err(e) => Err(e.into()),
        Ok(_) => {
            let back = form
                .back
                .clone()
                .filter(|b| b.starts_with("/console/") && !b.contains("//"))
                .unwrap_or_else(|| format!("/console/partenaires/{partner}"));
            Ok(Redirect::to(&format!("{back}?fait=demande#message")).into_response())
        }
    }
}

/// The forms a partner's administrator files requests with: a new person, a grant (of the
/// roles the Caf manages).
pub(super) fn filing_forms(
    user: &ConsoleUser,
    partner: &Partner,
    accounts: &[&Account],
    groups: &[&crate::store::Group],
    requestable: &[(&crate::store::Service, &crate::store::ServiceRole)],
) -> Markup {
    let action = format!("/console/partenaires/{}/demandes", partner.id);
    html! {
        form method="post" action=(action) {
            (hidden_csrf(user))
            input type="hidden" name="kind" value="create_person";
            fieldset {
                legend { "Demander la création d'un compte" }
                p class="hint" { "La Caf crée le compte ; la personne reçoit alors par courriel un lien pour choisir son mot de passe." }
                label for="r-email" { "Adresse électronique professionnelle" span class="hint" { "celle de la personne elle-même, pas celle d'un service" } }
                input type="email" id="r-email" name="email" required autocomplete="off";
                label for="r-civ" { "Civilité" span class="hint" { "facultatif" } }
                select id="r-civ" name="civility" { option value="" { "—" } option { "Mme" } option { "M." } }
                label for="r-given" { "Prénom" }
                input type="text" id="r-given" name="given_name" required maxlength="100";
                label for="r-family" { "Nom" }
                input type="text" id="r-family" name="family_name" required maxlength="100";
                label for="r-function" { "Fonction" span class="hint" { "facultatif" } }
                input type="text" id="r-function" name="function" maxlength="100";
                label for="r-motif" { "Motif" span class="hint" { "facultatif, transmis à la Caf" } }
                input type="text" id="r-motif" name="reason" maxlength="300";
                button type="submit" { "Envoyer la demande à la Caf" }
            }
        }
        @if !requestable.is_empty() && (!accounts.is_empty() || !groups.is_empty()) {
            form method="post" action=(action) {
                (hidden_csrf(user))
                input type="hidden" name="kind" value="grant";
                fieldset {
                    legend { "Demander une habilitation" }
                    label for="rh-holder" { "Titulaire" }
                    select id="rh-holder" name="holder" required {
                        @for a in accounts { option value={ "account:" (a.id) } { (a.profile.family_name) " " (a.profile.given_name) " – " (a.profile.email) } }
                        @for g in groups { option value={ "group:" (g.id) } { "Groupe " (g.name) } }
                    }
                    label for="rh-role" { "Service et rôle" }
                    select id="rh-role" name="service_role" required {
                        @for (s, r) in requestable { option value={ (s.client_id) "|" (r.code) } { (s.name) " – " (r.display()) } }
                    }
                    label for="rh-scope" { "Périmètre" span class="hint" { "codes INSEE des communes couvertes, pour les services qui en demandent un" } }
                    input type="text" id="rh-scope" name="scope" maxlength="2000";
                    label for="rh-until" { "Dernier jour de validité" span class="hint" { "facultatif" } }
                    input type="date" id="rh-until" name="valid_until";
                    label for="rh-motif" { "Motif" span class="hint" { "facultatif, transmis à la Caf" } }
                    input type="text" id="rh-motif" name="reason" maxlength="300";
                    button type="submit" { "Envoyer la demande à la Caf" }
                }
            }
        }
    }
}

/// On a habilitation row the requester cannot change: ask the Caf to suspend, reactivate or
/// withdraw it.
pub(super) fn status_request_form(
    user: &ConsoleUser,
    h: &crate::store::Habilitation,
    back_to: &str,
    what: &str,
) -> Markup {
    use crate::store::HabilitationStatus;
    if h.status == HabilitationStatus::Closed {
        return html! {};
    }
    let id = format!("dm-{}", h.id);
    html! {
        form method="post" action={ "/console/partenaires/" (h.partner) "/demandes" } class="inline" {
            (hidden_csrf(user))
            input type="hidden" name="habilitation" value=(h.id);
            input type="hidden" name="back" value=(back_to);
            label for=(id) class="sr-only" { "Motif de la demande pour " (what) }
            input type="text" id=(id) name="reason" required maxlength="300" placeholder="Motif (obligatoire)";
            @if h.status == HabilitationStatus::Active {
                button type="submit" name="kind" value="suspend" class="secondary" { "Demander la suspension" span class="sr-only" { " " (what) } }
            } @else {
                button type="submit" name="kind" value="reactivate" class="secondary" { "Demander la réactivation" span class="sr-only" { " " (what) } }
            }
            button type="submit" name="kind" value="withdraw" class="secondary" { "Demander le retrait" span class="sr-only" { " " (what) } }
        }
    }
}

/// On a person page whose account the requester cannot change: ask the Caf to suspend,
/// reactivate or close it.
pub(super) fn close_request_form(
    user: &ConsoleUser,
    partner: &Partner,
    account: &Account,
    here: &str,
) -> Markup {
    html! {
    h2 { "Demande à la Caf" }
    form method="post" action={ "/console/partenaires/" (partner.id) "/demandes" } {
        (hidden_csrf(user))
        input type="hidden" name="account" value=(account.id);
        input type="hidden" name="back" value=(here);
        label for="fermeture-motif" { "Motif" span class="hint" { "par exemple : départ le 31/12, retour de congé, transmis à la Caf" } }
        input type="text" id="fermeture-motif" name="reason" required maxlength="300";
        @if account.status == crate::store::AccountStatus::Suspended {
            button type="submit" name="kind" value="reactivate_account" class="secondary" { "Demander à la Caf de réactiver le compte" }
        } @else {
            button type="submit" name="kind" value="suspend_account" class="secondary" { "Demander à la Caf de suspendre le compte" }
        }
        button type="submit" name="kind" value="close_account" class="secondary" { "Demander à la Caf de fermer l'accès (départ)" }
    }
    }
}
