//! Applying a validated provisioning file: every change through `habilitations::manage` as `Author::System("provisioning")`, recorded only when something changed.

use super::*;

/// Validates the whole file, then upserts every entry. `allow_passwords` is true only for the
/// demo, whose fictional accounts need a known password.
pub async fn apply(
    state: &AppState,
    file: &ProvisionFile,
    allow_passwords: bool,
) -> Result<Report, ProvisionError> {
    let (stores, hasher) = (&state.stores, &state.hasher);
    let v = validate(file, state, allow_passwords).await?;
    let mut report = Report::default();
    for caf in &v.cafs {
        report.count(stores.organisations.upsert_caf(caf).await?);
    }
    for partner in &v.partners {
        report.count(stores.organisations.upsert_partner(partner).await?);
    }
    for service in &v.services {
        report.count(stores.services.upsert_service(service).await?);
    }
    state.clients.forget_all();
    let author = Author::System("provisioning");
    for (convention, quotas) in &v.conventions {
        let context = context_of(state, &convention.partner).await?;
        let (saved, change) =
            manage::save_convention_as(state, author, &context, convention.clone())
                .await
                .map_err(provision_error)?;
        report.count(change);
        // Quotas count against the conventions in force, this one included.
        let context = context_of(state, &convention.partner).await?;
        for (client_id, role, maximum) in quotas {
            manage::set_quota_as(
                state,
                author,
                &context,
                &saved,
                client_id,
                role,
                Some(*maximum),
                None,
            )
            .await
            .map_err(provision_error)?;
        }
    }
    let mut grants = Vec::new();
    for ValidatedAccount {
        profile,
        password,
        habilitations,
        delegations,
    } in v.accounts
    {
        let (id, change) = manage::provision_account_as(state, author, &profile)
            .await
            .map_err(provision_error)?;
        report.count(change);
        if let Some(partner) = &profile.partner {
            for spec in habilitations {
                grants.push((partner.clone(), Holder::Account(id.clone()), spec));
            }
            if !delegations.is_empty() {
                let context = context_of(state, partner).await?;
                let account = account_of(state, &profile.email).await?;
                manage::delegate_as(state, author, &context, &account, delegations, None)
                    .await
                    .map_err(provision_error)?;
            }
        }
        if let Some(password) = password {
            let current = account_of(state, &profile.email).await?.password_hash;
            // Re-applying the demo keeps the hash it already has when the password still matches.
            if !hasher.verify(password.clone(), current).await {
                let hash = hasher.hash(password).await?;
                stores.accounts.set_password_hash(&id, &hash).await?;
                report.passwords_set += 1;
            }
        }
    }
    for g in v.groups {
        let context = context_of(state, &g.partner).await?;
        let existing = stores
            .habilitations
            .groups_of_partner(&g.partner)
            .await?
            .into_iter()
            .find(|existing| existing.name == g.name && existing.closed_at.is_none());
        let group = match existing {
            Some(group) => group,
            None => {
                report.created += 1;
                manage::create_group_as(state, author, &context, &g.name)
                    .await
                    .map_err(provision_error)?
            }
        };
        let members = stores.habilitations.group_members(&group.id).await?;
        for email in &g.members {
            let account = account_of(state, email).await?;
            if members.contains(&account.id) {
                continue;
            }
            manage::add_member_as(state, author, &context, &group, &account.id)
                .await
                .map_err(|e| {
                    ProvisionError::Invalid(format!(
                        "group `{}`: adding {email} refused: {e}",
                        g.name
                    ))
                })?;
        }
        for spec in g.habilitations {
            grants.push((g.partner.clone(), Holder::Group(group.id.clone()), spec));
        }
    }
    for (partner, holder, spec) in grants {
        let context = context_of(state, &partner).await?;
        let request = GrantRequest {
            holder,
            client_id: spec.client_id.clone(),
            role: spec.role.clone(),
            scope: spec.scope,
            valid_from: None,
            valid_until: spec.valid_until,
        };
        match manage::grant_as(state, author, &context, request, None).await {
            Ok(_) => report.created += 1,
            // Re-applying a file finds its habilitations already open.
            Err(HabilitationError::Conflict(_)) => report.unchanged += 1,
            Err(e) => {
                return Err(ProvisionError::Invalid(format!(
                    "habilitation {}/{} for partner `{partner}`: {e}",
                    spec.client_id, spec.role
                )));
            }
        }
    }
    for r in &file.review {
        apply_review(state, r).await?;
    }
    Ok(report)
}

pub(super) async fn context_of(
    state: &AppState,
    partner: &PartnerId,
) -> Result<PartnerContext, ProvisionError> {
    PartnerContext::load(state, partner)
        .await
        .map_err(provision_error)
}

/// An account the file validated (and apply just upserted).
pub(super) async fn account_of(state: &AppState, email: &Email) -> Result<Account, ProvisionError> {
    state
        .stores
        .accounts
        .find_account_by_email(email)
        .await?
        .ok_or_else(|| ProvisionError::Invalid(format!("{email} vanished")))
}

pub(super) fn provision_error(e: HabilitationError) -> ProvisionError {
    match e {
        HabilitationError::Store(e) => ProvisionError::Store(e),
        other => ProvisionError::Invalid(other.to_string()),
    }
}

pub(super) async fn apply_review(
    state: &AppState,
    entry: &ReviewEntry,
) -> Result<(), ProvisionError> {
    use crate::habilitations::{Actor, review};
    use crate::store::ReviewDecision;
    let ctx = |m: String| ProvisionError::Invalid(format!("review of `{}`: {m}", entry.partner));
    let partner = PartnerId::parse(&entry.partner).map_err(|e| ctx(e.0))?;
    if !state
        .stores
        .habilitations
        .reviews_of_partner(&partner)
        .await?
        .is_empty()
    {
        return Ok(());
    }
    let email = Email::parse(&entry.by).map_err(|e| ctx(e.0))?;
    let account = state
        .stores
        .accounts
        .find_account_by_email(&email)
        .await?
        .ok_or_else(|| ctx(format!("no account for {email}")))?;
    let actor = Actor::of(state, account)
        .await
        .map_err(|e| ctx(e.to_string()))?;
    let started = review::start(state, &actor, &partner)
        .await
        .map_err(|e| ctx(e.to_string()))?;
    for (h, _) in review::items(state, &started)
        .await
        .map_err(|e| ctx(e.to_string()))?
    {
        review::decide(state, &actor, &started.id, &h.id, ReviewDecision::Confirm)
            .await
            .map_err(|e| ctx(e.to_string()))?;
    }
    if entry.complete {
        review::complete_provisioned(state, &actor, &started.id)
            .await
            .map_err(|e| ctx(e.to_string()))?;
    }
    Ok(())
}
