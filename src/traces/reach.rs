//! Who reads which traces: a Caf's security officer its partners' and its own staff's, a
//! partner's its own, a national operator everything (the searches, the dashboard, the alerts
//! and the trace requests all start here).

use crate::habilitations::{Actor, HabResult, HabilitationError};
use crate::state::AppState;
use crate::store::AdminRole;
use crate::store::security::SecurityReach;

/// The partners whose traces the actor may read (`None`: all).
pub async fn reach(state: &AppState, actor: &Actor) -> HabResult<Option<Vec<String>>> {
    if actor.holds(AdminRole::NationalOperator) {
        return Ok(None);
    }
    if !actor.holds(AdminRole::SecurityOfficer) {
        return Err(HabilitationError::Forbidden(
            "Seuls les responsables sécurité consultent les traces.".into(),
        ));
    }
    let profile = &actor.account.profile;
    if let Some(partner) = &profile.partner {
        return Ok(Some(vec![partner.to_string()]));
    }
    let Some(caf) = &profile.caf else {
        return Ok(Some(Vec::new()));
    };
    Ok(Some(
        state
            .stores
            .organisations
            .list_partners(Some(caf))
            .await?
            .into_iter()
            .map(|p| p.id.to_string())
            .collect(),
    ))
}

/// The Cafs whose own staff's traces the actor reads besides its partners': a Caf's security
/// officer reads its Caf's.
pub fn staff_reach(actor: &Actor) -> Vec<String> {
    let profile = &actor.account.profile;
    match (&profile.partner, &profile.caf) {
        (None, Some(caf)) if actor.holds(AdminRole::SecurityOfficer) => vec![caf.to_string()],
        _ => Vec::new(),
    }
}

/// Which alerts (and trace requests) an officer sees.
pub async fn security_reach(state: &AppState, actor: &Actor) -> HabResult<SecurityReach> {
    Ok(match reach(state, actor).await? {
        None => SecurityReach {
            everything: true,
            ..Default::default()
        },
        Some(partners) => SecurityReach {
            everything: false,
            partners,
            cafs: staff_reach(actor),
        },
    })
}
