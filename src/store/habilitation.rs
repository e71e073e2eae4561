//! Records and storage of the habilitation model: conventions, quotas, groups, habilitations,
//! delegations, reviews and the record of changes.
//!
//! What the records mean (who may change them, what a mode allows) is decided in
//! `habilitations`; the store only keeps them, and keeps the quota rule atomic.

use super::{Change, StoreResult};
use crate::types::{
    AccountId, CafCode, ClientId, ConventionId, Email, GroupId, HabilitationId, PartnerId,
    ReviewId, RoleCode,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The offering a convention is for; it decides how long habilitation data is kept after
/// closure.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum ConventionKind {
    Cooperation,
    Monenfant,
    MonComptePartenaire,
}

impl ConventionKind {
    pub const ALL: [ConventionKind; 3] = [
        ConventionKind::Cooperation,
        ConventionKind::Monenfant,
        ConventionKind::MonComptePartenaire,
    ];

    pub fn label(self) -> &'static str {
        match self {
            ConventionKind::Cooperation => "Coopération",
            ConventionKind::Monenfant => "monenfant.fr – lieu d'information",
            ConventionKind::MonComptePartenaire => "Mon Compte Partenaire",
        }
    }
}

/// Who manages a partner's habilitations for the services of a convention.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
pub enum HabilitationMode {
    /// The partner's principal administrator, substitute and delegated managers (the default).
    #[default]
    #[serde(rename = "delegue")]
    #[strum(serialize = "delegue")]
    Delegated,
    /// The Caf's habilitation officer, on the partner's request.
    #[serde(rename = "centralise")]
    #[strum(serialize = "centralise")]
    Centralized,
}

impl HabilitationMode {
    pub fn label(self) -> &'static str {
        match self {
            HabilitationMode::Delegated => "délégué",
            HabilitationMode::Centralized => "centralisé",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactSide {
    Partner,
    Caf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactRole {
    HabilitationOfficer,
    SecurityOfficer,
    TechnicalReferent,
}

impl ContactRole {
    pub fn label(self) -> &'static str {
        match self {
            ContactRole::HabilitationOfficer => "Responsable des habilitations",
            ContactRole::SecurityOfficer => "Responsable sécurité",
            ContactRole::TechnicalReferent => "Référent technique",
        }
    }
}

/// A person named in a convention (the "interlocuteurs" of its annex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub side: ContactSide,
    pub role: ContactRole,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

/// The signed agreement between a Caf and a partner for one offering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Convention {
    pub id: ConventionId,
    pub number: String,
    pub kind: ConventionKind,
    pub caf: CafCode,
    pub partner: PartnerId,
    /// The services (relying applications) the convention opens to the partner.
    pub services: Vec<ClientId>,
    pub starts_on: NaiveDate,
    /// Set when either party terminated the convention; it is renewed tacitly every 12 months
    /// until then.
    pub terminated_on: Option<NaiveDate>,
    pub mode: HabilitationMode,
    pub contacts: Vec<Contact>,
    /// The roles the partner subscribed to (the bulletin d'adhésion): only those can be
    /// granted. A service none of whose roles is listed opens all of them (conventions
    /// recorded before subscriptions were).
    pub roles: Vec<SubscribedRole>,
}

/// One role of one service a convention subscribes to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SubscribedRole {
    pub service: ClientId,
    pub role: RoleCode,
}

impl Convention {
    /// Whether the convention opens `role` of `client_id`: the service is one of its, and
    /// the role is subscribed (or the service lists no role).
    pub fn opens_role(&self, client_id: &ClientId, role: &RoleCode) -> bool {
        self.services.contains(client_id) && {
            let mut listed = self
                .roles
                .iter()
                .filter(|r| &r.service == client_id)
                .peekable();
            listed.peek().is_none() || listed.any(|r| &r.role == role)
        }
    }

    /// In force on `day`: started, and not terminated yet.
    pub fn in_force_on(&self, day: NaiveDate) -> bool {
        self.starts_on <= day && self.terminated_on.is_none_or(|end| day < end)
    }

    /// The end of the current 12-month period (the next tacit renewal), on `day`.
    pub fn current_period_end(&self, day: NaiveDate) -> NaiveDate {
        let mut end = self.starts_on;
        while end <= day {
            end = end
                .checked_add_months(chrono::Months::new(12))
                .unwrap_or(NaiveDate::MAX);
        }
        match self.terminated_on {
            Some(t) if t < end => t,
            _ => end,
        }
    }
}

/// The most people a partner may hold one service role for, under one convention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    pub convention: ConventionId,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub maximum: u32,
}

/// The quotas that apply to one partner's grants, by service and role. A pair that is absent
/// has no limit.
pub type QuotaTable = BTreeMap<(ClientId, RoleCode), u32>;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: GroupId,
    pub partner: PartnerId,
    pub name: String,
    pub created_at: i64,
    pub closed_at: Option<i64>,
}

