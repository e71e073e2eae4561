//! Centralized mode (MCP agreement §9.2): the partner addresses its requests to the Caf. Its
//! administrators and delegated managers file them (a new person, a grant, a suspension, a
//! reactivation, a withdrawal, an account's closure); the Caf's habilitation officer accepts
//! — which carries the change out through the same checked commands, as the officer — or
//! refuses with a reason. Both sides are mailed; every step is recorded and traced.

use super::request_words::{person_words, requester_words};
use super::*;
use crate::store::request::{Decision, Request, RequestStatus, RequestedChange};
use crate::types::RequestId;

/// A request's reason as the partner gives it: at most 300 characters, so that the change it
/// leads to can quote it.
fn request_reason(reason: Option<&str>) -> HabResult<Option<String>> {
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) if r.chars().count() > 300 => Err(HabilitationError::Invalid(
            "Le motif d'une demande compte au plus 300 caractères.".into(),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

fn person_fields(change: &RequestedChange) -> HabResult<Option<PersonFields>> {
    let RequestedChange::CreatePerson {
        email,
        civility,
        given_name,
        family_name,
        function,
        named_person,
    } = change
    else {
        return Ok(None);
    };
    let mut fields = PersonFields::parse(
        email.as_str(),
        civility.as_deref(),
        given_name,
        family_name,
        function.as_deref(),
    )?;
    fields.named_person = *named_person;
    Ok(Some(fields))
}

/// A requester asks only for what they would manage in delegated mode.
fn within_reach(
    actor: &Actor,
    context: &PartnerContext,
    client_id: &ClientId,
    role: &RoleCode,
    target: Target,
) -> HabResult<()> {
    if access::may_request(actor, &context.partner, client_id, role, target) {
        Ok(())
    } else {
        Err(HabilitationError::Forbidden(
            "Vous ne pouvez demander que ce que vous géreriez vous-même en mode délégué : les rôles qui vous sont délégués, pour des personnes qui n'administrent pas le partenaire.".into(),
        ))
    }
}

/// Checks the request against the partner as it is now, and that it asks the Caf for
/// something the requester could not do themselves.
async fn check_request(
    state: &AppState,
    actor: &Actor,
    context: &PartnerContext,
    change: &RequestedChange,
) -> HabResult<()> {
    let status_of = |id: &HabilitationId| {
        let id = id.clone();
        async move {
            let (h, _) = habilitation(state, actor, &id).await?;
            if h.partner != context.partner.id {
                return Err(HabilitationError::NotFound(Record::Habilitation));
            }
            let target = match &h.holder {
                Holder::Account(a) => match state.stores.accounts.get_account(a).await? {
                    Some(account) => Target::of(&account),
                    None => Target::Other,
                },
                Holder::Group(_) => Target::Other,
            };
            Ok::<_, HabilitationError>((h, target))
        }
    };
    let direct = match change {
        RequestedChange::CreatePerson { .. } => {
            let fields = person_fields(change)?.expect("a creation");
            check_new_address(state, &Author::Person(actor), context, &fields).await?;
            access::check(actor, context, Action::ManageUsers)
        }
        RequestedChange::Grant {
            holder,
            client_id,
            role,
            scope,
            valid_until,
        } => {
            let target = holder_target(state, context, holder).await?;
            validate_role_and_scope(&service(state, client_id).await?, role, scope)?;
            within_reach(actor, context, client_id, role, target)?;
            if let Some(until) = valid_until
                && *until <= state.clock.now()
            {
                return Err(HabilitationError::Invalid(
                    "Le dernier jour de validité demandé est déjà passé.".into(),
                ));
            }
            let held = match holder {
                Holder::Account(a) => {
                    state
                        .stores
                        .habilitations
                        .habilitations_of_account(a)
                        .await?
                }
                Holder::Group(g) => state.stores.habilitations.habilitations_of_group(g).await?,
            };
            if held.iter().any(|h| {
                &h.holder == holder
                    && &h.client_id == client_id
                    && &h.role == role
                    && h.status != HabilitationStatus::Closed
            }) {
                return Err(HabilitationError::Conflict(
                    "Ce rôle est déjà attribué à ce titulaire : la demande n'a pas d'objet.".into(),
                ));
            }
            access::check(
                actor,
                context,
                Action::Grant {
                    client_id,
                    role,
                    target,
                },
            )
        }
        RequestedChange::Suspend { habilitation }
        | RequestedChange::Reactivate { habilitation }
        | RequestedChange::Withdraw { habilitation } => {
            let (h, target) = status_of(habilitation).await?;
            let expected = match change {
                RequestedChange::Suspend { .. } => h.status == HabilitationStatus::Active,
                RequestedChange::Reactivate { .. } => h.status == HabilitationStatus::Suspended,
                _ => h.status != HabilitationStatus::Closed,
            };
            if !expected {
                return Err(HabilitationError::Conflict(format!(
                    "Cette habilitation est {} : la demande n'a pas d'objet.",
                    h.status.label()
                )));
            }
            let (client_id, role) = (&h.client_id, &h.role);
            within_reach(actor, context, client_id, role, target)?;
            access::check(
                actor,
                context,
                if matches!(change, RequestedChange::Withdraw { .. }) {
                    Action::Grant {
                        client_id,
                        role,
                        target,
                    }
                } else {
                    Action::Suspend {
                        client_id,
                        role,
                        target,
                    }
                },
            )
        }
        RequestedChange::CloseAccount { account }
        | RequestedChange::SuspendAccount { account }
        | RequestedChange::ReactivateAccount { account } => {
            let (account, _) = person(state, actor, account).await?;
            if account.closed_at.is_some() {
                return Err(HabilitationError::Conflict(
                    "Ce compte est déjà fermé.".into(),
                ));
            }
            let suspended = account.status == crate::store::AccountStatus::Suspended;
            match change {
                RequestedChange::SuspendAccount { .. } if suspended => {
                    return Err(HabilitationError::Conflict(
                        "Ce compte est déjà suspendu.".into(),
                    ));
                }
                RequestedChange::ReactivateAccount { .. } if !suspended => {
                    return Err(HabilitationError::Conflict(
                        "Ce compte n'est pas suspendu.".into(),
                    ));
                }
                _ => {}
            }
            if Target::of(&account) != Target::Other
                && !access::cancels_requests(actor, &context.partner)
            {
                return Err(HabilitationError::Forbidden(
                    "Seuls les administrateurs du partenaire font une demande sur le compte d'un autre administrateur ou gestionnaire.".into(),
                ));
            }
            let target = Target::of(&account);
            access::check(
                actor,
                context,
                if matches!(change, RequestedChange::CloseAccount { .. }) {
                    Action::CloseAccount { target }
                } else {
                    Action::SuspendAccount { target }
                },
            )
        }
    };
    if direct.is_ok() {
        return Err(HabilitationError::Conflict(
            "Vous pouvez faire ce changement vous-même : la demande à la Caf n'est pas nécessaire."
                .into(),
        ));
    }
    Ok(())
}

/// Files a request to the Caf for a partner in centralized mode (or for what the Caf alone
/// may do); its habilitation officers are mailed.
pub async fn file_request(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    change: RequestedChange,
    reason: Option<&str>,
) -> HabResult<Request> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::View)?;
    if !access::files_requests(actor, &context.partner) {
        return Err(HabilitationError::Forbidden(
            "Seuls les administrateurs du partenaire et ses gestionnaires délégués adressent des demandes à la Caf.".into(),
        ));
    }
    let reason = request_reason(reason)?;
    check_request(state, actor, &context, &change).await?;
    if state
        .stores
        .habilitations
        .requests_of_partner(partner_id, 200)
        .await?
        .iter()
        .any(|r| r.status == RequestStatus::Pending && r.change.same_as(&change))
    {
        return Err(HabilitationError::Conflict(
            "La même demande attend déjà la décision de la Caf.".into(),
        ));
    }
    let request = Request {
        id: RequestId::generate(),
        partner: partner_id.clone(),
        change,
        reason,
        requested_by: actor.reference(),
        requested_at: state.clock.now(),
        status: RequestStatus::Pending,
        decided_by: None,
        decided_at: None,
        decision_reason: None,
    };
    state.stores.habilitations.insert_request(&request).await?;
    let what = describe(state, &request.change).await?;
    record(
        state,
        Author::Person(actor),
        Some(partner_id),
        "request.file",
        format!("request:{}", request.id),
        request.reason.as_deref(),
        json!({ "kind": request.change.code() }),
    )
    .await?;
    let officers = notify::caf_officers(state, &context.partner).await?;
    if officers.is_empty() {
        tracing::warn!(partner = %partner_id, "no Caf habilitation officer to receive a request");
    }
    let queue = state.settings.endpoint("/console/demandes");
    let who = requester_words(&actor.account);
    for officer in officers {
        let mail = crate::mail::templates::request_filed(
            officer.profile.email.as_str(),
            &officer.profile.given_name,
            request.change.title(),
            &who,
            &context.partner.name,
            &what,
            request.reason.as_deref(),
            &queue,
        );
        if let Err(e) = state.mailer.send(mail).await {
            tracing::error!(error = %e, "a Caf officer was not told of a request");
        }
    }
    Ok(request)
}

