//! Trace records: one connection or action, chained to its predecessor in its stream.
//!
//! A record's hash is `SHA-256(previous hash ‖ canonical JSON of the record)`; the first of a
//! stream follows 32 zero bytes. Whoever changes, removes or inserts a record breaks every
//! hash after it (`traces::verify` finds the first broken link); seals sign the head of a
//! stream from time to time, so that a rewritten tail cannot pass either.

use super::StoreResult;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Passerelle's own stream: the one whose traces the dashboard's counters count.
pub const OWN_STREAM: &str = "passerelle";

/// The hash before the first record of a stream.
pub const GENESIS: [u8; 32] = [0; 32];

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
pub enum Outcome {
    Success,
    Failure,
}

/// A trace before it is stored: what happened, who did it, from where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTrace {
    /// Unique within its stream: a UUID for Passerelle's own events, the relying
    /// application's event id for its events (resubmitting it changes nothing).
    pub id: String,
    /// `passerelle` for Passerelle's own events, the client id of a relying application for
    /// the events it submits.
    pub stream: String,
    /// UTC, microseconds since the epoch.
    pub at_us: i64,
    pub actor_account: Option<String>,
    pub actor_partner: Option<String>,
    pub actor_caf: Option<String>,
    /// The partner the event concerns (the actor's, or the one whose data an administrator
    /// touched): what decides which security officers see it.
    pub partner: Option<String>,
    /// SHA-256 (hex) of the session id: sessions can be followed without being replayable.
    pub session: Option<String>,
    pub client_id: Option<String>,
    pub action: String,
    /// The reference of the record touched (`account:…`, `habilitation:…`, `dossier:…`), never
    /// its content.
    pub target: Option<String>,
    pub outcome: Outcome,
    /// A reason code for failures (`wrong_password`, `throttled`…), never shown to the person.
    pub reason: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    /// When Passerelle received a relying application's event (UTC µs), beside the `at_us`
    /// the application gave it; `None` for Passerelle's own events. Left out of the hashed
    /// bytes when absent, so that records written before it existed still verify.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at_us: Option<i64>,
}

impl NewTrace {
    /// The bytes a record's hash covers: its fields in a fixed order.
    pub fn canonical(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a trace serialises")
    }

    pub fn chained_hash(&self, previous: &[u8; 32]) -> [u8; 32] {
        let mut input = previous.to_vec();
        input.extend(self.canonical());
        crate::crypto::sha256(&input)
    }
}

/// A stored trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceRecord {
    /// Order of storage in the whole trace store (the pagination key).
    pub seq: i64,
    pub trace: NewTrace,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// What happened to each trace of an appended batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    Stored,
    /// Its stream already had a trace with this id: nothing was written.
    Duplicate,
}

/// A search of the traces. Every filter is optional except the reach, which the caller sets
/// from who is asking.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceQuery {
    /// Partners the searcher may see (`None`: every trace).
    pub reach: Option<Vec<String>>,
    /// With a `reach`, also the traces of these Cafs' own staff (no partner; `actor_caf` one
    /// of these): what a Caf's security officer sees besides its partners.
    pub reach_cafs: Vec<String>,
    pub account: Option<String>,
    pub partner: Option<String>,
    pub client_id: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    /// A failure's reason code.
    pub reason: Option<String>,
    /// The record an event is about, exactly as traced (`dossier:…`).
    pub target: Option<String>,
    pub ip: Option<String>,
    pub from_us: Option<i64>,
    pub to_us: Option<i64>,
    /// Newest first; continue after this `(at_us, seq)` of the previous page's last record.
    pub before: Option<(i64, i64)>,
    pub limit: u32,
}

/// What the security dashboard counts: Passerelle's own traces in a period, within a reach
/// (as in [`TraceQuery`]), optionally of one action and outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CountQuery {
    pub reach: Option<Vec<String>>,
    pub reach_cafs: Vec<String>,
    pub from_us: i64,
    pub to_us: i64,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
}