/// Who holds a habilitation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Holder {
    Account(AccountId),
    Group(GroupId),
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum HabilitationStatus {
    Active,
    /// Suspended as a precaution: kept, not usable, can be reactivated.
    Suspended,
    /// Withdrawn for good; kept for the retention period of its convention.
    Closed,
}

impl HabilitationStatus {
    pub fn label(self) -> &'static str {
        match self {
            HabilitationStatus::Active => "active",
            HabilitationStatus::Suspended => "suspendue",
            HabilitationStatus::Closed => "fermée",
        }
    }
}

/// One service role, with its optional scope, granted to one person or group of a partner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Habilitation {
    pub id: HabilitationId,
    pub partner: PartnerId,
    /// The convention it was granted under (its mode, quotas and retention apply).
    pub convention: ConventionId,
    pub client_id: ClientId,
    pub role: RoleCode,
    /// E.g. the INSEE codes of the communes a monenfant information point covers.
    pub scope: Vec<String>,
    pub holder: Holder,
    pub valid_from: i64,
    pub valid_until: Option<i64>,
    pub status: HabilitationStatus,
    /// Account id of the person who granted it, or `provisioning` / `annexe1`.
    pub granted_by: String,
    pub granted_at: i64,
    pub status_changed_at: i64,
    pub status_changed_by: String,
    pub status_reason: Option<String>,
    pub closed_at: Option<i64>,
    /// When it was last confirmed in a reverse review.
    pub reviewed_at: Option<i64>,
}

/// One person who held a closed habilitation, as they were when it closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HolderRecord {
    pub habilitation: HabilitationId,
    pub account: AccountId,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub email: String,
    pub function: Option<String>,
    pub recorded_at: i64,
}

impl Habilitation {
    /// Usable at `now`: active and within its validity dates.
    pub fn is_effective(&self, now: i64) -> bool {
        self.status == HabilitationStatus::Active
            && self.valid_from <= now
            && self.valid_until.is_none_or(|until| now < until)
    }
}

/// A service role a delegated manager may grant and withdraw; `role` is `None` for every role
/// of the service.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Delegation {
    pub client_id: ClientId,
    pub role: Option<RoleCode>,
}

impl Delegation {
    pub fn covers(&self, client_id: &ClientId, role: &RoleCode) -> bool {
        &self.client_id == client_id && self.role.as_ref().is_none_or(|r| r == role)
    }
}

/// One attributed change: who did what to which record, when and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRecord {
    pub at: i64,
    /// Account id of the person acting, or `provisioning`, `annexe1`, `retention`.
    pub actor: String,
    pub partner: Option<PartnerId>,
    /// A stable name from `habilitations::Action`, e.g. `habilitation.grant`.
    pub action: String,
    /// The reference of the record touched (e.g. `habilitation:<id>`), never its content.
    pub target: String,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Confirm,
    Withdraw,
}

/// A yearly reverse review of one partner's habilitations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub id: ReviewId,
    pub partner: PartnerId,
    pub started_at: i64,
    pub started_by: AccountId,
    pub decisions: BTreeMap<HabilitationId, ReviewDecision>,
    pub completed_at: Option<i64>,
    pub completed_by: Option<AccountId>,
    /// The signed report (compact JWS), once completed.
    pub report: Option<String>,
}

/// Why a grant or a membership was refused by the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantRefusal {
    /// The partner already has `maximum` people holding this role.
    QuotaReached {
        client_id: ClientId,
        role: RoleCode,
        maximum: u32,
    },
    /// The holder already has an open habilitation for this service role.
    AlreadyHeld,
}

/// Conventions and their quotas, and what a quota counts.
#[async_trait]
pub trait ConventionStore: Send + Sync {
    async fn upsert_convention(&self, convention: &Convention) -> StoreResult<Change>;

    async fn get_convention(&self, id: &ConventionId) -> StoreResult<Option<Convention>>;

    async fn find_convention_by_number(&self, number: &str) -> StoreResult<Option<Convention>>;

    async fn conventions_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Convention>>;

    /// Sets (or, with `maximum = None`, removes) a quota.
    async fn set_quota(
        &self,
        convention: &ConventionId,
        client_id: &ClientId,
        role: &RoleCode,
        maximum: Option<u32>,
    ) -> StoreResult<()>;

    async fn quotas_of_convention(&self, convention: &ConventionId) -> StoreResult<Vec<Quota>>;

    /// The people holding a non-closed habilitation of the partner for the service role,
    /// directly or through an open group: what a quota counts.
    async fn count_holders(
        &self,
        partner: &PartnerId,
        client_id: &ClientId,
        role: &RoleCode,
    ) -> StoreResult<u32>;
}

