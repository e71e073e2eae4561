//! The two appointments only the Caf makes (principal administrator, substitute) and the
//! delegated managers the principal administrator names.

use super::*;

/// The two appointments only the Caf makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumString)]
#[strum(serialize_all = "snake_case")]
pub enum Appointment {
    Principal,
    Substitute,
}

impl Appointment {
    pub fn role(self) -> AdminRole {
        match self {
            Appointment::Principal => AdminRole::PartnerAdministrator,
            Appointment::Substitute => AdminRole::PartnerSubstitute,
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        value.parse().ok()
    }

    pub fn label(self) -> &'static str {
        match self {
            Appointment::Principal => "administrateur principal",
            Appointment::Substitute => "administrateur suppléant",
        }
    }
}

/// Appoints (or removes) the partner's principal administrator or substitute: one of each
/// per partner, appointed by the Caf.
pub async fn appoint(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    appointment: Appointment,
    appointed: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::AppointAdministrators)?;
    let reason = optional_reason(reason)?;
    appoint_as(
        state,
        Author::Person(actor),
        &context,
        account,
        appointment,
        appointed,
        reason,
    )
    .await
}

pub(in crate::habilitations) async fn appoint_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    account: Account,
    appointment: Appointment,
    appointed: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let role = appointment.role();
    if appointed {
        if account.closed_at.is_some() {
            return Err(HabilitationError::Invalid("Ce compte est fermé.".into()));
        }
        let holders = state
            .stores
            .accounts
            .accounts_of_partner(&context.partner.id)
            .await?;
        if let Some(current) = holders.iter().find(|a| {
            a.id != account.id && a.closed_at.is_none() && a.profile.admin_roles.contains(&role)
        }) {
            return Err(HabilitationError::Conflict(format!(
                "{} {} est déjà {} de ce partenaire : retirez-lui d'abord ce rôle.",
                current.profile.given_name,
                current.profile.family_name,
                appointment.label()
            )));
        }
    }
    let mut roles = account.profile.admin_roles.clone();
    roles.retain(|r| *r != role);
    if appointed {
        roles.push(role);
        // An administrator is no longer a delegated manager: the wider role includes it.
        roles.retain(|r| *r != AdminRole::DelegatedManager);
    }
    roles.sort();
    let profile = AccountProfile {
        admin_roles: roles,
        ..account.profile.clone()
    };
    state.stores.accounts.upsert_account(&profile).await?;
    record(
        state,
        author,
        Some(&context.partner.id),
        if appointed {
            "administrators.appoint"
        } else {
            "administrators.remove"
        },
        format!("account:{}", account.id),
        reason,
        json!({ "role": role }),
    )
    .await?;
    // A change of rights takes effect at the next login.
    lifecycle::revoke_everything(state, &account).await?;
    reread(state, account).await
}

/// Names a delegated manager with what they may manage, or (with no delegation) removes the
/// role.
pub async fn name_delegated_manager(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    delegations: Vec<Delegation>,
    reason: Option<&str>,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::NameDelegatedManagers)?;
    let reason = optional_reason(reason)?;
    delegate_as(
        state,
        Author::Person(actor),
        &context,
        &account,
        delegations,
        reason,
    )
    .await?;
    reread(state, account).await
}

/// The delegation itself, once the author is known to be allowed: the role follows whether
/// anything is delegated, and the person's sessions end. Nothing is recorded (and no session
/// ends) when the delegation is already exactly this one; returns whether it changed.
pub async fn delegate_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    account: &Account,
    mut delegations: Vec<Delegation>,
    reason: Option<&str>,
) -> HabResult<bool> {
    if Target::of(account) == Target::Administrator {
        return Err(HabilitationError::Invalid(
            "Un administrateur du partenaire gère déjà tout : il n'a pas besoin de délégation."
                .into(),
        ));
    }
    if account.closed_at.is_some() {
        return Err(HabilitationError::Invalid("Ce compte est fermé.".into()));
    }
    for d in &delegations {
        let service = service(state, &d.client_id).await?;
        if context.convention_for(&d.client_id).is_none() {
            return Err(HabilitationError::Invalid(format!(
                "Aucune convention en vigueur n'ouvre le service « {} » à ce partenaire.",
                service.name
            )));
        }
        if let Some(role) = &d.role
            && !service.roles.iter().any(|r| r.code == role.as_str())
        {
            return Err(HabilitationError::Invalid(format!(
                "Le service « {} » n'a pas de rôle « {role} ».",
                service.name
            )));
        }
    }
    delegations.sort();
    delegations.dedup();
    let mut roles = account.profile.admin_roles.clone();
    roles.retain(|r| *r != AdminRole::DelegatedManager);
    if !delegations.is_empty() {
        roles.push(AdminRole::DelegatedManager);
    }
    roles.sort();
    let mut current = state
        .stores
        .habilitations
        .delegations_of(&account.id)
        .await?;
    current.sort();
    if roles == account.profile.admin_roles && current == delegations {
        return Ok(false);
    }
    let profile = AccountProfile {
        admin_roles: roles,
        ..account.profile.clone()
    };
    state.stores.accounts.upsert_account(&profile).await?;
    state
        .stores
        .habilitations
        .set_delegations(
            &account.id,
            &delegations,
            &author.reference(),
            state.clock.now(),
        )
        .await?;
    record(
        state,
        author,
        Some(&context.partner.id),
        "delegated_manager.name",
        format!("account:{}", account.id),
        reason,
        json!({ "delegations": delegations }),
    )
    .await?;
    lifecycle::revoke_everything(state, account).await?;
    if delegations.is_empty() && !current.is_empty() {
        notify::tell(
            state,
            author,
            account,
            notify::Notice::DelegationEnded,
            reason,
        )
        .await?;
    }
    Ok(true)
}
