//! Habilitations: grants within the quotas, suspension, reactivation, withdrawal.

use super::*;

/// What a grant asks for.
#[derive(Debug, Clone)]
pub struct GrantRequest {
    pub holder: Holder,
    pub client_id: ClientId,
    pub role: RoleCode,
    pub scope: Vec<String>,
    pub valid_from: Option<i64>,
    pub valid_until: Option<i64>,
}

/// Grants a service role to a person or a group of the partner, within the quota.
pub async fn grant(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    request: GrantRequest,
    reason: Option<&str>,
) -> HabResult<Habilitation> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::View)?;
    let target = holder_target(state, &context, &request.holder).await?;
    access::check(
        actor,
        &context,
        Action::Grant {
            client_id: &request.client_id,
            role: &request.role,
            target,
        },
    )?;
    let reason = optional_reason(reason)?;
    grant_as(state, Author::Person(actor), &context, request, reason).await
}

/// What the holder of a (future) habilitation is, for the access rules; the holder must be
/// a person or an open group of the partner.
pub(super) async fn holder_target(
    state: &AppState,
    context: &PartnerContext,
    holder: &Holder,
) -> HabResult<Target> {
    match holder {
        Holder::Account(id) => {
            let account = state
                .stores
                .accounts
                .get_account(id)
                .await?
                .filter(|a| a.profile.partner.as_ref() == Some(&context.partner.id))
                .ok_or(HabilitationError::NotFound(Record::Account))?;
            if account.closed_at.is_some() {
                return Err(HabilitationError::Invalid(
                    "Ce compte est fermé : il ne peut plus recevoir d'habilitation.".into(),
                ));
            }
            Ok(Target::of(&account))
        }
        Holder::Group(id) => {
            let group = state
                .stores
                .habilitations
                .get_group(id)
                .await?
                .filter(|g| g.partner == context.partner.id)
                .ok_or(HabilitationError::NotFound(Record::Group))?;
            if group.closed_at.is_some() {
                return Err(HabilitationError::Invalid("Ce groupe est fermé.".into()));
            }
            Ok(Target::Other)
        }
    }
}

pub(super) async fn service(state: &AppState, client_id: &ClientId) -> HabResult<Service> {
    state
        .stores
        .services
        .get_service(client_id)
        .await?
        .ok_or(HabilitationError::NotFound(Record::Service))
}

