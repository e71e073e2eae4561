//! `/console/demandes-de-traces`: a partner's security officer asks the Caf for traces beyond
//! the partner's reach and downloads the answer; the Caf's security officer answers with the
//! export attached, or refuses (`traces::requests`).

use super::{ConsoleUser, done_message, hidden_csrf, render, when};
use crate::habilitations::HabilitationError;
use crate::state::AppState;
use crate::store::AdminRole;
use crate::store::security::{TraceRequest, TraceRequestFilter, TraceRequestStatus};
use crate::traces::requests::{self, EXPORT_DAYS, Filing};
use crate::web::error::PageResult;
use crate::web::extract::ConsoleForm;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::SocketAddr;

fn status_words(status: TraceRequestStatus) -> &'static str {
    match status {
        TraceRequestStatus::Pending => "en attente de la Caf",
        TraceRequestStatus::Answered => "répondue",
        TraceRequestStatus::Refused => "refusée",
    }
}

fn filter_words(f: &TraceRequestFilter, services: &HashMap<String, String>) -> String {
    let day = |d: &str| {
        chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d")
            .map(|d| d.format("%d/%m/%Y").to_string())
            .unwrap_or_else(|_| d.to_owned())
    };
    let mut words = vec![format!("du {} au {}", day(&f.from), day(&f.to))];
    if let Some(s) = &f.service {
        words.push(format!(
            "service : {}",
            services.get(s).map(String::as_str).unwrap_or(s)
        ));
    }
    if let Some(t) = &f.target {
        words.push(format!("objet : {t}"));
    }
    if let Some(p) = &f.person {
        words.push(format!("personne : {p}"));
    }
    if let Some(a) = &f.action {
        words.push(format!(
            "action : {}",
            crate::traces::actions::action_label(a).unwrap_or(a)
        ));
    }
    words.join(" ; ")
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let list = requests::list(&state, &user.actor).await?;
    let services: HashMap<String, String> = state
        .stores
        .services
        .list_services()
        .await?
        .into_iter()
        .map(|s| (s.client_id.to_string(), s.name))
        .collect();
    let partners: HashMap<String, String> = state
        .stores
        .organisations
        .list_partners(None)
        .await?
        .into_iter()
        .map(|p| (p.id.to_string(), p.name))
        .collect();
    let mut people = HashMap::new();
    let mut ids: Vec<crate::types::AccountId> = Vec::new();
    for r in &list {
        ids.push(r.requested_by.clone());
        ids.extend(r.answered_by.clone());
    }
    for id in &ids {
        if let Some(a) = state.stores.accounts.get_account(id).await? {
            people.insert(
                id.to_string(),
                format!("{} {}", a.profile.given_name, a.profile.family_name),
            );
        }
    }
    let files = user.actor.holds(AdminRole::SecurityOfficer)
        && user.actor.account.profile.partner.is_some();
    let name = |id: &crate::types::AccountId| {
        people
            .get(id.as_str())
            .cloned()
            .unwrap_or_else(|| "compte effacé".into())
    };
    let body = html! {
        (done_message(q.get("fait").map(String::as_str)))
        p {
            "Les traces d'actions qui dépassent le périmètre d'un partenaire (par exemple toutes les consultations d'un dossier, quel que soit l'agent) se demandent à la Caf, qui répond en joignant l'export des traces. "
            "Chaque étape est tracée ; l'export joint reste téléchargeable " (EXPORT_DAYS) " jours."
        }
        @if files { (filing_form(&user, &services, dates(&state))) }
        h2 { "Demandes" }
        @if list.is_empty() { p { "Aucune demande." } }
        @for r in &list {
            (request_item(&user, r, &services, &partners, &name))
        }
    };
    render("Demandes de traces", &user, body)
}

/// The days a request may cover: the traces kept (retention), up to today.
fn dates(state: &AppState) -> (String, String) {
    let today = crate::traces::dashboard::today(state);
    let months = chrono::Months::new(state.settings.trace_retention_months);
    let first = today.checked_sub_months(months).unwrap_or(today);
    (first.to_string(), today.to_string())
}

fn filing_form(
    user: &ConsoleUser,
    services: &HashMap<String, String>,
    (first, today): (String, String),
) -> Markup {
    let mut services: Vec<_> = services.iter().collect();
    services.sort_by(|a, b| a.1.cmp(b.1));
    html! {
        form method="post" action="/console/demandes-de-traces" {
            (hidden_csrf(user))
            fieldset {
                legend { "Demander des traces à la Caf" }
                label for="purpose" { "Motif de la demande" span class="hint" { "pourquoi ces traces sont nécessaires (réclamation, contrôle…)" } }
                textarea id="purpose" name="purpose" required rows="2" maxlength="1000" {}
                label for="service" { "Service" }
                select id="service" name="service" {
                    option value="" { "tous" }
                    @for (id, name) in &services { option value=(id) { (name) } }
                }
                label for="target" { "Objet" span class="hint" { "sa référence dans les traces de l'application, par exemple dossier:2026-0042" } }
                input type="text" id="target" name="target" maxlength="200";
                label for="person" { "Personne" span class="hint" { "facultatif : adresse électronique" } }
                input type="text" id="person" name="person";
                label for="from" { "Du" }
                input type="date" id="from" name="from" required min=(first) max=(today);
                label for="to" { "Au (inclus)" }
                input type="date" id="to" name="to" required min=(first) max=(today);
                button type="submit" { "Envoyer la demande à la Caf" }
            }
        }
    }
}

