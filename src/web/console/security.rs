//! `/console/securite`: the security dashboard (`traces::dashboard`), server-rendered. Each
//! chart is an SVG drawing (hidden from assistive technologies) followed by the table of its
//! figures; every figure links to the trace search that lists the traces it counts.

use super::{ConsoleUser, render};
use crate::state::AppState;
use crate::store::{Outcome, TraceRecord};
use crate::traces::actions::{action_label, reason_label};
use crate::traces::dashboard::{self, Bucket, Dashboard, Request};
use crate::traces::names::Names;
use crate::web::error::PageResult;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use chrono::NaiveDate;
use maud::{Markup, html};
use std::collections::HashMap;
use std::net::SocketAddr;

/// A link to the trace search with these filters.
fn search_link(pairs: &[(&str, &str)]) -> String {
    let mut query = url::form_urlencoded::Serializer::new(String::from("/console/traces?search=1"));
    for (name, value) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(name, value);
    }
    query.finish()
}

fn rfc3339(at_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(at_us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn day_text(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The search of a bucket's logins (`success`) or failures: a day as dates, an hour as
/// instants.
fn bucket_link(b: &Bucket, outcome: Outcome, whole_days: bool) -> String {
    let (from, to) = if whole_days {
        let day = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .map(|d| d.with_timezone(&chrono_tz::Europe::Paris).date_naive())
                .map(day_text)
                .unwrap_or_default()
        };
        (day(b.start_us), day(b.start_us))
    } else {
        (rfc3339(b.start_us), rfc3339(b.end_us))
    };
    search_link(&[
        ("action", "auth.login"),
        ("outcome", outcome.as_str()),
        ("from", &from),
        ("to", &to),
    ])
}

const SUCCESS_COLOUR: &str = "#1d6b40";
const FAILURE_COLOUR: &str = "#b3261e";

/// Logins and failures as paired bars, one pair per bucket, then the same figures as a table.
fn chart(id: &str, caption: &str, buckets: &[Bucket], whole_days: bool) -> Markup {
    // A plot 640 units wide whatever the number of buckets, scaled to the page by the viewBox.
    let (plot, height, top, bottom, left) = (640.0_f64, 150.0_f64, 16.0_f64, 22.0_f64, 40.0_f64);
    let step = plot / buckets.len().max(1) as f64;
    let bar = (step * 0.4).min(24.0);
    let width = left + plot;
    let max = buckets
        .iter()
        .map(|b| b.logins.max(b.failures))
        .max()
        .unwrap_or(0)
        .max(1);
    let y = |v: u64| height * v as f64 / max as f64;
    // A label every so many buckets, so that labels never overlap.
    let every = (40.0 / step).ceil().max(1.0) as usize;
    html! {
        figure class="chart" {
            figcaption id={ (id) "-titre" } { (caption) }
            p class="legend" aria-hidden="true" {
                span class="swatch success" {} " connexions réussies "
                span class="swatch failure" {} " échecs"
            }
            // On a narrow screen the drawing keeps a readable size and scrolls sideways.
            div class="plot" tabindex="0" role="group" aria-label={ (caption) " : graphique, les chiffres suivent dans un tableau" } {
            svg xmlns="http://www.w3.org/2000/svg" aria-hidden="true" focusable="false"
                viewBox={ "0 0 " (width) " " (height + top + bottom) } preserveAspectRatio="xMinYMin meet" {
                text x="2" y="11" font-size="11" fill="#333" { "max. " (max) }
                line x1=(left - 4.0) y1=(top + height) x2=(width) y2=(top + height) stroke="#666" stroke-width="1" {}
                @for (i, b) in buckets.iter().enumerate() {
                    @let x = left + i as f64 * step + (step - 2.0 * bar) / 2.0;
                    @for (offset, value, outcome, colour) in [(0.0, b.logins, Outcome::Success, SUCCESS_COLOUR), (bar, b.failures, Outcome::Failure, FAILURE_COLOUR)] {
                        a href=(bucket_link(b, outcome, whole_days)) tabindex="-1" {
                            title { (b.label) " : " (value) @if outcome == Outcome::Success { " connexions réussies" } @else { " échecs" } }
                            rect x=(x + offset) y=(top + height - y(value)) width=(bar) height=(y(value).max(if value > 0 { 1.0 } else { 0.0 })) fill=(colour) {}
                        }
                    }
                    @if i % every == 0 {
                        text x=(x + bar) y=(top + height + 15.0) font-size="10" fill="#333" text-anchor="middle" { (b.label) }
                    }
                }
            }
            }
            details {
                summary { "Les chiffres du graphique (tableau)" }
                table class="stack" aria-labelledby={ (id) "-titre" } {
                    thead { tr { th scope="col" { (if whole_days { "Jour" } else { "Heure" }) } th scope="col" { "Connexions réussies" } th scope="col" { "Échecs" } } }
                    tbody {
                        @for b in buckets {
                            tr {
                                th scope="row" data-label=(if whole_days { "Jour" } else { "Heure" }) { (b.label) }
                                td data-label="Connexions réussies" { a href=(bucket_link(b, Outcome::Success, whole_days)) { (b.logins) } }
                                td data-label="Échecs" { a href=(bucket_link(b, Outcome::Failure, whole_days)) { (b.failures) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn person_cell(names: &Names, record: &TraceRecord) -> Markup {
    html! {
        @match record.trace.actor_account.as_deref() {
            None => "Passerelle",
            Some(id) => @match names.person(id) {
                Some((name, email)) => { (name) br; span class="hint" { (email) } },
                None => { span class="hint" { "compte inconnu ou effacé" } },
            },
        }
    }
}

pub(super) async fn show(
    State(state): State<AppState>,
    user: ConsoleUser,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    crate::traces::query::reach(&state, &user.actor).await?;
    let origin = crate::web::origin(&headers, Some(peer));
    let today = dashboard::today(&state);
    let get = |n: &str| q.get(n).map(String::as_str);
    let (request, error) =
        match Request::from_params(today, get("du"), get("au"), get("jour"), get("inactifs")) {
            Ok(r) => (r, None),
            Err(m) => (Request::default_for(today), Some(m)),
        };
    let board = dashboard::build(&state, &user.actor, request, &origin).await?;
    let mut records = board.changes.clone();
    records.extend(board.searches.iter().cloned());
    let names = Names::of(&state, &records).await?;
    let value = |n: &str, default: String| {
        q.get(n)
            .cloned()
            .filter(|v| !v.is_empty())
            .unwrap_or(default)
    };
    let body = html! {
        @if let Some(message) = &error {
            div class="error" role="alert" id="erreurs" tabindex="-1" autofocus { p { (message) } }
        }
        p { "Les connexions et les échecs de votre périmètre, à l'heure de Paris. Chaque chiffre mène à la recherche des traces qu'il compte ; la consultation de ce tableau est elle-même tracée." }
        form method="get" action="/console/securite" {
            fieldset {
                legend { "Période" }
                label for="du" { "Du" }
                input type="date" id="du" name="du" value=(value("du", day_text(board.request.from)));
                label for="au" { "Au (inclus)" }
                input type="date" id="au" name="au" value=(value("au", day_text(board.request.to)));
                label for="jour" { "Jour détaillé heure par heure" span class="hint" { "vide : le jour qui compte le plus d'échecs" } }
                input type="date" id="jour" name="jour" value=(q.get("jour").cloned().unwrap_or_default());
                label for="inactifs" { "Comptes sans connexion depuis plus de" }
                select id="inactifs" name="inactifs" {
                    @for m in 1..=12u32 { option value=(m) selected[m == board.request.dormant_months] { (m) " mois" } }
                }
                button type="submit" { "Afficher" }
            }
        }
        (summary(&board))
        h2 { "Connexions par jour" }
        (chart("jours", &format!("Connexions par mot de passe du {} au {}", board.request.from.format("%d/%m/%Y"), board.request.to.format("%d/%m/%Y")), &board.days, true))
        h2 { "Heure par heure, le " (board.day.format("%d/%m/%Y")) }
        @if board.request.day.is_none() && board.hours.iter().any(|h| h.failures > 0) {
            p { "Le jour de la période qui compte le plus d'échecs ; choisissez-en un autre dans la période ci-dessus." }
        }
        (chart("heures", &format!("Connexions par mot de passe heure par heure le {}", board.day.format("%d/%m/%Y")), &board.hours, false))
        (reasons(&board))
        (locked(&board))
        (dormant(&board, &names))
        h2 { "Derniers changements d'administration" }
        (trace_table("changements", "Changements d'administration, les plus récents d'abord", &board.changes, &names, true))
        p { a href=(search_link(&[("action", "admin.change")])) { "Tous les changements d'administration" } }
        h2 { "Recherches et exports des traces par les autres responsables" }
        (trace_table("recherches", "Recherches et exports des traces, les plus récents d'abord", &board.searches, &names, false))
        p {
            a href=(search_link(&[("action", "trace.query")])) { "Toutes les recherches" } " — "
            a href=(search_link(&[("action", "trace.export")])) { "Tous les exports" }
        }
    };
    render("Tableau de bord de sécurité", &user, body)
}

fn summary(board: &Dashboard) -> Markup {
    let logins: u64 = board.days.iter().map(|b| b.logins).sum();
    let failures: u64 = board.days.iter().map(|b| b.failures).sum();
    let (from, to) = (day_text(board.request.from), day_text(board.request.to));
    let period = |outcome: &str| {
        search_link(&[
            ("action", "auth.login"),
            ("outcome", outcome),
            ("from", &from),
            ("to", &to),
        ])
    };
    html! {
        ul class="figures" {
            li { a href=(period("success")) { strong { (logins) } " connexions réussies" } }
            li { a href=(period("failure")) { strong { (failures) } " échecs de connexion" } }
            li { a href="/console/alertes" { strong { (board.open_alerts) } " alertes à acquitter" } }
            li { a href="#verrouilles" { strong { (board.locked.len()) } " comptes verrouillés en ce moment" } }
            li { a href="#inactifs" { strong { (board.dormant_total) } " comptes sans connexion depuis plus de " (board.request.dormant_months) " mois" } }
        }
    }
}

fn reasons(board: &Dashboard) -> Markup {
    let (from, to) = (day_text(board.request.from), day_text(board.request.to));
    html! {
        h2 { "Échecs par motif" }
        table class="stack" id="motifs" {
            caption { "Échecs de la période, par action et par motif" }
            thead { tr { th scope="col" { "Action" } th scope="col" { "Motif" } th scope="col" { "Nombre" } } }
            tbody {
                @if board.reasons.is_empty() { tr { td colspan="3" { "Aucun échec sur la période." } } }
                @for r in &board.reasons {
                    tr {
                        td data-label="Action" { (action_label(&r.action).unwrap_or(&r.action)) }
                        td data-label="Motif" {
                            @match r.reason.as_deref() {
                                Some(code) => { (reason_label(code).unwrap_or(code)) " " span class="hint" { "(" (code) ")" } },
                                None => "—",
                            }
                        }
                        td data-label="Nombre" {
                            a href=(search_link(&[("action", &r.action), ("outcome", "failure"), ("reason", r.reason.as_deref().unwrap_or("")), ("from", &from), ("to", &to)])) { (r.count) }
                        }
                    }
                }
            }
        }
    }
}

fn person_link(account: &crate::store::Account) -> Markup {
    html! {
        a href={ "/console/personnes/" (account.id) } { (account.profile.given_name) " " (account.profile.family_name) }
        br; span class="hint" { (account.profile.email) }
    }
}

fn locked(board: &Dashboard) -> Markup {
    html! {
        h2 id="verrouilles" { "Comptes verrouillés en ce moment" }
        p { "Verrouillés après des échecs répétés, ou arrivés au plafond d'échecs du jour. La page de la personne permet de lever le verrou." }
        table class="stack" {
            caption { "Comptes verrouillés" }
            thead { tr { th scope="col" { "Personne" } th scope="col" { "Jusqu'à" } th scope="col" { "Pourquoi" } th scope="col" { "Traces" } } }
            tbody {
                @if board.locked.is_empty() { tr { td colspan="4" { "Aucun compte verrouillé." } } }
                @for l in &board.locked {
                    tr {
                        td data-label="Personne" { (person_link(&l.account)) }
                        td data-label="Jusqu'à" { (crate::clock::paris(l.until)) }
                        td data-label="Pourquoi" { (if l.lock { "verrou après des échecs consécutifs" } else { "plafond d'échecs sur 24 heures" }) }
                        td data-label="Traces" { a href=(search_link(&[("person", l.account.profile.email.as_str()), ("action", "auth.login"), ("outcome", "failure")])) { "ses échecs" } }
                    }
                }
            }
        }
    }
}

fn dormant(board: &Dashboard, names: &Names) -> Markup {
    let months = board.request.dormant_months;
    html! {
        h2 id="inactifs" { "Comptes sans connexion depuis plus de " (months) " mois" }
        p {
            "Comptes actifs, créés il y a plus de " (months) " mois, sans connexion depuis : des candidats à la fermeture (la revue annuelle ou la page de la personne)."
            @if board.dormant_total > board.dormant.len() { " Les " (board.dormant.len()) " premiers sur " (board.dormant_total) "." }
            @if board.dormant_capped { " Seuls les 5 000 comptes les plus anciens ont été examinés." }
        }
        table class="stack" {
            caption { "Comptes sans connexion" }
            thead { tr { th scope="col" { "Personne" } th scope="col" { "Partenaire" } th scope="col" { "Dernière connexion" } } }
            tbody {
                @if board.dormant.is_empty() { tr { td colspan="3" { "Aucun compte." } } }
                @for d in &board.dormant {
                    tr {
                        td data-label="Personne" { (person_link(&d.account)) }
                        td data-label="Partenaire" {
                            @match &d.account.profile.partner {
                                Some(p) => (names.partner(p.as_str()).unwrap_or(p.as_str())),
                                None => "personnel de la Caf",
                            }
                        }
                        td data-label="Dernière connexion" {
                            @match d.last_login_us {
                                Some(at) => (crate::clock::paris(at / 1_000_000)),
                                None => "aucune dans les traces conservées",
                            }
                        }
                    }
                }
            }
        }
    }
}

fn trace_table(
    id: &str,
    caption: &str,
    records: &[TraceRecord],
    names: &Names,
    changes: bool,
) -> Markup {
    html! {
        table class="stack" id=(id) {
            caption { (caption) }
            thead { tr {
                th scope="col" { "Date" } th scope="col" { (if changes { "Auteur" } else { "Responsable" }) }
                th scope="col" { (if changes { "Changement" } else { "Action" }) } th scope="col" { (if changes { "Partenaire" } else { "Filtre" }) }
            } }
            tbody {
                @if records.is_empty() { tr { td colspan="4" { "Aucun." } } }
                @for r in records {
                    @let t = &r.trace;
                    tr {
                        td data-label="Date" { (crate::clock::paris_seconds(t.at_us)) }
                        td data-label=(if changes { "Auteur" } else { "Responsable" }) { (person_cell(names, r)) }
                        @if changes {
                            td data-label="Changement" {
                                (t.target.as_deref().and_then(|target| crate::traces::query::change_words(&t.action, target)).unwrap_or("changement"))
                                @if let Some(reason) = &t.reason { br; span class="hint" { "motif : " (reason) } }
                            }
                            td data-label="Partenaire" { (t.partner.as_deref().map(|p| names.partner(p).unwrap_or(p)).unwrap_or("—")) }
                        } @else {
                            td data-label="Action" { (action_label(&t.action).unwrap_or(&t.action)) }
                            td data-label="Filtre" {
                                @match t.target.as_deref() {
                                    Some(target) => (crate::traces::query::filter_words(target, names).unwrap_or_else(|| target.to_owned())),
                                    None => "—",
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
