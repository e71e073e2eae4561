//! Destruction of data whose retention period has ended (`passerelle retention run`, and
//! daily inside `serve`).
//!
//! - Traces older than `traces.retention_months` (6 by default) are destroyed oldest first,
//!   in short transactions, and each stream that lost records gets a signed attestation
//!   (range, count, first and last hash).
//! - Personal data of partner staff (credentials, factors, links, tokens, sessions, names) is
//!   erased 6 months after their last habilitation ended, and the run signs an attestation
//!   listing the erased accounts by their opaque id. Who held each closed habilitation stays
//!   with the habilitation (recorded when it closed) so that annexe 1's list 2 still names them.
//! - Closed habilitations are kept for the period their convention's kind imposes (the seeds:
//!   two years for Coopération, six for Mon Compte Partenaire), then deleted.
//!
//! What was destroyed is recorded (counts and references only).

use crate::config::RetentionConfig;
use crate::habilitations::manage::{Author, record};
use crate::state::AppState;
use crate::store::{ConventionKind, StoreError};
use serde::Serialize;

const YEAR_SECONDS: i64 = 365 * 86_400;

/// Personal account data is kept this long after the last habilitation ended.
pub const ACCOUNT_MONTHS: u32 = 6;

/// Everything one run destroyed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub habilitations: Vec<Deleted>,
    pub erased_accounts: usize,
    /// The signed statement of the accounts erased, when there were any.
    pub erasure: Option<crate::store::ErasureAttestation>,
    /// Change records (with the administrators' reasons) past the traces' retention.
    pub changes: u64,
    pub attestations: Vec<crate::store::Attestation>,
}

/// `now` minus `months` calendar months, in microseconds.
pub fn months_before_us(now_us: i64, months: u32) -> i64 {
    chrono::DateTime::from_timestamp_micros(now_us)
        .and_then(|d| d.checked_sub_months(chrono::Months::new(months)))
        .map(|d| d.timestamp_micros())
        .unwrap_or(i64::MIN)
}

/// Runs every destruction: traces, personal data, habilitations.
pub async fn run_all(
    state: &AppState,
    config: &RetentionConfig,
    trace_months: u32,
    now: i64,
) -> Result<Report, StoreError> {
    let now_us = now * 1_000_000;
    let attestations =
        crate::traces::seal::destroy_before(state, months_before_us(now_us, trace_months)).await?;
    let ended_before = months_before_us(now_us, ACCOUNT_MONTHS) / 1_000_000;
    let erased = state
        .stores
        .accounts
        .erase_ended_accounts(ended_before, now)
        .await?;
    for id in &erased {
        // Closed accounts have no session left; an account closed by its habilitations
        // alone may.
        if let Some(account) = state.stores.accounts.get_account(id).await? {
            crate::accounts::lifecycle::revoke_everything(state, &account).await?;
        }
        state
            .tracer
            .record(
                crate::traces::Event::new("admin.change", crate::store::Outcome::Success)
                    .target(format!("retention.erase_personal_data account:{id}")),
            )
            .await;
    }
    let erasure = if erased.is_empty() {
        None
    } else {
        Some(attest_erasure(state, erased, ended_before, now).await?)
    };
    // Alerts and trace requests name people: kept as long as the traces; an export attached
    // to a request, 30 days after it was sent.
    state
        .stores
        .security
        .purge_security_records(
            now - crate::traces::requests::EXPORT_DAYS * 86_400,
            months_before_us(now_us, trace_months) / 1_000_000,
        )
        .await?;
    // The change records hold what the traces hold, plus the administrators' free-text
    // reasons: they are kept no longer than the traces.
    let changes = state
        .stores
        .habilitations
        .delete_changes_before(months_before_us(now_us, trace_months) / 1_000_000)
        .await?;
    // The requests of centralized partners name people and carry reasons too: decided ones
    // go with the change records.
    let changes = changes
        + state
            .stores
            .habilitations
            .delete_decided_requests_before(months_before_us(now_us, trace_months) / 1_000_000)
            .await?;
    let habilitations = run(state, config, now).await?;
    Ok(Report {
        habilitations,
        changes,
        erased_accounts: erasure.as_ref().map_or(0, |e| e.accounts.len()),
        erasure,
        attestations,
    })
}

/// Signs and keeps the statement of one run's erasure, and traces it durably.
async fn attest_erasure(
    state: &AppState,
    accounts: Vec<crate::types::AccountId>,
    ended_before: i64,
    now: i64,
) -> Result<crate::store::ErasureAttestation, StoreError> {
    let id = uuid::Uuid::new_v4().to_string();
    let payload = serde_json::json!({
        "iss": state.settings.issuer,
        "type": "attestation-d-effacement-des-donnees-personnelles",
        "id": id,
        "erased_at": now,
        "ended_before": ended_before,
        "count": accounts.len(),
        "accounts": accounts.iter().map(|a| a.as_str()).collect::<Vec<_>>(),
    });
    let attestation = crate::store::ErasureAttestation {
        signature: crate::traces::seal::sign(state, "erasure+jwt", &payload)?,
        id,
        erased_at: now,
        ended_before,
        accounts,
    };
    state
        .stores
        .accounts
        .insert_erasure_attestation(&attestation)
        .await?;
    state
        .tracer
        .record_durable(
            crate::traces::Event::new("admin.change", crate::store::Outcome::Success)
                .target(format!("retention.erasure attestation:{}", attestation.id)),
        )
        .await?;
    Ok(attestation)
}

#[derive(Debug, Clone, Serialize)]
pub struct Deleted {
    pub kind: ConventionKind,
    /// Habilitations closed before this time were deleted.
    pub closed_before: i64,
    pub habilitations: u64,
}

/// Deletes every closed habilitation past its retention period; returns what was deleted.
pub async fn run(
    state: &AppState,
    config: &RetentionConfig,
    now: i64,
) -> Result<Vec<Deleted>, StoreError> {
    let mut report = Vec::new();
    for kind in ConventionKind::ALL {
        let closed_before = now - i64::from(config.habilitation_years(kind)) * YEAR_SECONDS;
        let habilitations = state
            .stores
            .habilitations
            .delete_closed_habilitations(kind, closed_before)
            .await?;
        if habilitations > 0 {
            record(
                state,
                Author::System("retention"),
                None,
                "retention.habilitations",
                format!("convention_kind:{}", kind.as_str()),
                None,
                serde_json::json!({ "deleted": habilitations, "closed_before": closed_before }),
            )
            .await
            .map_err(|e| match e {
                crate::habilitations::HabilitationError::Store(e) => e,
                other => StoreError::Backend(anyhow::anyhow!("{other}")),
            })?;
        }
        tracing::info!(
            kind = kind.as_str(),
            deleted = habilitations,
            "retention: closed habilitations"
        );
        report.push(Deleted {
            kind,
            closed_before,
            habilitations,
        });
    }
    Ok(report)
}