/// Habilitations: granted within a quota (atomically), their status, retention.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// Stores a new habilitation unless the holder already has an open one for the same
    /// service role, or the quota of `quotas` for its service role would be exceeded. The
    /// check and the insertion are one atomic step: two concurrent grants at quota - 1 cannot
    /// both succeed.
    async fn insert_habilitation(
        &self,
        habilitation: &Habilitation,
        quotas: &QuotaTable,
    ) -> StoreResult<Result<(), GrantRefusal>>;

    async fn get_habilitation(&self, id: &HabilitationId) -> StoreResult<Option<Habilitation>>;

    async fn habilitations_of_partner(&self, partner: &PartnerId)
    -> StoreResult<Vec<Habilitation>>;

    /// The habilitations an account holds directly or through its open groups, any status.
    async fn habilitations_of_account(&self, account: &AccountId)
    -> StoreResult<Vec<Habilitation>>;

    async fn habilitations_of_group(&self, group: &GroupId) -> StoreResult<Vec<Habilitation>>;

    /// Changes the status (and, when closing, sets `closed_at` and records who held it).
    /// Refuses (false) to change a closed habilitation.
    async fn set_habilitation_status(
        &self,
        id: &HabilitationId,
        status: HabilitationStatus,
        by: &str,
        reason: Option<&str>,
        at: i64,
    ) -> StoreResult<bool>;

    async fn mark_reviewed(&self, ids: &[HabilitationId], at: i64) -> StoreResult<()>;

    /// Who held the partner's closed habilitations, as recorded when each closed (for a group,
    /// its members then): these stay with the habilitation until its own retention ends,
    /// after the people's account data is erased.
    async fn closed_holders_of_partner(
        &self,
        partner: &PartnerId,
    ) -> StoreResult<Vec<HolderRecord>>;

    /// Deletes the habilitations closed before `before` under conventions of `kind` (and
    /// their holder records); returns how many.
    async fn delete_closed_habilitations(
        &self,
        kind: ConventionKind,
        before: i64,
    ) -> StoreResult<u64>;
}

/// Groups of a partner and their members (memberships count in quotas).
#[async_trait]
pub trait GroupStore: Send + Sync {
    async fn insert_group(&self, group: &Group) -> StoreResult<()>;

    async fn get_group(&self, id: &GroupId) -> StoreResult<Option<Group>>;

    async fn groups_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Group>>;

    async fn rename_group(&self, id: &GroupId, name: &str) -> StoreResult<()>;

    async fn close_group(&self, id: &GroupId, at: i64) -> StoreResult<()>;

    async fn group_members(&self, id: &GroupId) -> StoreResult<Vec<AccountId>>;

    async fn groups_of_account(&self, account: &AccountId) -> StoreResult<Vec<Group>>;

    /// Adds a member unless that would exceed a quota of `quotas` for one of the group's open
    /// habilitations; atomic like `insert_habilitation`.
    async fn add_group_member(
        &self,
        group: &GroupId,
        account: &AccountId,
        quotas: &QuotaTable,
        at: i64,
    ) -> StoreResult<Result<(), GrantRefusal>>;

    async fn remove_group_member(&self, group: &GroupId, account: &AccountId) -> StoreResult<()>;
}

/// What a delegated manager was delegated.
#[async_trait]
pub trait DelegationStore: Send + Sync {
    async fn delegations_of(&self, account: &AccountId) -> StoreResult<Vec<Delegation>>;

    async fn set_delegations(
        &self,
        account: &AccountId,
        delegations: &[Delegation],
        by: &str,
        at: i64,
    ) -> StoreResult<()>;
}

/// The yearly reverse reviews.
#[async_trait]
pub trait ReviewStore: Send + Sync {
    async fn insert_review(&self, review: &Review) -> StoreResult<()>;

    async fn get_review(&self, id: &ReviewId) -> StoreResult<Option<Review>>;

    async fn reviews_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Review>>;

    async fn save_review(&self, review: &Review) -> StoreResult<()>;
}

/// The record of every change (who, when, what, why).
#[async_trait]
pub trait ChangeLog: Send + Sync {
    async fn record_change(&self, change: &ChangeRecord) -> StoreResult<()>;

    /// Deletes the change records older than `before` (their reasons may name people); returns
    /// how many.
    async fn delete_changes_before(&self, before: i64) -> StoreResult<u64>;

    async fn changes_of_partner(
        &self,
        partner: &PartnerId,
        limit: u32,
    ) -> StoreResult<Vec<ChangeRecord>>;
}

/// Everything of the habilitation model, as one store: the small traits above, each of one
/// aggregate, implemented together by the SQL stores.
pub trait HabilitationStore:
    ConventionStore
    + GrantStore
    + GroupStore
    + DelegationStore
    + ReviewStore
    + ChangeLog
    + super::RequestStore
{
}

impl<T> HabilitationStore for T where
    T: ConventionStore
        + GrantStore
        + GroupStore
        + DelegationStore
        + ReviewStore
        + ChangeLog
        + super::RequestStore
        + ?Sized
{
}
