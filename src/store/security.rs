//! What security officers keep besides the traces: the alerts raised by `traces::alerts` and
//! the requests for traces a partner's officer sends its Caf (`traces::requests`).

use super::StoreResult;
use crate::types::{AccountId, CafCode, PartnerId};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// An alert as its rule raises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAlert {
    /// The rule's code (`failures_per_address`…).
    pub rule: String,
    /// What the alert is about: an address, an account id.
    pub subject: String,
    /// Whose officers see it (none: national operators only).
    pub partner: Option<PartnerId>,
    pub caf: Option<CafCode>,
    pub at: i64,
    /// What was seen, for the officer (counts, addresses, times).
    pub evidence: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub id: String,
    pub rule: String,
    pub subject: String,
    pub partner: Option<PartnerId>,
    pub caf: Option<CafCode>,
    pub first_at: i64,
    pub last_at: i64,
    /// Events of the burst seen so far.
    pub events: i64,
    pub evidence: serde_json::Value,
    pub acknowledged_by: Option<AccountId>,
    pub acknowledged_at: Option<i64>,
    pub acknowledgement: Option<String>,
}

/// Whether an event started a burst (officers are told) or continued one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Raised {
    New(Alert),
    Continued(Alert),
}

/// Which alerts or requests an officer sees: everything, or those of these partners and Cafs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecurityReach {
    pub everything: bool,
    pub partners: Vec<String>,
    /// Alerts of these Cafs' own staff (no partner).
    pub cafs: Vec<String>,
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
pub enum TraceRequestStatus {
    Pending,
    Answered,
    Refused,
}

/// What a partner's officer asks the Caf to search (the trace search's filter, by reference).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRequestFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    /// The record concerned, as relying applications name it in their traces (`dossier:…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// Days (Europe/Paris), included.
    pub from: String,
    pub to: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRequest {
    pub id: String,
    pub partner: PartnerId,
    pub caf: CafCode,
    pub requested_by: AccountId,
    pub requested_at: i64,
    /// Why the traces are needed (the officer's words).
    pub purpose: String,
    pub filter: TraceRequestFilter,
    pub status: TraceRequestStatus,
    pub answered_by: Option<AccountId>,
    pub answered_at: Option<i64>,
    pub answer: Option<String>,
    /// The export attached to the answer (CSV), until it is purged.
    pub export_csv: Option<String>,
    pub export_count: Option<i64>,
}

#[async_trait]
pub trait SecurityStore: Send + Sync {
    /// Raises an alert, or counts one more event of the open burst of the same rule and
    /// subject if its last event is less than `window` seconds old (else that burst is closed
    /// and a new one starts). Replicas racing on the same alert meet on its open key.
    async fn raise_alert(&self, alert: &NewAlert, window: i64) -> StoreResult<Raised>;
    /// Newest first.
    async fn alerts(&self, reach: &SecurityReach, limit: u32) -> StoreResult<Vec<Alert>>;
    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>>;
    /// Acknowledges an alert not yet acknowledged; false if it was.
    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &AccountId,
        at: i64,
        comment: &str,
    ) -> StoreResult<bool>;
    async fn insert_trace_request(&self, request: &TraceRequest) -> StoreResult<()>;
    /// Newest first.
    async fn trace_requests(&self, reach: &SecurityReach) -> StoreResult<Vec<TraceRequest>>;
    async fn get_trace_request(&self, id: &str) -> StoreResult<Option<TraceRequest>>;
    /// Records the answer of a pending request (its status, answer and export); false if it was
    /// no longer pending.
    async fn answer_trace_request(&self, request: &TraceRequest) -> StoreResult<bool>;
    /// Retention: deletes the exports attached to requests answered before `exports_before`
    /// (the request and its answer stay), then the alerts and trace requests whose last event
    /// is older than `records_before`; returns how many exports and records went.
    async fn purge_security_records(
        &self,
        exports_before: i64,
        records_before: i64,
    ) -> StoreResult<u64>;
}
