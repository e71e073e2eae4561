//! Finding partners, people and habilitations in an actor's reach: the parameters the console
//! and the API share (same names, same meaning), checked into the store's searches
//! (`store::directory`), with opaque cursors for keyset pagination.
//!
//! The reach is the one `access::can_see` grants: every partner for a national operator, the
//! partners of their Caf for its habilitation and security officers, their own partner for its
//! administrators, delegated managers and security officer.

use super::{Actor, HabResult, HabilitationError};
use crate::state::AppState;
use crate::store::directory::*;
use crate::store::{AdminRole, HabilitationStatus, Partner};
use crate::types::{CafCode, ClientId, PartnerId, RoleCode};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::collections::HashMap;

/// Rows per page unless asked otherwise.
pub const DEFAULT_LIMIT: u32 = 25;

/// The query parameters of every list: `q` (words, each to be found), `sort`, `order`
/// (`asc`, `desc`), `after` (the cursor a page gave), `limit` (1 to 200), and the filters of
/// each list (the others are ignored).
#[derive(Debug, Clone, Default, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Words to find, each in a name, an email, a commune or a SIRET (case and accents ignored).
    pub q: Option<String>,
    /// Partners: `name`, `commune`, `siret`; people: `name`, `email`, `partner`, `created`;
    /// habilitations: `holder`, `service`, `valid_until`, `granted`.
    pub sort: Option<String>,
    /// `asc` (default) or `desc`.
    pub order: Option<String>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Rows per page, 1 to 200 (default 25).
    pub limit: Option<u32>,
    /// Partners: the code of their Caf.
    pub caf: Option<String>,
    /// People and habilitations: the partner's id.
    pub partner: Option<String>,
    /// People: `pending`, `active`, `suspended` or `closed`.
    pub state: Option<String>,
    /// Habilitations: `active`, `suspended` or `closed` (default: active and suspended).
    pub status: Option<String>,
    /// Habilitations: the service's client id.
    pub service: Option<String>,
    /// Habilitations: the role code.
    pub role: Option<String>,
    /// Habilitations: only those whose validity ends within this many days (1 to 3650).
    pub expiring_within: Option<u32>,
}

impl ListParams {
    /// From a query string's pairs (unknown names ignored); numbers that are not numbers are
    /// refused with the field named.
    pub fn from_query(query: &HashMap<String, String>) -> HabResult<Self> {
        let text = |name: &str| query.get(name).cloned();
        let number = |name: &str, label: &str| -> HabResult<Option<u32>> {
            match query.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .parse()
                    .map(Some)
                    .map_err(|_| invalid(&format!("{label} est un nombre entier."))),
            }
        };
        Ok(Self {
            q: text("q"),
            sort: text("sort"),
            order: text("order"),
            after: text("after"),
            limit: number("limit", "Le nombre de lignes par page")?,
            caf: text("caf"),
            partner: text("partner"),
            state: text("state"),
            status: text("status"),
            service: text("service"),
            role: text("role"),
            expiring_within: number("expiring_within", "L'échéance en jours")?,
        })
    }
}

fn invalid(message: &str) -> HabilitationError {
    HabilitationError::Invalid(message.to_owned())
}

/// Blank values count as absent (an empty select in a form).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// The reach of `actor` as searches take it.
pub fn reach(actor: &Actor) -> Reach {
    let caf_side =
        actor.holds(AdminRole::CafHabilitationOfficer) || actor.holds(AdminRole::SecurityOfficer);
    let partner_side = [
        AdminRole::PartnerAdministrator,
        AdminRole::PartnerSubstitute,
        AdminRole::DelegatedManager,
        AdminRole::SecurityOfficer,
    ]
    .iter()
    .any(|r| actor.holds(*r));
    Reach {
        everything: actor.holds(AdminRole::NationalOperator),
        caf: actor.account.profile.caf.clone().filter(|_| caf_side),
        partner: actor
            .account
            .profile
            .partner
            .clone()
            .filter(|_| partner_side),
    }
}

/// The text of a page's `next` cursor.
pub fn encode_cursor(cursor: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).expect("cursors serialise"))
}

fn decode_cursor(text: &str, int_key: bool) -> HabResult<Cursor> {
    let wrong =
        || invalid("Le curseur de pagination n'est pas valable : repartez de la première page.");
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| wrong())?;
    let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| wrong())?;
    match (&cursor.key, int_key) {
        (SortValue::Int(_), true) | (SortValue::Text(_), false) => Ok(cursor),
        _ => Err(wrong()),
    }
}

