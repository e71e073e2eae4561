//! Traces: every connection and action, from authentication to logout, kept six months and
//! readable by security officers.
//!
//! `Tracer` is the one way in: Passerelle's own events (`record`, queued) and relying
//! applications' events (`append_durable`, acknowledged only once on disk) go through one
//! writer task that gathers whatever is waiting into one transaction (group commit), so that
//! many small writers cost one fsync.
//!
//! Architecture Invariant: a trace holds the actor's identity and the reference of what was
//! touched, never a password, a token, a session id in clear or the content of a record.

pub mod actions;
pub mod alerts;
pub mod dashboard;
pub mod names;
pub mod query;
pub mod reach;
pub mod requests;
pub mod seal;
pub mod siem;
pub mod verify;

use crate::store::{Appended, NewTrace, Outcome, StoreError, StoreResult, TraceStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::{broadcast, mpsc, oneshot};

/// Passerelle's own stream.
pub const OWN_STREAM: &str = crate::store::OWN_STREAM;
/// Most traces written in one transaction.
const MAX_GROUP: usize = 10_000;
/// How many times the writer lets ready tasks run before it closes a group.
const GATHER_YIELDS: usize = 2;

/// Where a request came from (filled in by the HTTP layer).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceActor {
    pub account: Option<String>,
    pub partner: Option<String>,
    pub caf: Option<String>,
}

impl TraceActor {
    pub fn of(account: &crate::store::Account) -> Self {
        Self {
            account: Some(account.id.to_string()),
            partner: account.profile.partner.as_ref().map(|p| p.to_string()),
            caf: account.profile.caf.as_ref().map(|c| c.to_string()),
        }
    }
}

/// One of Passerelle's own events, before it gets its time and id.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: &'static str,
    pub outcome: Outcome,
    pub actor: TraceActor,
    /// The partner the event concerns, when it is not the actor's.
    pub partner: Option<String>,
    pub session: Option<String>,
    pub client_id: Option<String>,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub origin: Origin,
}

impl Event {
    pub fn new(action: &'static str, outcome: Outcome) -> Self {
        debug_assert!(
            actions::ACTIONS.iter().any(|a| a.name == action),
            "undocumented action {action}"
        );
        Self {
            action,
            outcome,
            actor: TraceActor::default(),
            partner: None,
            session: None,
            client_id: None,
            target: None,
            reason: None,
            origin: Origin::default(),
        }
    }

    pub fn actor(mut self, actor: TraceActor) -> Self {
        self.actor = actor;
        self
    }

    pub fn account(self, account: &crate::store::Account) -> Self {
        self.actor(TraceActor::of(account))
    }

    /// The session, stored as the SHA-256 of its id.
    pub fn session(mut self, sid: &crate::types::SessionId) -> Self {
        self.session = Some(session_digest(sid.as_str()));
        self
    }

    pub fn client(mut self, client_id: &crate::types::ClientId) -> Self {
        self.client_id = Some(client_id.to_string());
        self
    }

