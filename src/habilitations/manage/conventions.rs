//! Partners, conventions, quotas and the habilitation mode.

use super::*;

/// A convention the actor may see.
pub async fn convention(
    state: &AppState,
    actor: &Actor,
    id: &ConventionId,
) -> HabResult<(Convention, PartnerContext)> {
    let convention = state.stores.habilitations.get_convention(id).await?;
    crate::habilitations::in_reach(state, actor, Record::Convention, convention, |c| {
        Some(c.partner.clone())
    })
    .await
}

/// Sets or removes (`None`) the quota of a service role under a convention.
pub async fn set_quota(
    state: &AppState,
    actor: &Actor,
    convention_id: &ConventionId,
    client_id: &ClientId,
    role: &RoleCode,
    maximum: Option<u32>,
    reason: Option<&str>,
) -> HabResult<()> {
    let (convention, context) = convention(state, actor, convention_id).await?;
    access::check(actor, &context, Action::SetQuota)?;
    let reason = optional_reason(reason)?;
    if let Some(maximum) = maximum {
        let held = state
            .stores
            .habilitations
            .count_holders(&context.partner.id, client_id, role)
            .await?;
        if u64::from(maximum) < held as u64 {
            let service = service(state, client_id).await?;
            return Err(HabilitationError::Conflict(format!(
                "{held} personne{s} {have} déjà le rôle « {} » : le maximum ne peut pas être inférieur. Retirez d'abord les habilitations en trop.",
                role_label(&service, role),
                s = if held > 1 { "s" } else { "" },
                have = if held > 1 { "ont" } else { "a" },
            )));
        }
    }
    set_quota_as(
        state,
        Author::Person(actor),
        &context,
        &convention,
        client_id,
        role,
        maximum,
        reason,
    )
    .await?;
    Ok(())
}

/// The quota change itself, once the author is known to be allowed; records it only when the
/// quota actually changes (returns whether it did).
#[allow(clippy::too_many_arguments)]
pub async fn set_quota_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    convention: &Convention,
    client_id: &ClientId,
    role: &RoleCode,
    maximum: Option<u32>,
    reason: Option<&str>,
) -> HabResult<bool> {
    if !convention.services.contains(client_id) {
        return Err(HabilitationError::Invalid(format!(
            "La convention {} n'ouvre pas le service « {client_id} ».",
            convention.number
        )));
    }
    let service = service(state, client_id).await?;
    check_role(&service, role)?;
    if maximum.is_some() && !convention.opens_role(client_id, role) {
        return Err(not_subscribed(convention, &service, role));
    }
    let current = state
        .stores
        .habilitations
        .quotas_of_convention(&convention.id)
        .await?
        .into_iter()
        .find(|q| &q.client_id == client_id && &q.role == role)
        .map(|q| q.maximum);
    if current == maximum {
        return Ok(false);
    }
    state
        .stores
        .habilitations
        .set_quota(&convention.id, client_id, role, maximum)
        .await?;
    record(
        state,
        author,
        Some(&context.partner.id),
        "quota.set",
        format!("convention:{}", convention.id),
        reason,
        json!({ "service": client_id, "role": role, "maximum": maximum }),
    )
    .await?;
    Ok(true)
}

/// Whether the actor is a national operator or the habilitation officer of `caf`.
pub(super) fn caf_officer_of(actor: &Actor, caf: &crate::types::CafCode) -> bool {
    actor.holds(AdminRole::NationalOperator)
        || actor.holds(AdminRole::CafHabilitationOfficer)
            && actor.account.profile.caf.as_ref() == Some(caf)
}

/// Caf side: registers a new partner of the actor's Caf.
pub async fn create_partner(
    state: &AppState,
    actor: &Actor,
    partner: Partner,
) -> HabResult<Partner> {
    if !caf_officer_of(actor, &partner.caf) {
        return Err(HabilitationError::Forbidden(
            "Seul le responsable des habilitations de la Caf enregistre ses partenaires.".into(),
        ));
    }
    if partner.name.trim().is_empty() || partner.name.chars().count() > 200 {
        return Err(HabilitationError::Invalid(
            "Le nom du partenaire compte de 1 à 200 caractères.".into(),
        ));
    }
    if partner
        .commune
        .as_ref()
        .is_some_and(|c| c.chars().count() > 100)
    {
        return Err(HabilitationError::Invalid(
            "Le nom de la commune compte au plus 100 caractères.".into(),
        ));
    }
    if state
        .stores
        .organisations
        .get_caf(&partner.caf)
        .await?
        .is_none()
    {
        return Err(HabilitationError::NotFound(Record::Caf));
    }
    if state
        .stores
        .organisations
        .get_partner(&partner.id)
        .await?
        .is_some()
    {
        return Err(HabilitationError::Conflict(format!(
            "L'identifiant « {} » est déjà pris.",
            partner.id
        )));
    }
    state.stores.organisations.upsert_partner(&partner).await?;
    record(
        state,
        Author::Person(actor),
        Some(&partner.id),
        "partner.create",
        format!("partner:{}", partner.id),
        None,
        json!({}),
    )
    .await?;
    Ok(partner)
}