/// The requests of a partner the actor may see, newest first (at most `limit`).
pub async fn partner_requests(
    state: &AppState,
    actor: &Actor,
    partner: &PartnerId,
    limit: u32,
) -> HabResult<Vec<Request>> {
    self::partner(state, actor, partner).await?;
    Ok(state
        .stores
        .habilitations
        .requests_of_partner(partner, limit)
        .await?)
}

/// A request the actor may see, with its partner.
pub async fn request(
    state: &AppState,
    actor: &Actor,
    id: &RequestId,
) -> HabResult<(Request, PartnerContext)> {
    let request = state.stores.habilitations.get_request(id).await?;
    crate::habilitations::in_reach(state, actor, Record::Request, request, |r| {
        Some(r.partner.clone())
    })
    .await
}

/// The pending requests the actor decides on (their Caf's partners), oldest first.
pub async fn request_queue(state: &AppState, actor: &Actor) -> HabResult<Vec<(Request, Partner)>> {
    let partners: Vec<Partner> = visible_partners(state, actor)
        .await?
        .into_iter()
        .filter(|p| access::decides_requests(actor, p))
        .collect();
    let ids: Vec<PartnerId> = partners.iter().map(|p| p.id.clone()).collect();
    let pending = state.stores.habilitations.pending_requests(&ids).await?;
    Ok(pending
        .into_iter()
        .filter_map(|r| {
            let partner = partners.iter().find(|p| p.id == r.partner)?.clone();
            Some((r, partner))
        })
        .collect())
}

