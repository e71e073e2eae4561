//! The security officers' trace search: filters, one page at a time, newest first, with CSV
//! and JSON-lines exports of the same search. Every search and export is itself traced.

use super::{ConsoleUser, render};
use crate::habilitations::HabilitationError;
use crate::habilitations::Record;
use crate::state::AppState;
use crate::store::Outcome;
use crate::traces::actions::{ACTIONS, REASONS, action_label, reason_label};
use crate::traces::names::Names;
use crate::traces::query::{self, Filter};
use crate::web::error::PageResult;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use maud::html;
use std::collections::HashMap;
use std::net::SocketAddr;

fn filter_of(q: &HashMap<String, String>) -> Result<Filter, HabilitationError> {
    let get = |n: &str| {
        q.get(n)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let day = |n: &str, upper: bool| -> Result<Option<i64>, HabilitationError> {
        get(n)
            .map(|v| {
                query::parse_bound(&v, upper)
                    .ok_or_else(|| HabilitationError::Invalid(format!("Date « {v} » invalide.")))
            })
            .transpose()
    };
    Ok(Filter {
        person: get("person"),
        partner: get("partner"),
        service: get("service"),
        // A relying application's own action is typed; Passerelle's are picked from a list.
        action: get("action_code").or_else(|| get("action")),
        outcome: match get("outcome").as_deref() {
            None => None,
            Some(o) => Some(
                Outcome::parse(o)
                    .ok_or_else(|| HabilitationError::Invalid("Résultat inconnu.".into()))?,
            ),
        },
        reason: get("reason"),
        target: get("target"),
        ip: get("ip"),
        from_us: day("from", false)?,
        to_us: day("to", true)?,
        after: get("after"),
        limit: 50,
    })
}

/// The query string of the same search without the page cursor, for links.
fn same_search(q: &HashMap<String, String>) -> String {
    let mut pairs = url::form_urlencoded::Serializer::new(String::new());
    for name in [
        "person",
        "partner",
        "service",
        "action",
        "action_code",
        "outcome",
        "reason",
        "target",
        "ip",
        "from",
        "to",
    ] {
        if let Some(v) = q.get(name).filter(|v| !v.is_empty()) {
            pairs.append_pair(name, v);
        }
    }
    pairs.finish()
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    query::reach(&state, &user.actor).await?;
    let origin = crate::web::origin(&headers, Some(peer));
    // A search the officer can correct is answered on this page, the form as they filled it.
    let mut error = None;
    let mut refused = |e: HabilitationError| match e {
        HabilitationError::Invalid(m) => {
            error = Some(m);
            Ok(())
        }
        other => Err(other),
    };
    let filter = match filter_of(&q) {
        Ok(f) => Some(f),
        Err(e) => {
            refused(e)?;
            None
        }
    };
    if let (Some(format), Some(filter)) = (q.get("export"), &filter) {
        let records = query::export(&state, &user.actor, filter, &origin).await?;
        let (body, content_type, name) = if format == "jsonl" {
            (
                query::to_json_lines(&records),
                "application/jsonl",
                "traces.jsonl",
            )
        } else {
            (
                query::to_csv(&records, &Names::of(&state, &records).await?),
                "text/csv; charset=utf-8",
                "traces.csv",
            )
        };
        return Ok((
            [
                (header::CONTENT_TYPE, content_type.to_owned()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{name}\""),
                ),
            ],
            body,
        )
            .into_response());
    }
    let page = match &filter {
        Some(filter) if q.contains_key("search") => {
            match query::search(&state, &user.actor, filter, &origin).await {
                Ok(page) => Some(page),
                Err(e) => {
                    refused(e)?;
                    None
                }
            }
        }
        _ => None,
    };
    let attestations = state.tracer.store().attestations().await?;
    let erasures = state.stores.accounts.erasure_attestations().await?;
    let names = match &page {
        Some(p) => Names::of(&state, &p.records).await?,
        None => Names::default(),
    };
    let partners: Vec<crate::store::Partner> = match query::reach(&state, &user.actor).await? {
        None => state.stores.organisations.list_partners(None).await?,
        Some(ids) => state
            .stores
            .organisations
            .list_partners(None)
            .await?
            .into_iter()
            .filter(|p| ids.contains(&p.id.to_string()))
            .collect(),
    };
    let services = state.stores.services.list_services().await?;
    let value = |n: &str| q.get(n).cloned().unwrap_or_default();
    let known_action = ACTIONS.iter().any(|a| a.name == value("action"));
    let search = same_search(&q);
    let body = html! {
        @if let Some(message) = &error {
            div class="error" role="alert" id="erreurs" tabindex="-1" autofocus { p { (message) } }
        }
        p { "Chaque recherche et chaque export sont eux-mêmes tracés. Les heures sont celles de Paris." }
        form method="get" action="/console/traces" {
            input type="hidden" name="search" value="1";
            fieldset {
                legend { "Rechercher" }
                label for="person" { "Personne" span class="hint" { "adresse électronique ou nom" } }
                input type="text" id="person" name="person" value=(value("person"));
                label for="partner" { "Partenaire" }
                select id="partner" name="partner" {
                    option value="" { "tous" }
                    @for p in &partners { option value=(p.id) selected[value("partner") == p.id.as_str()] { (p.name) } }
                }
                label for="service" { "Service" }
                select id="service" name="service" {
                    option value="" { "tous" }
                    @for sv in &services { option value=(sv.client_id) selected[value("service") == sv.client_id.as_str()] { (sv.name) } }
                }
                label for="action" { "Action" }
                select id="action" name="action" {
                    option value="" { "toutes" }
                    @for a in ACTIONS { option value=(a.name) selected[value("action") == a.name] { (a.label) } }
                }
                label for="action_code" { "Ou l'action d'une application" span class="hint" { "son code, par exemple dossier.consultation" } }
                input type="text" id="action_code" name="action_code" value=(if known_action { String::new() } else { value("action_code") });
                label for="outcome" { "Résultat" }
                select id="outcome" name="outcome" {
                    option value="" { "tous" }
                    option value="success" selected[value("outcome") == "success"] { "succès" }
                    option value="failure" selected[value("outcome") == "failure"] { "échec" }
                }
                label for="reason" { "Motif d'échec" }
                select id="reason" name="reason" {
                    option value="" { "tous" }
                    @for (code, label) in REASONS { option value=(code) selected[value("reason") == *code] { (label) } }
                }
                label for="target" { "Objet" span class="hint" { "sa référence dans les traces, par exemple dossier:2026-0042" } }
                input type="text" id="target" name="target" value=(value("target"));
                label for="ip" { "Adresse IP" }
                input type="text" id="ip" name="ip" value=(value("ip"));
                label for="from" { "Du" }
                input type="date" id="from" name="from" value=(value("from"));
                label for="to" { "Au (inclus)" }
                input type="date" id="to" name="to" value=(value("to"));
                button type="submit" { "Rechercher" }
            }
        }
        @if let Some(page) = &page {
            p {
                a href={ "/console/traces?" (search) "&export=csv" } { "Exporter pour un tableur (CSV)" }
                " — "
                a href={ "/console/traces?" (search) "&export=jsonl" } { "Exporter en JSON lines (pour les outils)" }
            }
            table id="traces" class="stack" {
                caption { "Traces, les plus récentes d'abord (heure de Paris)" }
                thead { tr {
                    th scope="col" { "Date" } th scope="col" { "Personne" } th scope="col" { "Partenaire" }
                    th scope="col" { "Service" } th scope="col" { "Action" } th scope="col" { "Objet" }
                    th scope="col" { "Résultat" } th scope="col" { "IP" }
                } }
                tbody {
                    @if page.records.is_empty() { tr { td colspan="8" { "Aucune trace." } } }
                    @for r in &page.records {
                        @let t = &r.trace;
                        tr {
                            td data-label="Date" { (crate::clock::paris_seconds(t.at_us)) }
                            td data-label="Personne" {
                                @match t.actor_account.as_deref() {
                                    None => "—",
                                    Some(id) => @match names.person(id) {
                                        Some((name, email)) => { (name) br; span class="hint" { (email) } },
                                        None => { span class="hint" { "compte inconnu ou effacé " (id) } },
                                    },
                                }
                            }
                            td data-label="Partenaire" { (t.partner.as_deref().map(|p| names.partner(p).unwrap_or(p)).unwrap_or("—")) }
                            td data-label="Service" { (t.client_id.as_deref().map(|c| names.service(c).unwrap_or(c)).unwrap_or("—")) }
                            td data-label="Action" {
                                @if let Some(label) = action_label(&t.action) { (label) br; }
                                span class="hint" { (t.action) }
                            }
                            td data-label="Objet" {
                                @match t.target.as_deref().map(|target| (query::change_words(&t.action, target).map(str::to_owned).or_else(|| query::filter_words(target, &names).filter(|_| t.action.starts_with("trace."))), target)) {
                                    Some((Some(words), target)) => { (words) br; span class="hint" { (target) } },
                                    Some((None, target)) => (target),
                                    None => "—",
                                }
                            }
                            td data-label="Résultat" {
                                (query::outcome_label(t.outcome))
                                @if let Some(reason) = &t.reason {
                                    " : " (reason_label(reason).unwrap_or(reason))
                                    @if reason_label(reason).is_some() { " " span class="hint" { "(" (reason) ")" } }
                                }
                            }
                            td data-label="IP" { (t.ip.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
            @if let Some(next) = &page.next {
                p { a href={ "/console/traces?search=1&" (search) "&after=" (next) } { "Page suivante" } }
            }
        }
        h2 { "Attestations de destruction" }
        @if attestations.is_empty() { p { "Aucune trace n'a encore été détruite." } }
        ul {
            @for a in &attestations {
                li {
                    (a.count) " traces du flux « " (a.stream) " » détruites le "
                    (chrono::DateTime::from_timestamp_micros(a.destroyed_at_us).map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_default())
                    " — " a href={ "/console/attestations/" (a.id) } { "attestation signée" }
                }
            }
        }
        h2 { "Attestations d'effacement des comptes" }
        p { "Les données d'un compte (identité, mot de passe, second facteur, liens, jetons, sessions) sont effacées six mois après la fin de sa dernière habilitation ; les habilitations gardent le nom de leur titulaire pendant leur propre durée de conservation." }
        @if erasures.is_empty() { p { "Aucun compte n'a encore été effacé." } }
        ul {
            @for e in &erasures {
                li {
                    (e.accounts.len()) " compte(s) effacé(s) le "
                    (crate::clock::paris_day(e.erased_at))
                    " — " a href={ "/console/effacements/" (e.id) } { "attestation signée" }
                }
            }
        }
    };
    render("Traces", &user, body)
}

/// The signed attestation of one destruction, as a file (any console user may read it: it
/// holds ranges, counts and hashes only).
pub(super) async fn attestation(
    State(state): State<AppState>,
    _user: ConsoleUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let a = state
        .tracer
        .store()
        .attestations()
        .await?
        .into_iter()
        .find(|a| a.id == id)
        .ok_or(HabilitationError::NotFound(Record::Attestation))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jose".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"attestation-destruction.jws\"".to_owned(),
            ),
        ],
        a.signature,
    )
        .into_response())
}

/// The signed attestation of one erasure of accounts, as a file (opaque ids only).
pub(super) async fn erasure(
    State(state): State<AppState>,
    _user: ConsoleUser,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> PageResult {
    let e = state
        .stores
        .accounts
        .erasure_attestations()
        .await?
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(HabilitationError::NotFound(Record::Attestation))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/jose".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"attestation-effacement.jws\"".to_owned(),
            ),
        ],
        e.signature,
    )
        .into_response())
}
