//! Searching partners, people and habilitations within a reach: filters, a sort key and keyset
//! pagination, run by the database (`store::sql::directory`), never by loading everything.
//!
//! Text is matched on folded keys (lower case, accents dropped: "Hélène" is found by
//! "helene"), which the stores write beside the names they keep.

use super::{Account, Habilitation, HabilitationStatus, Partner, StoreResult};
use crate::types::{CafCode, ClientId, PartnerId, RoleCode};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

/// Lower case, without accents or combining marks, whitespace collapsed: what search keys and
/// search words are compared as.
pub fn fold(text: &str) -> String {
    let lowered: String = text
        .nfd()
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect();
    let lowered = lowered.replace('œ', "oe").replace('æ', "ae");
    lowered.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whose records a search may return: every partner, or those of a Caf, or one partner (an
/// actor may have both of the last two).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reach {
    pub everything: bool,
    pub caf: Option<CafCode>,
    pub partner: Option<PartnerId>,
}

impl Reach {
    pub fn is_empty(&self) -> bool {
        !self.everything && self.caf.is_none() && self.partner.is_none()
    }
}

/// The value of the sort key of the last row of a page, and its id: where the next page starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: SortValue,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// What every search shares: words (each must match), the sort direction, where to start and
/// how many rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Folded words, each of which must appear in one of the searched keys.
    pub words: Vec<String>,
    pub descending: bool,
    pub after: Option<Cursor>,
    pub limit: u32,
}

impl Window {
    pub fn new(text: Option<&str>, descending: bool, after: Option<Cursor>, limit: u32) -> Self {
        Self {
            words: text
                .map(fold)
                .unwrap_or_default()
                .split(' ')
                .filter(|w| !w.is_empty())
                .take(8)
                .map(str::to_owned)
                .collect(),
            descending,
            after,
            limit: limit.clamp(1, 200),
        }
    }
}

/// One page of results and the cursor of the next one, if there is more.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    pub fn empty() -> Self {
        Self {
            items: Vec::new(),
            next: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum PartnerSort {
    #[default]
    Name,
    Commune,
    Siret,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartnerSearch {
    pub window: Window,
    pub caf: Option<CafCode>,
    pub sort: PartnerSort,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum PersonSort {
    #[default]
    Name,
    Email,
    Partner,
    Created,
}

/// The state of an account as lists filter it (closure is kept apart from the status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum PersonState {
    Pending,
    Active,
    Suspended,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonSearch {
    pub window: Window,
    pub partner: Option<PartnerId>,
    pub state: Option<PersonState>,
    pub sort: PersonSort,
}

/// A person found, with the name of their partner.
#[derive(Debug, Clone)]
pub struct PersonHit {
    pub account: Account,
    pub partner_name: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, strum::IntoStaticStr, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum HabilitationSort {
    #[default]
    Holder,
    Service,
    ValidUntil,
    Granted,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HabilitationSearch {
    pub window: Window,
    pub partner: Option<PartnerId>,
    pub client_id: Option<ClientId>,
    pub role: Option<RoleCode>,
    /// `None`: active and suspended ones (closed habilitations are listed apart, on request).
    pub status: Option<HabilitationStatus>,
    /// Only those whose validity ends in `[from, until)` (expiring soon).
    pub ending: Option<(i64, i64)>,
    pub sort: HabilitationSort,
}

/// A habilitation found, with what a list shows of its holder and partner.
#[derive(Debug, Clone)]
pub struct HabilitationHit {
    pub habilitation: Habilitation,
    pub partner_name: String,
    /// "Family Given" of a person, or the group's name.
    pub holder_name: String,
    pub holder_email: Option<String>,
    /// The holder's account is suspended or closed: the habilitation is not effective.
    pub holder_blocked: bool,
}

#[async_trait]
pub trait DirectoryStore: Send + Sync {
    async fn search_partners(
        &self,
        reach: &Reach,
        search: &PartnerSearch,
    ) -> StoreResult<Page<Partner>>;
    async fn search_people(
        &self,
        reach: &Reach,
        search: &PersonSearch,
    ) -> StoreResult<Page<PersonHit>>;
    async fn search_habilitations(
        &self,
        reach: &Reach,
        search: &HabilitationSearch,
    ) -> StoreResult<Page<HabilitationHit>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_drops_case_accents_and_extra_spaces() {
        assert_eq!(fold("  Hélène   FAURE "), "helene faure");
        assert_eq!(fold("Œuvre Ça"), "oeuvre ca");
        assert_eq!(
            Window::new(Some("Émilie  d'Été"), false, None, 5000).words,
            ["emilie", "d'ete"]
        );
        assert_eq!(Window::new(None, false, None, 0).limit, 1);
    }
}