/// Caf side: records a convention of a partner, or corrects one (number, services, dates,
/// contacts; its termination). The mode changes through `switch_mode`, which needs a reason.
pub async fn save_convention(
    state: &AppState,
    actor: &Actor,
    convention: Convention,
) -> HabResult<Convention> {
    let context = PartnerContext::load(state, &convention.partner).await?;
    access::check(actor, &context, Action::EditConvention)?;
    let existing = state
        .stores
        .habilitations
        .get_convention(&convention.id)
        .await?;
    let convention = Convention {
        mode: existing.as_ref().map(|e| e.mode).unwrap_or(convention.mode),
        ..convention
    };
    let (saved, _) = save_convention_as(state, Author::Person(actor), &context, convention).await?;
    Ok(saved)
}

/// The convention as the author states it, mode included, once the author is known to be
/// allowed; recorded in the partner's history only when something changed.
pub async fn save_convention_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    convention: Convention,
) -> HabResult<(Convention, Change)> {
    let number = convention.number.trim().to_owned();
    if number.is_empty() || number.chars().count() > 64 {
        return Err(HabilitationError::Invalid(
            "Le numéro de convention compte de 1 à 64 caractères.".into(),
        ));
    }
    if convention.services.is_empty() {
        return Err(HabilitationError::Invalid(
            "Une convention ouvre au moins un service.".into(),
        ));
    }
    for client_id in &convention.services {
        service(state, client_id).await?;
    }
    let mut convention = convention;
    convention.roles.sort();
    convention.roles.dedup();
    for r in &convention.roles {
        let service = service(state, &r.service).await?;
        if !convention.services.contains(&r.service) {
            return Err(HabilitationError::Invalid(format!(
                "Le rôle « {} » appartient au service « {} », que la convention n'ouvre pas.",
                r.role, service.name
            )));
        }
        check_role(&service, &r.role)?;
    }
    if let Some(end) = convention.terminated_on
        && end <= convention.starts_on
    {
        return Err(HabilitationError::Invalid(
            "La date de résiliation doit suivre la date de début.".into(),
        ));
    }
    if let Some(other) = state
        .stores
        .habilitations
        .find_convention_by_number(&number)
        .await?
        && other.id != convention.id
    {
        return Err(HabilitationError::Conflict(format!(
            "Le numéro {number} est déjà celui d'une autre convention."
        )));
    }
    let existing = state
        .stores
        .habilitations
        .get_convention(&convention.id)
        .await?;
    if let Some(existing) = &existing
        && existing.partner != context.partner.id
    {
        return Err(HabilitationError::NotFound(Record::Convention));
    }
    let convention = Convention {
        number,
        partner: context.partner.id.clone(),
        caf: context.partner.caf.clone(),
        ..convention
    };
    let change = state
        .stores
        .habilitations
        .upsert_convention(&convention)
        .await?;
    if change == Change::Unchanged {
        return Ok((convention, change));
    }
    record(
        state,
        author,
        Some(&convention.partner),
        if existing.is_some() {
            "convention.edit"
        } else {
            "convention.create"
        },
        format!("convention:{}", convention.id),
        None,
        json!({
            "number": convention.number,
            "services": convention.services,
            "roles": convention.roles.iter().map(|r| format!("{}|{}", r.service, r.role)).collect::<Vec<_>>(),
            "terminated_on": convention.terminated_on,
        }),
    )
    .await?;
    if let Some(existing) = existing
        && existing.mode != convention.mode
    {
        record(
            state,
            author,
            Some(&convention.partner),
            "convention.mode",
            format!("convention:{}", convention.id),
            None,
            json!({ "mode": convention.mode }),
        )
        .await?;
    }
    Ok((convention, change))
}