/// The Caf's decision: `approve` carries the change out as the officer (through the checked
/// command it asks for) and then marks the request accepted; a refusal needs a reason. The
/// requester is mailed either way.
pub async fn decide_request(
    state: &AppState,
    actor: &Actor,
    id: &RequestId,
    approve: bool,
    reason: Option<&str>,
) -> HabResult<Request> {
    let (request, context) = self::request(state, actor, id).await?;
    if !access::decides_requests(actor, &context.partner) {
        return Err(HabilitationError::Forbidden(
            "Seul le responsable des habilitations de la Caf décide des demandes du partenaire."
                .into(),
        ));
    }
    if request.status != RequestStatus::Pending {
        return Err(HabilitationError::Conflict(format!(
            "Cette demande est déjà {}.",
            request.status.label()
        )));
    }
    let reason = if approve {
        optional_reason(reason)?
    } else {
        if reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(HabilitationError::Invalid(
                "Indiquez le motif du refus : il est envoyé à la personne qui a fait la demande."
                    .into(),
            ));
        }
        Some(required_reason(reason)?)
    };
    let now = state.clock.now();
    let status = if approve {
        RequestStatus::Approved
    } else {
        RequestStatus::Refused
    };
    // Claimed first, so that two officers deciding at once do not both carry it out.
    let decision = Decision {
        status,
        by: &actor.reference(),
        at: now,
        reason,
    };
    if !state
        .stores
        .habilitations
        .decide_request(&request.id, &decision)
        .await?
    {
        return Err(HabilitationError::Conflict(
            "Cette demande vient d'être traitée par ailleurs.".into(),
        ));
    }
    let what = describe(state, &request.change).await?;
    if approve && let Err(e) = carry_out(state, actor, &request, reason).await {
        state
            .stores
            .habilitations
            .reopen_request(&request.id)
            .await?;
        return Err(e);
    }
    record(
        state,
        Author::Person(actor),
        Some(&request.partner),
        if approve {
            "request.approve"
        } else {
            "request.refuse"
        },
        format!("request:{}", request.id),
        reason,
        json!({ "kind": request.change.code() }),
    )
    .await?;
    if let Some(requester) = state
        .stores
        .accounts
        .get_account(&AccountId::from_stored(request.requested_by.clone()))
        .await?
        .filter(|a| a.closed_at.is_none())
    {
        let caf = state
            .stores
            .organisations
            .get_caf(&context.partner.caf)
            .await?
            .map(|c| c.name);
        let to = crate::mail::templates::Recipient {
            address: requester.profile.email.as_str(),
            name: &requester.profile.given_name,
            caf: caf.as_deref(),
            services: &[],
        };
        let mail = crate::mail::templates::request_decided(
            &to,
            &what,
            approve,
            &person_words(&actor.account),
            actor.account.profile.email.as_str(),
            reason,
            &state.settings.endpoint("/console/demandes"),
        );
        if let Err(e) = state.mailer.send(mail).await {
            tracing::error!(error = %e, "a requester was not told of the Caf's decision");
        }
    }
    Ok(Request {
        status,
        decided_by: Some(actor.reference()),
        decided_at: Some(now),
        decision_reason: reason.map(str::to_owned),
        ..request
    })
}