/// Fails unless `role` is one of the service's roles.
pub fn check_role(service: &Service, role: &RoleCode) -> HabResult<()> {
    if service.roles.iter().any(|r| r.code == role.as_str()) {
        return Ok(());
    }
    Err(HabilitationError::Invalid(format!(
        "Le service « {} » n'a pas de rôle « {role} » (rôles : {}).",
        service.name,
        service
            .roles
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Checks the role and scope against the service: the role must be one of the service's, and
/// the scope must list values of the service's kind (at least one), or be empty.
pub fn validate_role_and_scope(
    service: &Service,
    role: &RoleCode,
    scope: &[String],
) -> HabResult<Vec<String>> {
    check_role(service, role)?;
    match service.habilitation_scope {
        None if scope.is_empty() => Ok(Vec::new()),
        None => Err(HabilitationError::Invalid(format!(
            "Les habilitations du service « {} » n'ont pas de périmètre.",
            service.name
        ))),
        Some(HabilitationScopeKind::InseeCommunes) => {
            if scope.is_empty() {
                return Err(HabilitationError::Invalid(format!(
                    "Indiquez les communes couvertes (codes INSEE) pour le service « {} ».",
                    service.name
                )));
            }
            let mut codes = scope
                .iter()
                .map(|c| {
                    InseeCode::parse(c).map(|c| c.to_string()).map_err(|_| {
                        HabilitationError::Invalid(format!(
                            "« {c} » n'est pas un code INSEE de commune (cinq caractères, par exemple 79191)."
                        ))
                    })
                })
                .collect::<HabResult<Vec<_>>>()?;
            codes.sort();
            codes.dedup();
            Ok(codes)
        }
    }
}

/// The grant itself, once the author is known to be allowed.
pub async fn grant_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    request: GrantRequest,
    reason: Option<&str>,
) -> HabResult<Habilitation> {
    let service = service(state, &request.client_id).await?;
    let scope = validate_role_and_scope(&service, &request.role, &request.scope)?;
    let convention = context.convention_for(&request.client_id).ok_or_else(|| {
        HabilitationError::Invalid(format!(
            "Aucune convention en vigueur n'ouvre le service « {} » à ce partenaire.",
            service.name
        ))
    })?;
    let quotas = context.quotas(state).await?;
    check_grantable(convention, &quotas, &service, &request.role)?;
    let now = state.clock.now();
    let valid_from = request.valid_from.unwrap_or(now);
    if let Some(until) = request.valid_until
        && until <= valid_from
    {
        return Err(HabilitationError::Invalid(if until <= now {
            "Le dernier jour de validité est déjà passé : choisissez une date à venir.".into()
        } else {
            "Le dernier jour de validité doit suivre le premier.".into()
        }));
    }
    let habilitation = Habilitation {
        id: HabilitationId::generate(),
        partner: context.partner.id.clone(),
        convention: convention.id.clone(),
        client_id: request.client_id,
        role: request.role,
        scope,
        holder: request.holder,
        valid_from,
        valid_until: request.valid_until,
        status: HabilitationStatus::Active,
        granted_by: author.reference(),
        granted_at: now,
        status_changed_at: now,
        status_changed_by: author.reference(),
        status_reason: reason.map(str::to_owned),
        closed_at: None,
        reviewed_at: None,
    };
    match state
        .stores
        .habilitations
        .insert_habilitation(&habilitation, &quotas)
        .await?
    {
        Ok(()) => {}
        Err(refusal) => return Err(refusal_error(&service, refusal)),
    }
    record(
        state,
        author,
        Some(&context.partner.id),
        "habilitation.grant",
        format!("habilitation:{}", habilitation.id),
        reason,
        json!({
            "holder": habilitation.holder,
            "service": habilitation.client_id,
            "role": habilitation.role,
            "scope": habilitation.scope,
        }),
    )
    .await?;
    // The person is told until when, when the access ends.
    let until = habilitation
        .valid_until
        .map(|u| format!(", jusqu'au {} inclus", crate::clock::paris_day(u - 1)));
    notify::tell_reached(
        state,
        author,
        &habilitation,
        |what| notify::Notice::Granted(format!("{what}{}", until.as_deref().unwrap_or(""))),
        reason,
    )
    .await?;
    Ok(habilitation)
}

/// Least privilege from the convention: only a role it subscribes to, and in delegated mode
/// only one the Caf set a maximum for (the agreement: the Caf must set it).
pub fn check_grantable(
    convention: &Convention,
    quotas: &QuotaTable,
    service: &Service,
    role: &RoleCode,
) -> HabResult<()> {
    if !convention.opens_role(&service.client_id, role) {
        return Err(not_subscribed(convention, service, role));
    }
    if convention.mode == HabilitationMode::Delegated
        && !quotas.contains_key(&(service.client_id.clone(), role.clone()))
    {
        return Err(HabilitationError::Invalid(format!(
            "La Caf n'a pas fixé le nombre maximal de titulaires du rôle « {} » du service « {} » : en mode délégué, ce rôle ne peut être attribué qu'une fois ce quota fixé par la Caf.",
            role_label(service, role),
            service.name
        )));
    }
    Ok(())
}

pub(super) fn refusal_error(service: &Service, refusal: GrantRefusal) -> HabilitationError {
    match refusal {
        GrantRefusal::QuotaReached { role, maximum, .. } => HabilitationError::QuotaReached {
            service: service.name.clone(),
            role: role.to_string(),
            maximum,
        },
        GrantRefusal::AlreadyHeld => HabilitationError::Conflict(format!(
            "Cette habilitation au service « {} » est déjà attribuée (active ou suspendue).",
            service.name
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, strum::EnumString)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum StatusChange {
    Suspend,
    Reactivate,
    /// Withdraw for good.
    Close,
}

impl StatusChange {
    pub fn parse(value: &str) -> Option<Self> {
        value.parse().ok()
    }
}

/// Looks a habilitation up for an actor; one of another partner is "not found".
pub async fn habilitation(
    state: &AppState,
    actor: &Actor,
    id: &HabilitationId,
) -> HabResult<(Habilitation, PartnerContext)> {
    let habilitation = state.stores.habilitations.get_habilitation(id).await?;
    crate::habilitations::in_reach(state, actor, Record::Habilitation, habilitation, |h| {
        Some(h.partner.clone())
    })
    .await
}

/// Suspends, reactivates or closes a habilitation. Suspending or closing ends the sessions of
/// the people it reached (and tells their relying applications).
pub async fn change_status(
    state: &AppState,
    actor: &Actor,
    id: &HabilitationId,
    change: StatusChange,
    reason: Option<&str>,
) -> HabResult<Habilitation> {
    let (habilitation, context) = self::habilitation(state, actor, id).await?;
    let target = match &habilitation.holder {
        Holder::Account(a) => match state.stores.accounts.get_account(a).await? {
            Some(account) => Target::of(&account),
            None => Target::Other,
        },
        Holder::Group(_) => Target::Other,
    };
    let (client_id, role) = (&habilitation.client_id, &habilitation.role);
    let action = match change {
        StatusChange::Close => Action::Grant {
            client_id,
            role,
            target,
        },
        StatusChange::Suspend | StatusChange::Reactivate => Action::Suspend {
            client_id,
            role,
            target,
        },
    };
    access::check(actor, &context, action)?;
    let reason = required_reason(reason)?;
    change_status_as(state, Author::Person(actor), habilitation, change, reason).await
}

pub(in crate::habilitations) async fn change_status_as(
    state: &AppState,
    author: Author<'_>,
    habilitation: Habilitation,
    change: StatusChange,
    reason: &str,
) -> HabResult<Habilitation> {
    let status = match (change, habilitation.status) {
        (_, HabilitationStatus::Closed) => {
            return Err(HabilitationError::Conflict(
                "Cette habilitation est fermée : attribuez-en une nouvelle si besoin.".into(),
            ));
        }
        (StatusChange::Suspend, HabilitationStatus::Suspended)
        | (StatusChange::Reactivate, HabilitationStatus::Active) => return Ok(habilitation),
        (StatusChange::Suspend, _) => HabilitationStatus::Suspended,
        (StatusChange::Reactivate, _) => HabilitationStatus::Active,
        (StatusChange::Close, _) => HabilitationStatus::Closed,
    };
    let at = state.clock.now();
    let by = author.reference();
    if !state
        .stores
        .habilitations
        .set_habilitation_status(&habilitation.id, status, &by, Some(reason), at)
        .await?
    {
        return Err(HabilitationError::Conflict(
            "Cette habilitation vient d'être fermée.".into(),
        ));
    }
    record(
        state,
        author,
        Some(&habilitation.partner),
        match change {
            StatusChange::Suspend => "habilitation.suspend",
            StatusChange::Reactivate => "habilitation.reactivate",
            StatusChange::Close => "habilitation.close",
        },
        format!("habilitation:{}", habilitation.id),
        Some(reason),
        json!({ "service": habilitation.client_id, "role": habilitation.role }),
    )
    .await?;
    if status != HabilitationStatus::Active {
        for person in people_reached(state, &habilitation).await? {
            end_sessions(state, &person).await?;
        }
    }
    let notice = match change {
        StatusChange::Suspend => notify::Notice::HabilitationSuspended,
        StatusChange::Reactivate => notify::Notice::HabilitationReactivated,
        StatusChange::Close => notify::Notice::Withdrawn,
    };
    notify::tell_reached(state, author, &habilitation, notice, Some(reason)).await?;
    Ok(Habilitation {
        status,
        status_changed_at: at,
        status_changed_by: by,
        status_reason: Some(reason.to_owned()),
        closed_at: (status == HabilitationStatus::Closed).then_some(at),
        ..habilitation
    })
}