fn request_item(
    user: &ConsoleUser,
    r: &TraceRequest,
    services: &HashMap<String, String>,
    partners: &HashMap<String, String>,
    name: &dyn Fn(&crate::types::AccountId) -> String,
) -> Markup {
    html! {
        section class="alert-item" id={ "demande-" (r.id) } aria-labelledby={ "titre-" (r.id) } {
            h3 id={ "titre-" (r.id) } {
                (partners.get(r.partner.as_str()).map(String::as_str).unwrap_or(r.partner.as_str()))
                " — " span class=(if r.status == TraceRequestStatus::Pending { "status-open" } else { "" }) { (status_words(r.status)) }
            }
            dl class="facts" {
                dt { "Demandée" } dd { "le " (when(r.requested_at)) " par " (name(&r.requested_by)) }
                dt { "Motif" } dd { (r.purpose) }
                dt { "Traces demandées" } dd { (filter_words(&r.filter, services)) }
                @if let Some(at) = r.answered_at {
                    dt { "Réponse" } dd {
                        "le " (when(at)) " par " (r.answered_by.as_ref().map(name).unwrap_or_default())
                        @if let Some(a) = &r.answer { " : " (a) }
                    }
                }
                @if r.status == TraceRequestStatus::Answered {
                    dt { "Export joint" } dd {
                        @if r.export_csv.is_some() {
                            a href={ "/console/demandes-de-traces/" (r.id) "/export" } { "télécharger les " (r.export_count.unwrap_or(0)) " trace(s) (CSV)" }
                        } @else { "supprimé (plus de " (EXPORT_DAYS) " jours)" }
                    }
                }
            }
            @if r.status == TraceRequestStatus::Pending && requests::answers(&user.actor, r) {
                form method="post" action={ "/console/demandes-de-traces/" (r.id) } {
                    (hidden_csrf(user))
                    label for={ "reponse-" (r.id) } { "Message au demandeur" span class="hint" { "obligatoire pour un refus" } }
                    textarea id={ "reponse-" (r.id) } name="comment" rows="2" maxlength="1000" {}
                    button type="submit" name="decision" value="answer" { "Joindre l'export des traces et répondre" }
                    " "
                    button type="submit" name="decision" value="refuse" class="secondary" { "Refuser la demande" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub(super) struct FileForm {
    purpose: Option<String>,
    service: Option<String>,
    target: Option<String>,
    person: Option<String>,
    from: Option<String>,
    to: Option<String>,
}

pub(super) async fn file(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ConsoleForm { user, form, .. }: ConsoleForm<FileForm>,
) -> PageResult {
    let origin = crate::web::origin(&headers, Some(peer));
    requests::file(
        &state,
        &user.actor,
        Filing {
            purpose: form.purpose.unwrap_or_default(),
            filter: TraceRequestFilter {
                service: form.service,
                target: form.target,
                person: form.person,
                action: None,
                from: form.from.unwrap_or_default(),
                to: form.to.unwrap_or_default(),
            },
        },
        &origin,
    )
    .await?;
    Ok(Redirect::to("/console/demandes-de-traces?fait=demande-traces#message").into_response())
}

#[derive(Deserialize)]
pub(super) struct AnswerForm {
    decision: Option<String>,
    comment: Option<String>,
}

pub(super) async fn answer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ConsoleForm { user, form, .. }: ConsoleForm<AnswerForm>,
) -> PageResult {
    let origin = crate::web::origin(&headers, Some(peer));
    let accept = match form.decision.as_deref() {
        Some("answer") => true,
        Some("refuse") => false,
        _ => {
            return Err(
                HabilitationError::Invalid("Choisissez de répondre ou de refuser.".into()).into(),
            );
        }
    };
    requests::answer(
        &state,
        &user.actor,
        &id,
        accept,
        form.comment.as_deref().unwrap_or(""),
        &origin,
    )
    .await?;
    Ok(Redirect::to(&format!(
        "/console/demandes-de-traces?fait={}#message",
        if accept {
            "traces-jointes"
        } else {
            "demande-traces-refusee"
        }
    ))
    .into_response())
}

pub(super) async fn export(
    State(state): State<AppState>,
    Path(id): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    user: ConsoleUser,
) -> PageResult {
    let origin = crate::web::origin(&headers, Some(peer));
    let csv = requests::download(&state, &user.actor, &id, &origin).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"traces-demande.csv\"".to_owned(),
            ),
        ],
        csv,
    )
        .into_response())
}
