//! Every change to partners' people, groups, habilitations, quotas and modes. Each public
//! function checks `access::check` for its actor, makes the change, ends the sessions it must
//! end, and records who did what and why.

use super::access::{self, Action, Target};
use super::{Actor, HabResult, HabilitationError, PartnerContext, Record, notify, people_reached};
use crate::accounts::lifecycle;
use crate::state::AppState;
use crate::store::{
    Account, AccountProfile, AccountStatus, AdminRole, Change, ChangeRecord, Convention,
    Delegation, GrantRefusal, Group, Habilitation, HabilitationMode, HabilitationScopeKind,
    HabilitationStatus, Holder, Partner, QuotaTable, Service,
};
use crate::types::{
    AccountId, ClientId, ConventionId, Email, GroupId, HabilitationId, InseeCode, PartnerId,
    RoleCode,
};
use serde_json::json;

mod appointments;
mod conventions;
mod grants;
mod groups;
mod people;
mod request_words;
mod requests;

pub use appointments::*;
pub use conventions::*;
pub use grants::*;
pub use groups::*;
pub use people::*;
pub use request_words::{author_words, describe};
pub use requests::*;

pub use super::Author;

pub async fn record(
    state: &AppState,
    author: Author<'_>,
    partner: Option<&PartnerId>,
    action: &str,
    target: String,
    reason: Option<&str>,
    detail: serde_json::Value,
) -> HabResult<()> {
    let change = ChangeRecord {
        at: state.clock.now(),
        actor: author.reference(),
        partner: partner.cloned(),
        action: action.to_owned(),
        target,
        reason: reason.map(str::to_owned),
        detail,
    };
    tracing::info!(
        actor = %change.actor,
        partner = ?change.partner,
        action = %change.action,
        target = %change.target,
        "habilitation change"
    );
    state.stores.habilitations.record_change(&change).await?;
    let mut event = crate::traces::Event::new("admin.change", crate::store::Outcome::Success)
        .partner(change.partner.as_ref().map(|p| p.to_string()))
        .target(format!("{} {}", change.action, change.target));
    if let Author::Person(actor) = author {
        event = event.account(&actor.account);
    }
    state.tracer.record(event).await;
    Ok(())
}

/// The account as stored after a change to it (the one given if it vanished meanwhile).
async fn reread(state: &AppState, account: Account) -> HabResult<Account> {
    Ok(state
        .stores
        .accounts
        .get_account(&account.id)
        .await?
        .unwrap_or(account))
}

/// A reason is required for every change that takes something away.
fn required_reason(reason: Option<&str>) -> HabResult<&str> {
    match reason.map(str::trim) {
        Some(r) if !r.is_empty() && r.len() <= 500 => Ok(r),
        Some(r) if r.len() > 500 => Err(HabilitationError::Invalid(
            "Le motif ne doit pas dépasser 500 caractères.".into(),
        )),
        _ => Err(HabilitationError::Invalid(
            "Indiquez le motif de ce changement.".into(),
        )),
    }
}

fn optional_reason(reason: Option<&str>) -> HabResult<Option<&str>> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.len() > 500 => Err(HabilitationError::Invalid(
            "Le motif ne doit pas dépasser 500 caractères.".into(),
        )),
        other => Ok(other),
    }
}

/// The partners the actor may see, by name.
pub async fn visible_partners(state: &AppState, actor: &Actor) -> HabResult<Vec<Partner>> {
    let caf = if actor.holds(AdminRole::NationalOperator) {
        None
    } else if let Some(caf) = &actor.account.profile.caf {
        Some(caf.clone())
    } else {
        let Some(own) = &actor.account.profile.partner else {
            return Ok(Vec::new());
        };
        return Ok(state
            .stores
            .organisations
            .get_partner(own)
            .await?
            .filter(|p| access::can_see(actor, p))
            .into_iter()
            .collect());
    };
    Ok(state
        .stores
        .organisations
        .list_partners(caf.as_ref())
        .await?
        .into_iter()
        .filter(|p| access::can_see(actor, p))
        .collect())
}

/// A partner the actor may see, with its conventions.
pub async fn partner(state: &AppState, actor: &Actor, id: &PartnerId) -> HabResult<PartnerContext> {
    let context = PartnerContext::load(state, id).await?;
    access::check(actor, &context, Action::View)?;
    Ok(context)
}

/// Ends every session of a person and revokes their tokens; relying applications registered
/// for back-channel logout are told.
pub async fn end_sessions(state: &AppState, id: &AccountId) -> HabResult<()> {
    if let Some(account) = state.stores.accounts.get_account(id).await? {
        lifecycle::revoke_everything(state, &account).await?;
    }
    Ok(())
}