fn sort<T: std::str::FromStr + Default>(params: &ListParams, allowed: &str) -> HabResult<T> {
    match given(&params.sort) {
        None => Ok(T::default()),
        Some(s) => s.parse().map_err(|_| {
            invalid(&format!(
                "Ce tri n'existe pas : les listes se trient par {allowed}."
            ))
        }),
    }
}

fn window(params: &ListParams, int_key: bool) -> HabResult<Window> {
    let descending = match given(&params.order) {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => return Err(invalid("L'ordre est « asc » ou « desc ».")),
    };
    if params.limit.is_some_and(|l| !(1..=200).contains(&l)) {
        return Err(invalid("Une page compte de 1 à 200 lignes."));
    }
    if params.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(invalid("La recherche compte au plus 200 caractères."));
    }
    let after = given(&params.after)
        .map(|a| decode_cursor(a, int_key))
        .transpose()?;
    Ok(Window::new(
        params.q.as_deref(),
        descending,
        after,
        params.limit.unwrap_or(DEFAULT_LIMIT),
    ))
}

fn partner_filter(params: &ListParams) -> HabResult<Option<PartnerId>> {
    given(&params.partner)
        .map(|p| {
            PartnerId::parse(p)
                .map_err(|_| invalid("L'identifiant du partenaire n'est pas valable."))
        })
        .transpose()
}

pub async fn partners(
    state: &AppState,
    actor: &Actor,
    params: &ListParams,
) -> HabResult<Page<Partner>> {
    let search = PartnerSearch {
        sort: sort(params, "nom (name), commune (commune) ou SIRET (siret)")?,
        window: window(params, false)?,
        caf: given(&params.caf)
            .map(|c| CafCode::parse(c).map_err(|_| invalid("Le code de la Caf n'est pas valable.")))
            .transpose()?,
    };
    Ok(state
        .stores
        .directory
        .search_partners(&reach(actor), &search)
        .await?)
}

pub async fn people(
    state: &AppState,
    actor: &Actor,
    params: &ListParams,
) -> HabResult<Page<PersonHit>> {
    let sort: PersonSort = sort(
        params,
        "nom (name), adresse (email), partenaire (partner) ou date de création (created)",
    )?;
    let search = PersonSearch {
        window: window(params, sort == PersonSort::Created)?,
        partner: partner_filter(params)?,
        state: given(&params.state)
            .map(|s| {
                s.parse().map_err(|_| {
                    invalid("L'état du compte est pending, active, suspended ou closed.")
                })
            })
            .transpose()?,
        sort,
    };
    Ok(state
        .stores
        .directory
        .search_people(&reach(actor), &search)
        .await?)
}

pub async fn habilitations(
    state: &AppState,
    actor: &Actor,
    params: &ListParams,
) -> HabResult<Page<HabilitationHit>> {
    let sort: HabilitationSort = sort(
        params,
        "titulaire (holder), service (service), fin de validité (valid_until) ou date d'attribution (granted)",
    )?;
    let ending = match params.expiring_within {
        None => None,
        Some(days @ 1..=3650) => {
            let now = state.clock.now();
            Some((now, now + i64::from(days) * 86_400))
        }
        Some(_) => return Err(invalid("L'échéance se compte de 1 à 3650 jours.")),
    };
    let search = HabilitationSearch {
        window: window(
            params,
            matches!(
                sort,
                HabilitationSort::ValidUntil | HabilitationSort::Granted
            ),
        )?,
        partner: partner_filter(params)?,
        client_id: given(&params.service)
            .map(|s| ClientId::parse(s).map_err(|_| invalid("Le service n'est pas valable.")))
            .transpose()?,
        role: given(&params.role)
            .map(|r| RoleCode::parse(r).map_err(|_| invalid("Le rôle n'est pas valable.")))
            .transpose()?,
        status: given(&params.status)
            .map(|s| {
                HabilitationStatus::parse(s)
                    .ok_or_else(|| invalid("Le statut est active, suspended ou closed."))
            })
            .transpose()?,
        ending,
        sort,
    };
    Ok(state
        .stores
        .directory
        .search_habilitations(&reach(actor), &search)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_the_other_kind_of_key() {
        let text = Cursor {
            key: SortValue::Text("lambert sophie".into()),
            id: "abc".into(),
        };
        let encoded = encode_cursor(&text);
        assert_eq!(decode_cursor(&encoded, false).unwrap(), text);
        assert!(decode_cursor(&encoded, true).is_err());
        let int = Cursor {
            key: SortValue::Int(1_700_000_000),
            id: "x".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&int), true).unwrap(), int);
        assert!(decode_cursor("not a cursor!", false).is_err());
    }
}