/// Caf side: changes the roles a convention subscribes to (the bulletin d'adhésion amended).
/// A role of a service the convention does not open opens the service with it; a service
/// left without any role is no longer opened. A role or service still held by an open
/// habilitation under this convention cannot go: those are withdrawn first.
pub async fn set_subscribed_roles(
    state: &AppState,
    actor: &Actor,
    id: &ConventionId,
    roles: Vec<crate::store::SubscribedRole>,
) -> HabResult<Convention> {
    let (existing, context) = convention(state, actor, id).await?;
    access::check(actor, &context, Action::EditConvention)?;
    if roles.is_empty() {
        return Err(HabilitationError::Invalid(
            "Cochez au moins un rôle : une convention ouvre au moins un service.".into(),
        ));
    }
    let mut services = Vec::new();
    for client_id in &existing.services {
        // A service without roles in its catalogue is opened whole, and stays.
        if roles.iter().any(|r| &r.service == client_id)
            || service(state, client_id).await?.roles.is_empty()
        {
            services.push(client_id.clone());
        }
    }
    for r in &roles {
        if !services.contains(&r.service) {
            services.push(r.service.clone());
        }
    }
    let amended = Convention {
        services,
        roles,
        ..existing.clone()
    };
    let held: Vec<Habilitation> = state
        .stores
        .habilitations
        .habilitations_of_partner(&existing.partner)
        .await?
        .into_iter()
        .filter(|h| {
            h.convention == existing.id
                && h.status != HabilitationStatus::Closed
                && !amended.opens_role(&h.client_id, &h.role)
        })
        .collect();
    if let Some(h) = held.first() {
        let service = service(state, &h.client_id).await?;
        let role = service
            .roles
            .iter()
            .find(|r| r.code == h.role.as_str())
            .map_or(h.role.to_string(), |r| r.display());
        let count = held
            .iter()
            .filter(|o| o.client_id == h.client_id && o.role == h.role)
            .count();
        return Err(HabilitationError::Invalid(format!(
            "Le rôle « {role} » du service « {} » est encore attribué ({count} habilitation{} ouverte{}) : retirez-{} d'abord.",
            service.name,
            if count > 1 { "s" } else { "" },
            if count > 1 { "s" } else { "" },
            if count > 1 { "les" } else { "la" },
        )));
    }
    let (saved, _) = save_convention_as(state, Author::Person(actor), &context, amended).await?;
    Ok(saved)
}

/// Withdraws the delegation (centralized mode) or restores it (delegated mode).
pub async fn switch_mode(
    state: &AppState,
    actor: &Actor,
    convention_id: &ConventionId,
    mode: HabilitationMode,
    reason: Option<&str>,
) -> HabResult<Convention> {
    let (convention, context) = convention(state, actor, convention_id).await?;
    access::check(actor, &context, Action::SwitchMode)?;
    let reason = required_reason(reason)?;
    if convention.mode == mode {
        return Ok(convention);
    }
    let updated = Convention { mode, ..convention };
    state
        .stores
        .habilitations
        .upsert_convention(&updated)
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "convention.mode",
        format!("convention:{convention_id}"),
        Some(reason),
        json!({ "mode": mode }),
    )
    .await?;
    // Those who managed (or will manage) the partner's habilitations are told.
    for account in state
        .stores
        .accounts
        .accounts_of_partner(&context.partner.id)
        .await?
        .iter()
        .filter(|a| {
            a.closed_at.is_none()
                && a.profile.admin_roles.iter().any(|r| {
                    matches!(
                        r,
                        AdminRole::PartnerAdministrator
                            | AdminRole::PartnerSubstitute
                            | AdminRole::DelegatedManager
                    )
                })
        })
    {
        notify::tell(
            state,
            Author::Person(actor),
            account,
            notify::Notice::ModeChanged {
                convention: updated.number.clone(),
                centralized: mode == HabilitationMode::Centralized,
            },
            Some(reason),
        )
        .await?;
    }
    Ok(updated)
}

/// One line of the quota table a console or API shows: how many people hold the role, and
/// the most allowed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct QuotaUse {
    pub convention: ConventionId,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub used: u32,
    pub maximum: Option<u32>,
}

impl QuotaUse {
    pub fn remaining(&self) -> Option<u32> {
        self.maximum.map(|m| m.saturating_sub(self.used))
    }
}

/// For every role the partner's conventions in force open (subscribed, or every role of a
/// service opened without a list): use and quota.
pub async fn quota_uses(state: &AppState, context: &PartnerContext) -> HabResult<Vec<QuotaUse>> {
    let quotas = context.quotas(state).await?;
    let mut uses = Vec::new();
    for convention in context.in_force() {
        for client_id in &convention.services {
            let Some(service) = state.stores.services.get_service(client_id).await? else {
                continue;
            };
            for role in &service.roles {
                let role =
                    RoleCode::parse(&role.code).map_err(|e| HabilitationError::Invalid(e.0))?;
                // A role the partner did not subscribe to has no quota to show or set.
                if !convention.opens_role(client_id, &role) {
                    continue;
                }
                let used = state
                    .stores
                    .habilitations
                    .count_holders(&context.partner.id, client_id, &role)
                    .await?;
                uses.push(QuotaUse {
                    convention: convention.id.clone(),
                    client_id: client_id.clone(),
                    maximum: quotas.get(&(client_id.clone(), role.clone())).copied(),
                    role,
                    used,
                });
            }
        }
    }
    Ok(uses)
}

/// The refusal of a role the convention does not subscribe to.
pub(super) fn not_subscribed(
    convention: &Convention,
    service: &Service,
    role: &RoleCode,
) -> HabilitationError {
    HabilitationError::Invalid(format!(
        "La convention {} n'ouvre pas le rôle « {} » du service « {} » : le partenaire n'y a pas souscrit.",
        convention.number,
        role_label(service, role),
        service.name
    ))
}

/// "Action sociale (T1)".
pub(super) fn role_label(service: &Service, role: &RoleCode) -> String {
    service
        .roles
        .iter()
        .find(|r| r.code == role.as_str())
        .map(|r| r.display())
        .unwrap_or_else(|| role.to_string())
}