/// How many of Passerelle's own traces of one action, outcome and reason were written in one
/// UTC hour (hours since the epoch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountRow {
    pub hour: i64,
    pub action: String,
    pub outcome: Outcome,
    pub reason: Option<String>,
    pub count: u64,
}

/// A signed statement of a stream's head at some point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seal {
    pub stream: String,
    pub seq: i64,
    pub hash: [u8; 32],
    pub sealed_at_us: i64,
    /// Compact JWS over `{stream, seq, hash, sealed_at}`.
    pub signature: String,
}

/// A signed statement of what retention destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attestation {
    pub id: String,
    pub stream: String,
    pub destroyed_at_us: i64,
    pub from_us: i64,
    pub to_us: i64,
    pub count: u64,
    pub first_hash: [u8; 32],
    pub last_hash: [u8; 32],
    pub signature: String,
}

/// What retention destroyed of one stream: the range for its signed attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestroyedRange {
    pub stream: String,
    pub from_us: i64,
    pub to_us: i64,
    pub count: u64,
    pub first_hash: [u8; 32],
    pub last_hash: [u8; 32],
}

#[async_trait]
pub trait TraceStore: Send + Sync {
    /// Appends a batch in one durable transaction: each trace chained after the head of its
    /// stream, duplicates (same stream and id) skipped. Returns when the batch is on disk.
    async fn append(&self, batch: &[NewTrace]) -> StoreResult<Vec<Appended>>;
    /// Newest first, at most `query.limit`.
    async fn search(&self, query: &TraceQuery) -> StoreResult<Vec<TraceRecord>>;
    /// The records of a stream in order, from `after_seq` (exclusive), at most `limit`.
    async fn stream_records(
        &self,
        stream: &str,
        after_seq: i64,
        limit: u32,
    ) -> StoreResult<Vec<TraceRecord>>;
    async fn streams(&self) -> StoreResult<Vec<String>>;
    /// The newest record's `seq` and hash, when the stream has records.
    async fn stream_head(&self, stream: &str) -> StoreResult<Option<(i64, [u8; 32])>>;
    /// The hash a stream's oldest kept record follows (the genesis, or the last destroyed
    /// record's hash).
    async fn stream_origin(&self, stream: &str) -> StoreResult<[u8; 32]>;
    async fn insert_seal(&self, seal: &Seal) -> StoreResult<()>;
    async fn seals(&self, stream: &str) -> StoreResult<Vec<Seal>>;
    /// Deletes at most `batch` of the stream's oldest traces older than `before_us`, advancing
    /// the stream's origin; returns the first and last deleted records (none when done).
    async fn destroy_oldest(
        &self,
        stream: &str,
        before_us: i64,
        batch: u32,
    ) -> StoreResult<Option<(TraceRecord, TraceRecord, u64)>>;
    /// A store partitioned by month (PostgreSQL) destroys whole months at once: everything
    /// stored in the months that ended before `before_us`, each stream's origin moved, and
    /// returns what went per stream. The others answer `None` and retention walks each stream
    /// with `destroy_oldest`.
    async fn drop_months_before(
        &self,
        _before_us: i64,
    ) -> StoreResult<Option<Vec<DestroyedRange>>> {
        Ok(None)
    }
    async fn insert_attestation(&self, attestation: &Attestation) -> StoreResult<()>;
    /// The counters of Passerelle's own traces (kept up to date by `append`), per hour, action,
    /// outcome and reason, summed over the partners in reach; hours overlapping the period.
    async fn counts(&self, query: &CountQuery) -> StoreResult<Vec<CountRow>>;
    /// The last successful login of each of these accounts that logged in while traces were
    /// kept (µs).
    async fn last_logins(
        &self,
        accounts: &[String],
    ) -> StoreResult<std::collections::HashMap<String, i64>>;
    /// Forgets the counters and last logins older than `before_us` (retention).
    async fn forget_counts_before(&self, before_us: i64) -> StoreResult<()>;
    async fn attestations(&self) -> StoreResult<Vec<Attestation>>;
}