/// Withdraws a pending request: its requester, or the partner's administrators.
pub async fn cancel_request(state: &AppState, actor: &Actor, id: &RequestId) -> HabResult<()> {
    let (request, context) = self::request(state, actor, id).await?;
    if request.requested_by != actor.reference()
        && !access::cancels_requests(actor, &context.partner)
    {
        return Err(HabilitationError::Forbidden(
            "Seuls le demandeur et les administrateurs du partenaire retirent une demande.".into(),
        ));
    }
    let decision = Decision {
        status: RequestStatus::Cancelled,
        by: &actor.reference(),
        at: state.clock.now(),
        reason: None,
    };
    if !state
        .stores
        .habilitations
        .decide_request(&request.id, &decision)
        .await?
    {
        return Err(HabilitationError::Conflict(
            "Cette demande a déjà été traitée.".into(),
        ));
    }
    record(
        state,
        Author::Person(actor),
        Some(&request.partner),
        "request.cancel",
        format!("request:{}", request.id),
        None,
        json!({ "kind": request.change.code() }),
    )
    .await
}

/// The change a request asks for, made by the officer who accepts it, its reason naming the
/// request.
async fn carry_out(
    state: &AppState,
    officer: &Actor,
    request: &Request,
    decision: Option<&str>,
) -> HabResult<()> {
    let requester = state
        .stores
        .accounts
        .get_account(&AccountId::from_stored(request.requested_by.clone()))
        .await?
        .map(|a| format!("{} {}", a.profile.given_name, a.profile.family_name))
        .unwrap_or_else(|| "du partenaire".into());
    let mut because = format!(
        "Demande de {requester} du {}",
        crate::labels::paris_day(request.requested_at)
    );
    for part in [request.reason.as_deref(), decision].into_iter().flatten() {
        because.push_str(" : ");
        because.push_str(part);
    }
    let because: String = because.chars().take(500).collect();
    match &request.change {
        RequestedChange::CreatePerson { .. } => {
            let fields = person_fields(&request.change)?.expect("a creation");
            create_person(state, officer, &request.partner, fields, vec![]).await?;
        }
        RequestedChange::Grant {
            holder,
            client_id,
            role,
            scope,
            valid_until,
        } => {
            let grant_request = GrantRequest {
                holder: holder.clone(),
                client_id: client_id.clone(),
                role: role.clone(),
                scope: scope.clone(),
                valid_from: None,
                valid_until: *valid_until,
            };
            grant(
                state,
                officer,
                &request.partner,
                grant_request,
                Some(&because),
            )
            .await?;
        }
        RequestedChange::Suspend { habilitation }
        | RequestedChange::Reactivate { habilitation }
        | RequestedChange::Withdraw { habilitation } => {
            let change = match &request.change {
                RequestedChange::Suspend { .. } => StatusChange::Suspend,
                RequestedChange::Reactivate { .. } => StatusChange::Reactivate,
                _ => StatusChange::Close,
            };
            change_status(state, officer, habilitation, change, Some(&because)).await?;
        }
        RequestedChange::CloseAccount { account } => {
            close_person(state, officer, account, Some(&because)).await?;
        }
        RequestedChange::SuspendAccount { account } => {
            suspend_person(state, officer, account, true, Some(&because)).await?;
        }
        RequestedChange::ReactivateAccount { account } => {
            suspend_person(state, officer, account, false, Some(&because)).await?;
        }
    }
    Ok(())
}
