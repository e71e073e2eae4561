//! Destruction of data whose retention period has ended (`passerelle retention run`).
//!
//! Closed habilitations are kept for the period their convention's kind imposes (the seeds:
//! two years for Coopération, six for Mon Compte Partenaire), then deleted. What was deleted
//! is recorded (how many, of which kind, closed before when) so that the destruction can be
//! attested.

use crate::config::RetentionConfig;
use crate::habilitations::manage::{Author, record};
use crate::state::AppState;
use crate::store::{ConventionKind, StoreError};
use serde::Serialize;

const YEAR_SECONDS: i64 = 365 * 86_400;

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
