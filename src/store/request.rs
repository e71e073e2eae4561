//! Requests a partner in centralized mode addresses to its Caf (MCP agreement §9.2): what is
//! asked, by whom and why, and the Caf's decision. The change itself is carried out, when
//! approved, by `habilitations::requests` through the same checked commands as any other.

use super::{Holder, StoreResult};
use crate::types::{AccountId, ClientId, Email, HabilitationId, PartnerId, RequestId, RoleCode};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// What a request asks the Caf to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RequestedChange {
    /// Create the account of a new person (mailed an activation link).
    CreatePerson {
        email: Email,
        civility: Option<String>,
        given_name: String,
        family_name: String,
        function: Option<String>,
        /// The requester confirmed that an address that looks shared names this person.
        #[serde(default)]
        named_person: bool,
    },
    /// Grant a service role to a person or a group.
    Grant {
        holder: Holder,
        client_id: ClientId,
        role: RoleCode,
        #[serde(default)]
        scope: Vec<String>,
        valid_until: Option<i64>,
    },
    Suspend {
        habilitation: HabilitationId,
    },
    Reactivate {
        habilitation: HabilitationId,
    },
    /// Withdraw (close) a habilitation.
    Withdraw {
        habilitation: HabilitationId,
    },
    /// Close a person's account on departure.
    CloseAccount {
        account: AccountId,
    },
    /// Suspend a person's account (every habilitation without effect meanwhile).
    SuspendAccount {
        account: AccountId,
    },
    /// Lift the suspension of a person's account.
    ReactivateAccount {
        account: AccountId,
    },
}

impl RequestedChange {
    /// Whether two requests ask for the same thing, whatever their details: an account for
    /// the same address, the same role for the same holder, the same change of the same
    /// habilitation or account.
    pub fn same_as(&self, other: &RequestedChange) -> bool {
        use RequestedChange::*;
        match (self, other) {
            (CreatePerson { email: a, .. }, CreatePerson { email: b, .. }) => a == b,
            (
                Grant {
                    holder: h1,
                    client_id: c1,
                    role: r1,
                    ..
                },
                Grant {
                    holder: h2,
                    client_id: c2,
                    role: r2,
                    ..
                },
            ) => h1 == h2 && c1 == c2 && r1 == r2,
            _ => self == other,
        }
    }

    /// What kind of request, as a mail's subject says it.
    pub fn title(&self) -> &'static str {
        match self {
            RequestedChange::CreatePerson { .. } => "Demande de création de compte",
            RequestedChange::Grant { .. } => "Demande d'habilitation",
            RequestedChange::Suspend { .. } => "Demande de suspension d'habilitation",
            RequestedChange::Reactivate { .. } => "Demande de rétablissement d'habilitation",
            RequestedChange::Withdraw { .. } => "Demande de retrait d'habilitation",
            RequestedChange::CloseAccount { .. } => "Demande de fermeture de compte",
            RequestedChange::SuspendAccount { .. } => "Demande de suspension de compte",
            RequestedChange::ReactivateAccount { .. } => "Demande de réactivation de compte",
        }
    }

    /// The stable code stored beside the payload (`create_person`, `grant`…).
    pub fn code(&self) -> &'static str {
        match self {
            RequestedChange::CreatePerson { .. } => "create_person",
            RequestedChange::Grant { .. } => "grant",
            RequestedChange::Suspend { .. } => "suspend",
            RequestedChange::Reactivate { .. } => "reactivate",
            RequestedChange::Withdraw { .. } => "withdraw",
            RequestedChange::CloseAccount { .. } => "close_account",
            RequestedChange::SuspendAccount { .. } => "suspend_account",
            RequestedChange::ReactivateAccount { .. } => "reactivate_account",
        }
    }
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    strum::IntoStaticStr,
    strum::EnumString,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum RequestStatus {
    Pending,
    /// Approved and carried out.
    Approved,
    Refused,
    /// Withdrawn by the partner before the Caf decided.
    Cancelled,
}

impl RequestStatus {
    pub fn label(self) -> &'static str {
        match self {
            RequestStatus::Pending => "en attente de la Caf",
            RequestStatus::Approved => "acceptée et réalisée",
            RequestStatus::Refused => "refusée",
            RequestStatus::Cancelled => "retirée par le partenaire",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub id: RequestId,
    pub partner: PartnerId,
    pub change: RequestedChange,
    /// Why the partner asks.
    pub reason: Option<String>,
    /// Account id of the requester.
    pub requested_by: String,
    pub requested_at: i64,
    pub status: RequestStatus,
    pub decided_by: Option<String>,
    pub decided_at: Option<i64>,
    /// The Caf's reason (required to refuse).
    pub decision_reason: Option<String>,
}

/// A decision on a pending request.
#[derive(Debug, Clone)]
pub struct Decision<'a> {
    pub status: RequestStatus,
    pub by: &'a str,
    pub at: i64,
    pub reason: Option<&'a str>,
}

#[async_trait]
pub trait RequestStore: Send + Sync {
    async fn insert_request(&self, request: &Request) -> StoreResult<()>;
    async fn get_request(&self, id: &RequestId) -> StoreResult<Option<Request>>;
    /// The partner's requests, newest first (at most `limit`).
    async fn requests_of_partner(
        &self,
        partner: &PartnerId,
        limit: u32,
    ) -> StoreResult<Vec<Request>>;
    /// The pending requests of the given partners, oldest first: the Caf's queue.
    async fn pending_requests(&self, partners: &[PartnerId]) -> StoreResult<Vec<Request>>;
    /// Records the decision if the request is still pending; `false` when another decision
    /// came first (two officers, or the partner withdrawing it).
    async fn decide_request(&self, id: &RequestId, decision: &Decision<'_>) -> StoreResult<bool>;
    /// Back to pending after an acceptance whose change was refused (a quota reached since).
    async fn reopen_request(&self, id: &RequestId) -> StoreResult<()>;
    /// Retention: deletes the requests decided before `before` (they name people).
    async fn delete_decided_requests_before(&self, before: i64) -> StoreResult<u64>;
}
