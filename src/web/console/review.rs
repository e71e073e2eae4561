//! The yearly reverse review in the console: one decision per habilitation, then completion
//! and the signed report to download.

use super::partner::{holder_name, row_target, validity};
use super::{ConsoleUser, day, done_message, hidden_csrf, render, when};
use crate::habilitations::Record;
use crate::habilitations::access::Action;
use crate::habilitations::{HabilitationError, review};
use crate::state::AppState;
use crate::store::ReviewDecision;
use crate::types::{HabilitationId, PartnerId, ReviewId};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use maud::html;
use std::collections::HashMap;

/// The decision form's fields are named after the habilitations (`d-ID`), so it is read as
/// pairs.
type Fields = Vec<(String, String)>;

fn review_id(id: &str) -> Result<ReviewId, HabilitationError> {
    ReviewId::parse(id).map_err(|_| HabilitationError::NotFound(Record::Review))
}

pub(super) async fn start(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, .. }: ConsoleForm<Fields>,
) -> PageResult {
    let id = PartnerId::parse(&id).map_err(|_| HabilitationError::NotFound(Record::Partner))?;
    let r = review::start(&state, &user.actor, &id).await?;
    Ok(Redirect::to(&format!("/console/revues/{}", r.id)).into_response())
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> PageResult {
    let id = review_id(&id)?;
    let (r, context) = review::get(&state, &user.actor, &id).await?;
    let items = review::items(&state, &r).await?;
    let accounts = state
        .stores
        .accounts
        .accounts_of_partner(&context.partner.id)
        .await?;
    let groups = state
        .stores
        .habilitations
        .groups_of_partner(&context.partner.id)
        .await?;
    let all_services = state.stores.services.list_services().await?;
    let catalog = super::catalog::Catalog::new(&all_services);
    let can_decide =
        r.completed_at.is_none() && super::may(&user.actor, &context, Action::PerformReview);
    let here = format!("/console/revues/{}", r.id);
    let body = html! {
        (done_message(query.get("fait").map(String::as_str)))
        p { a href={ "/console/partenaires/" (context.partner.id) "#revues" } { (context.partner.name) }
            " — commencée le " (when(r.started_at)) }
        @match r.completed_at {
            Some(t) => {
                div class="info" role="status" {
                    p { "Revue terminée le " (when(t)) ". "
                        a href={ (here) "/rapport" } { "Lire et imprimer le rapport" } " — "
                        a href={ (here) "/rapport/jws" } { "Télécharger le rapport signé" }
                        " (format JWS, vérifiable avec les clés publiées par Passerelle)." }
                }
            }
            None => {
                @if can_decide {
                    p { "Pour chaque habilitation, confirmez qu'elle est toujours nécessaire ou retirez-la. Les retraits prennent effet à la fin de la revue." }
                    form method="post" action=(here) {
                        (hidden_csrf(&user))
                        table class="stack" {
                            caption { "Habilitations ouvertes (" (items.len()) ")" }
                            thead { tr { th scope="col" { "Titulaire" } th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Validité" } th scope="col" { "Décision" } } }
                            tbody {
                                @for (h, d) in &items {
                                    tr {
                                        td data-label="Titulaire" { (holder_name(&h.holder, &accounts, &groups)) }
                                        td data-label="Service" { (catalog.service(h.client_id.as_str())) } td data-label="Rôle" { (catalog.role(h.client_id.as_str(), h.role.as_str())) } td data-label="Validité" { (validity(h)) }
                                        td data-label="Décision" {
                                            fieldset class="decision" {
                                                legend class="sr-only" { "Décision pour " (row_target(h, &catalog, &accounts, &groups)) }
                                                input type="radio" id={ "c-" (h.id) } name={ "d-" (h.id) } value="confirm" checked[*d == Some(ReviewDecision::Confirm)];
                                                label for={ "c-" (h.id) } class="inline" { "Confirmer" }
                                                input type="radio" id={ "w-" (h.id) } name={ "d-" (h.id) } value="withdraw" checked[*d == Some(ReviewDecision::Withdraw)];
                                                label for={ "w-" (h.id) } class="inline" { "Retirer" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        button type="submit" name="action" value="confirm_all" class="secondary" { "Tout confirmer" span class="sr-only" { " (sauf les retraits cochés)" } }
                        button type="submit" name="action" value="save" class="secondary" { "Enregistrer" }
                        button type="submit" name="action" value="complete" { "Enregistrer et terminer la revue" }
                    }
                } @else {
                    p { "Revue en cours chez le partenaire : " (r.decisions.len()) " décision(s) sur " (items.len()) "." }
                }
            }
        }
    };
    render(
        &format!("Revue annuelle du {}", day(r.started_at)),
        &user,
        body,
    )
}

pub(super) async fn decide(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConsoleForm { user, form, .. }: ConsoleForm<Fields>,
) -> PageResult {
    let id = review_id(&id)?;
    let mut complete = false;
    let mut confirm_all = false;
    let mut decided = Vec::new();
    for (name, value) in &form {
        if name == "action" {
            complete = value == "complete";
            confirm_all = value == "confirm_all";
        }
        let Some(h) = name.strip_prefix("d-") else {
            continue;
        };
        let h = HabilitationId::parse(h)
            .map_err(|_| HabilitationError::NotFound(Record::Habilitation))?;
        let decision = match value.as_str() {
            "confirm" => ReviewDecision::Confirm,
            "withdraw" => ReviewDecision::Withdraw,
            _ => return Err(HabilitationError::Invalid("Décision inconnue.".into()).into()),
        };
        review::decide(&state, &user.actor, &id, &h, decision).await?;
        decided.push(h);
    }
    if confirm_all {
        // Every habilitation not decided in this form is confirmed: a partner with many
        // accesses withdraws the few it no longer needs, and confirms the rest at once.
        let (r, _) = review::get(&state, &user.actor, &id).await?;
        for (h, _) in review::items(&state, &r).await? {
            if !decided.contains(&h.id) {
                review::decide(&state, &user.actor, &id, &h.id, ReviewDecision::Confirm).await?;
            }
        }
    }
    if complete {
        review::complete(&state, &user.actor, &id).await?;
    }
    Ok(Redirect::to(&format!("/console/revues/{id}?fait=revue#message")).into_response())
}

/// The signed report of a completed review, read back from its signature: who decided what
/// for whom, printable, with the check of its signature.
pub(super) async fn report(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> PageResult {
    let id = review_id(&id)?;
    let (r, _) = review::get(&state, &user.actor, &id).await?;
    let jws = r.report.ok_or_else(|| {
        HabilitationError::Conflict(
            "Cette revue n'est pas terminée : pas encore de rapport.".into(),
        )
    })?;
    let services = state.stores.services.list_services().await?;
    let catalog = super::catalog::Catalog::new(&services);
    let cafs = state.stores.organisations.list_cafs().await?;
    let body = match review::verify_report(&state, &jws) {
        Ok(report) => html! {
            (report_view(&report, &catalog, &cafs))
            p class="noprint" {
                a href={ "/console/revues/" (r.id) "/rapport/jws" } { "Télécharger le rapport signé (JWS)" }
            }
            form method="post" action="/console/revues/verifier" class="noprint" {
                (hidden_csrf(&user))
                input type="hidden" name="jws" value=(jws);
                button type="submit" class="secondary" { "Vérifier la signature" }
            }
        },
        Err(why) => html! { div class="error" role="alert" { p { (why) } } },
    };
    render(
        "Rapport de la revue annuelle des habilitations",
        &user,
        body,
    )
}

/// A verified report in words: the partner, who completed it and when, every decision.
fn report_view(
    report: &review::SignedReport,
    catalog: &super::catalog::Catalog<'_>,
    cafs: &[crate::store::Caf],
) -> maud::Markup {
    let confirmed = report
        .items
        .iter()
        .filter(|i| i.decision == ReviewDecision::Confirm)
        .count();
    html! {
        dl {
            dt { "Partenaire" } dd { (report.partner.name) @if let Some(s) = &report.partner.siret { " — SIRET " (s) } }
            dt { "Caf" } dd { (cafs.iter().find(|c| c.code.as_str() == report.caf).map(|c| c.name.as_str()).unwrap_or(&report.caf)) }
            dt { "Revue commencée le" } dd { (when(report.started_at)) }
            dt { "Terminée le" } dd { (when(report.completed_at)) " par " (report.completed_by.name) " (" (report.completed_by.email) ")" }
            dt { "Résultat" } dd { (confirmed) " habilitation(s) confirmée(s), " (report.items.len() - confirmed) " retirée(s)" }
        }
        table class="stack" {
            caption { "Décisions de la revue" }
            thead { tr { th scope="col" { "Titulaire" } th scope="col" { "Service" } th scope="col" { "Rôle" } th scope="col" { "Périmètre" } th scope="col" { "Décision" } } }
            tbody {
                @for item in &report.items {
                    tr {
                        td data-label="Titulaire" {
                            @if item.holder_kind == "group" {
                                "Groupe « " (item.holder) " »"
                                @if !item.members.is_empty() {
                                    ul { @for m in &item.members { li { (m) } } }
                                }
                            } @else { (item.holder) }
                        }
                        td data-label="Service" { (catalog.service(&item.service)) }
                        td data-label="Rôle" { (catalog.role(&item.service, &item.role)) }
                        td data-label="Périmètre" { @if item.scope.is_empty() { "—" } @else { (item.scope.join(", ")) } }
                        td data-label="Décision" { @match item.decision { ReviewDecision::Confirm => "confirmée", ReviewDecision::Withdraw => "retirée" } }
                    }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
pub(super) struct VerifyForm {
    jws: Option<String>,
}

/// "Vérifier la signature": a report (the one kept, or a copy someone received) checked
/// against the keys Passerelle publishes, and shown when it holds.
pub(super) async fn verify(
    State(state): State<AppState>,
    ConsoleForm { user, form, .. }: ConsoleForm<VerifyForm>,
) -> PageResult {
    verify_page(&state, &user, form.jws.as_deref()).await
}

/// The verification form alone.
pub(super) async fn verify_form(State(state): State<AppState>, user: ConsoleUser) -> PageResult {
    verify_page(&state, &user, None).await
}

async fn verify_page(state: &AppState, user: &ConsoleUser, jws: Option<&str>) -> PageResult {
    let services = state.stores.services.list_services().await?;
    let catalog = super::catalog::Catalog::new(&services);
    let cafs = state.stores.organisations.list_cafs().await?;
    let body = match jws.map(str::trim).filter(|j| !j.is_empty()) {
        None => html! {},
        Some(jws) => match review::verify_report(state, jws) {
            Ok(report) => html! {
                div class="info" role="status" id="message" tabindex="-1" autofocus {
                    p { "Signature valable : ce rapport a été signé par Passerelle (" (state.settings.issuer) ", clé " (report.kid) ") et n'a pas été modifié depuis." }
                }
                (report_view(&report, &catalog, &cafs))
            },
            Err(why) => html! {
                div class="error" role="alert" id="message" tabindex="-1" autofocus { p { (why) } }
            },
        },
    };
    let body = html! {
        (body)
        form method="post" action="/console/revues/verifier" class="noprint" {
            (hidden_csrf(user))
            label for="jws" { "Rapport signé à vérifier" span class="hint" { "collez le contenu du fichier revue-inverse.jws" } }
            textarea id="jws" name="jws" rows="6" required {}
            button type="submit" { "Vérifier la signature" }
        }
    };
    render("Vérifier un rapport de revue", user, body)
}

/// The signed report itself (`application/jose`), to download and keep.
pub(super) async fn report_jws(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<String>,
) -> PageResult {
    let id = review_id(&id)?;
    let (r, _) = review::get(&state, &user.actor, &id).await?;
    let report = r.report.ok_or_else(|| {
        HabilitationError::Conflict(
            "Cette revue n'est pas terminée : pas encore de rapport.".into(),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jose"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"revue-inverse.jws\"",
            ),
        ],
        report,
    )
        .into_response())
}
