//! Annexe 1 of the Coopération agreements: the list a partner sends of the people whose access
//! is requested or open (list 1), and of those whose access is to be closed or was closed less
//! than two years ago (list 2).
//!
//! Import reads either a CSV file with a header (`nom;prénom;email;fonction;date`, `,` or `;`)
//! or the text of the annex itself — lines such as `NOM Prénom ; email ; fonction ; date` or
//! `- Madame Camille POLLET, c.pollet@…, Directrice`, under the headings "1 -" and "2 -". It
//! first computes a plan (who is created, granted, kept, closed); nothing is written until the
//! plan is applied, and a plan with errors cannot be.

use super::access::{self, Action, Target};
use super::manage::{self, Author, GrantRequest, PersonFields, StatusChange, record};
use super::{Actor, HabResult, HabilitationError, PartnerContext};
use crate::habilitations::Record;
use crate::state::AppState;
use crate::store::{Account, Habilitation, HabilitationStatus, Holder, HolderRecord};
use crate::types::{ClientId, Email, PartnerId, RoleCode};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};

mod import;
mod parse;
pub use import::*;
pub use parse::*;

/// Closed accesses stay on the annex this long (the seeds: "moins de 2 ans").
pub const CLOSED_LISTED_SECONDS: i64 = 2 * 365 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum List {
    /// "Personnes pour lesquelles un nouvel accès est demandé ou qui ont un accès ouvert".
    Open,
    /// "Personnes pour lesquelles une clôture de l'accès est demandée ou qui ont un accès
    /// clôturé depuis moins de 2 ans".
    Closed,
}

/// One person of the annex.
#[derive(Debug, Clone, Serialize)]
pub struct Person {
    pub line: usize,
    pub civility: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub email: Email,
    pub function: Option<String>,
    pub date: Option<NaiveDate>,
    pub list: List,
}

/// A line that could not be read, in words the sender can act on.
#[derive(Debug, Clone, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

/// One person of an exported annex.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub civility: Option<String>,
    pub family_name: String,
    pub given_name: String,
    pub email: String,
    pub function: Option<String>,
    /// Granted (list 1) or closed (list 2), ISO date.
    pub date: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Export {
    pub partner: String,
    pub partner_name: String,
    pub service: String,
    pub service_name: String,
    pub transmitted_on: String,
    pub open: Vec<Row>,
    pub closed: Vec<Row>,
}

/// Who a row names: an account as it is, or a closed habilitation's holder as recorded.
struct Named {
    civility: Option<String>,
    family_name: String,
    given_name: String,
    email: String,
    function: Option<String>,
}

impl From<&Account> for Named {
    fn from(a: &Account) -> Self {
        Self {
            civility: a.profile.civility.clone(),
            family_name: a.profile.family_name.clone(),
            given_name: a.profile.given_name.clone(),
            email: a.profile.email.to_string(),
            function: a.profile.function.clone(),
        }
    }
}

impl From<&HolderRecord> for Named {
    fn from(r: &HolderRecord) -> Self {
        Self {
            civility: r.civility.clone(),
            family_name: r.family_name.clone(),
            given_name: r.given_name.clone(),
            email: r.email.clone(),
            function: r.function.clone(),
        }
    }
}

/// The current annex of a partner for a service: people with an open access (directly or
/// through a group), and people whose access was closed less than two years ago.
pub async fn export(
    state: &AppState,
    actor: &Actor,
    partner: &PartnerId,
    client_id: &ClientId,
) -> HabResult<Export> {
    let context = manage::partner(state, actor, partner).await?;
    let service = state
        .stores
        .services
        .get_service(client_id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::Service))?;
    let now = state.clock.now();
    let mut open: BTreeMap<String, (Named, i64, BTreeSet<String>)> = BTreeMap::new();
    let mut closed: BTreeMap<String, (Named, i64, BTreeSet<String>)> = BTreeMap::new();
    let habilitations: Vec<_> = state
        .stores
        .habilitations
        .habilitations_of_partner(partner)
        .await?
        .into_iter()
        .filter(|h| &h.client_id == client_id)
        .collect();
    for h in habilitations
        .iter()
        .filter(|h| h.status != HabilitationStatus::Closed)
    {
        for id in super::people_reached(state, h).await? {
            let Some(account) = state.stores.accounts.get_account(&id).await? else {
                continue;
            };
            let entry = open
                .entry(account.id.to_string())
                .or_insert_with(|| (Named::from(&account), h.granted_at, BTreeSet::new()));
            entry.1 = entry.1.min(h.granted_at);
            entry.2.insert(h.role.to_string());
        }
    }
    // List 2 names people as they were when their access closed: their account may have been
    // erased since, and the habilitation keeps who held it.
    for r in state
        .stores
        .habilitations
        .closed_holders_of_partner(partner)
        .await?
    {
        let Some(h) = habilitations.iter().find(|h| h.id == r.habilitation) else {
            continue;
        };
        let Some(at) = h.closed_at.filter(|at| now - at < CLOSED_LISTED_SECONDS) else {
            continue;
        };
        let entry = closed
            .entry(r.account.to_string())
            .or_insert_with(|| (Named::from(&r), at, BTreeSet::new()));
        entry.1 = entry.1.max(at);
        entry.2.insert(h.role.to_string());
    }
    closed.retain(|k, _| !open.contains_key(k));
    let rows = |map: BTreeMap<String, (Named, i64, BTreeSet<String>)>| {
        let mut rows: Vec<Row> = map
            .into_values()
            .map(|(p, at, roles)| Row {
                civility: p.civility,
                family_name: p.family_name,
                given_name: p.given_name,
                email: p.email,
                function: p.function,
                date: chrono::DateTime::from_timestamp(at, 0)
                    .map(|d| d.date_naive().to_string())
                    .unwrap_or_default(),
                roles: roles.into_iter().collect(),
            })
            .collect();
        rows.sort_by(|a, b| {
            (a.family_name.to_lowercase(), a.given_name.to_lowercase())
                .cmp(&(b.family_name.to_lowercase(), b.given_name.to_lowercase()))
        });
        rows
    };
    Ok(Export {
        partner: context.partner.id.to_string(),
        partner_name: context.partner.name.clone(),
        service: service.client_id.to_string(),
        service_name: service.name.clone(),
        transmitted_on: crate::habilitations::today().to_string(),
        open: rows(open),
        closed: rows(closed),
    })
}

/// The annex as CSV (`;`, UTF-8 with a byte-order mark so that spreadsheets read accents),
/// in the column order the import reads back.
pub fn to_csv(export: &Export) -> String {
    let headers = [
        "liste",
        "civilité",
        "nom",
        "prénom",
        "email",
        "fonction",
        "date",
        "rôles",
    ];
    let rows = [("ouvert", &export.open), ("clôturé", &export.closed)]
        .into_iter()
        .flat_map(|(list, rows)| {
            rows.iter().map(move |r| {
                [
                    list.to_owned(),
                    r.civility.clone().unwrap_or_default(),
                    r.family_name.clone(),
                    r.given_name.clone(),
                    r.email.clone(),
                    r.function.clone().unwrap_or_default(),
                    r.date.clone(),
                    r.roles.join(" "),
                ]
            })
        });
    format!("\u{feff}{}", crate::csv_out::write(&headers, rows))
}