    pub fn target(mut self, target: impl Into<String>) -> Self {
        self.target = Some(target.into());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    pub fn partner(mut self, partner: Option<String>) -> Self {
        self.partner = partner;
        self
    }

    pub fn origin(mut self, origin: &Origin) -> Self {
        self.origin = origin.clone();
        self
    }

    fn into_trace(self) -> NewTrace {
        NewTrace {
            id: uuid::Uuid::new_v4().to_string(),
            stream: OWN_STREAM.to_owned(),
            at_us: now_us(),
            partner: self.partner.or_else(|| self.actor.partner.clone()),
            actor_account: self.actor.account,
            actor_partner: self.actor.partner,
            actor_caf: self.actor.caf,
            session: self.session,
            client_id: self.client_id,
            action: self.action.to_owned(),
            target: self.target,
            outcome: self.outcome,
            reason: self.reason,
            ip: self.origin.ip,
            user_agent: self
                .origin
                .user_agent
                .map(|u| u.chars().take(256).collect()),
            request_id: self.origin.request_id,
            received_at_us: None,
        }
    }
}

/// The digest under which a session appears in traces.
pub fn session_digest(sid: &str) -> String {
    crate::crypto::sha256(sid.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Microseconds since the epoch, UTC.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The oldest traces of a stream before a time, at most `batch`: deleted between two group
/// commits by the same writer, so that submissions wait one short transaction at most.
type Destroyed = Option<(crate::store::TraceRecord, crate::store::TraceRecord, u64)>;

struct Job {
    traces: Vec<NewTrace>,
    ack: Option<oneshot::Sender<StoreResult<Vec<Appended>>>>,
    destroy: Option<(String, i64, u32, oneshot::Sender<StoreResult<Destroyed>>)>,
}

/// The handle every part of Passerelle records through.
#[derive(Clone)]
pub struct Tracer {
    jobs: mpsc::Sender<Job>,
    store: Arc<dyn TraceStore>,
    lost: Arc<AtomicU64>,
    written: broadcast::Sender<Arc<Vec<NewTrace>>>,
}

impl Tracer {
    /// Starts the writer task over `store`.
    pub fn start(store: Arc<dyn TraceStore>) -> Self {
        let (jobs, rx) = mpsc::channel(4096);
        let lost = Arc::new(AtomicU64::new(0));
        let (written, _) = broadcast::channel(1024);
        tokio::spawn(writer(store.clone(), rx, lost.clone(), written.clone()));
        Self {
            jobs,
            store,
            lost,
            written,
        }
    }

    /// The traces this process writes, each batch once it is on disk (for the alert rules). A
    /// receiver that falls more than 1,024 batches behind misses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Vec<NewTrace>>> {
        self.written.subscribe()
    }

    pub fn store(&self) -> &Arc<dyn TraceStore> {
        &self.store
    }

    /// Queues one of Passerelle's own events; waits only when the writer is far behind.
    pub async fn record(&self, event: Event) {
        let job = Job {
            traces: vec![event.into_trace()],
            ack: None,
            destroy: None,
        };
        if self.jobs.send(job).await.is_err() {
            self.lost.fetch_add(1, Ordering::Relaxed);
            tracing::error!("trace writer stopped: an event was not recorded");
        }
    }

    /// Records one of Passerelle's own events and waits until it is on disk.
    pub async fn record_durable(&self, event: Event) -> StoreResult<()> {
        self.append_durable(vec![event.into_trace()])
            .await
            .map(|_| ())
    }

    /// Appends traces and answers once they are on disk (or failed to be).
    pub async fn append_durable(&self, traces: Vec<NewTrace>) -> StoreResult<Vec<Appended>> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                traces,
                ack: Some(tx),
                destroy: None,
            })
            .await
            .map_err(|_| StoreError::Backend(anyhow::anyhow!("the trace writer stopped")))?;
        rx.await
            .map_err(|_| StoreError::Backend(anyhow::anyhow!("the trace writer stopped")))?
    }

    /// Destroys the oldest traces of `stream` older than `before_us`, at most `batch`, through
    /// the writer (see `Destroyed`).
    pub async fn destroy_oldest(
        &self,
        stream: &str,
        before_us: i64,
        batch: u32,
    ) -> StoreResult<Destroyed> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Job {
                traces: Vec::new(),
                ack: None,
                destroy: Some((stream.to_owned(), before_us, batch, tx)),
            })
            .await
            .map_err(|_| StoreError::Backend(anyhow::anyhow!("the trace writer stopped")))?;
        rx.await
            .map_err(|_| StoreError::Backend(anyhow::anyhow!("the trace writer stopped")))?
    }

    /// Waits until everything queued so far is on disk.
    pub async fn flush(&self) -> StoreResult<()> {
        self.append_durable(Vec::new()).await.map(|_| ())
    }

    /// Own events that could not be queued since start-up.
    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }
}

/// Gathers whatever jobs are waiting into one transaction, then answers each.
async fn writer(
    store: Arc<dyn TraceStore>,
    mut rx: mpsc::Receiver<Job>,
    lost: Arc<AtomicU64>,
    written: broadcast::Sender<Arc<Vec<NewTrace>>>,
) {
    while let Some(mut first) = rx.recv().await {
        if let Some((stream, before, batch, ack)) = first.destroy.take() {
            let _ = ack.send(store.destroy_oldest(&stream, before, batch).await);
            continue;
        }
        // Requests that are ready to run queue their traces before this batch starts: a
        // handful of yields to the scheduler (no timer) make a group of a burst, not a batch of
        // its first trace and another of the rest.
        let mut jobs = vec![first];
        let mut size = jobs[0].traces.len();
        let mut deferred = None;
        for _ in 0..GATHER_YIELDS {
            tokio::task::yield_now().await;
        }
        while size < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) if job.destroy.is_some() => {
                    deferred = Some(job);
                    break;
                }
                Ok(job) => {
                    size += job.traces.len();
                    jobs.push(job);
                }
                Err(_) => break,
            }
        }
        let batch: Vec<NewTrace> = jobs.iter().flat_map(|j| j.traces.iter().cloned()).collect();
        let result = if batch.is_empty() {
            Ok(Vec::new())
        } else {
            store.append(&batch).await
        };
        match result {
            Ok(outcomes) => {
                if written.receiver_count() > 0 {
                    let stored: Vec<NewTrace> = batch
                        .iter()
                        .zip(&outcomes)
                        .filter(|(_, o)| **o == Appended::Stored)
                        .map(|(t, _)| t.clone())
                        .collect();
                    let _ = written.send(Arc::new(stored));
                }
                let mut outcomes = outcomes.into_iter();
                for job in jobs {
                    let mine: Vec<Appended> = outcomes.by_ref().take(job.traces.len()).collect();
                    if let Some(ack) = job.ack {
                        let _ = ack.send(Ok(mine));
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, traces = batch.len(), "traces could not be written");
                for job in jobs {
                    match job.ack {
                        Some(ack) => {
                            let _ = ack.send(Err(StoreError::Backend(anyhow::anyhow!(
                                "the trace store refused the batch"
                            ))));
                        }
                        None => {
                            lost.fetch_add(job.traces.len() as u64, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        if let Some(Job {
            destroy: Some((stream, before, batch, ack)),
            ..
        }) = deferred
        {
            let _ = ack.send(store.destroy_oldest(&stream, before, batch).await);
        }
    }
}
