//! Groups of a partner: creation, members, closure.

use super::*;

/// Looks a group up for an actor; one of another partner is "not found".
pub async fn group(
    state: &AppState,
    actor: &Actor,
    id: &GroupId,
) -> HabResult<(Group, PartnerContext)> {
    let group = state.stores.habilitations.get_group(id).await?;
    crate::habilitations::in_reach(state, actor, Record::Group, group, |g| {
        Some(g.partner.clone())
    })
    .await
}

pub(super) fn group_name(name: &str) -> HabResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(HabilitationError::Invalid(
            "Le nom du groupe doit compter de 1 à 100 caractères.".into(),
        ));
    }
    Ok(name.to_owned())
}

pub async fn create_group(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    name: &str,
) -> HabResult<Group> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::ManageGroups)?;
    create_group_as(state, Author::Person(actor), &context, name).await
}

/// The creation itself, once the author is known to be allowed.
pub async fn create_group_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    name: &str,
) -> HabResult<Group> {
    let partner_id = &context.partner.id;
    let group = Group {
        id: GroupId::generate(),
        partner: partner_id.clone(),
        name: group_name(name)?,
        created_at: state.clock.now(),
        closed_at: None,
    };
    state
        .stores
        .habilitations
        .insert_group(&group)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict(_) => HabilitationError::Conflict(format!(
                "Un groupe « {} » existe déjà chez ce partenaire.",
                group.name
            )),
            other => other.into(),
        })?;
    record(
        state,
        author,
        Some(partner_id),
        "group.create",
        format!("group:{}", group.id),
        None,
        json!({}),
    )
    .await?;
    Ok(group)
}

/// A delegated manager may only change a group whose habilitations are all delegated to them;
/// `member` is who joins or leaves (what they gain or lose is checked as a grant to them).
pub(super) async fn check_group_change(
    state: &AppState,
    actor: &Actor,
    context: &PartnerContext,
    group: &Group,
    member: Target,
) -> HabResult<()> {
    access::check(actor, context, Action::ManageGroups)?;
    if group.closed_at.is_some() {
        return Err(HabilitationError::Conflict("Ce groupe est fermé.".into()));
    }
    for h in state
        .stores
        .habilitations
        .habilitations_of_group(&group.id)
        .await?
        .iter()
        .filter(|h| h.status != HabilitationStatus::Closed)
    {
        access::check(
            actor,
            context,
            Action::Grant {
                client_id: &h.client_id,
                role: &h.role,
                target: member,
            },
        )?;
    }
    Ok(())
}

pub async fn add_member(
    state: &AppState,
    actor: &Actor,
    group_id: &GroupId,
    account_id: &AccountId,
) -> HabResult<()> {
    let (group, context) = group(state, actor, group_id).await?;
    let member = holder_target(state, &context, &Holder::Account(account_id.clone())).await?;
    check_group_change(state, actor, &context, &group, member).await?;
    add_member_as(state, Author::Person(actor), &context, &group, account_id).await
}

/// The addition itself, within the partner's quotas, once the author is known to be allowed.
pub async fn add_member_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    group: &Group,
    account_id: &AccountId,
) -> HabResult<()> {
    let quotas: QuotaTable = context.quotas(state).await?;
    if let Err(refusal) = state
        .stores
        .habilitations
        .add_group_member(&group.id, account_id, &quotas, state.clock.now())
        .await?
    {
        let service = match &refusal {
            GrantRefusal::QuotaReached { client_id, .. } => service(state, client_id).await?,
            GrantRefusal::AlreadyHeld => unreachable!("membership has no holder rule"),
        };
        return Err(refusal_error(&service, refusal));
    }
    record(
        state,
        author,
        Some(&context.partner.id),
        "group.add_member",
        format!("group:{}", group.id),
        None,
        json!({ "account": account_id }),
    )
    .await?;
    notify::tell_membership(state, author, group, account_id, true).await
}

/// Removes a member; their sessions end since they may have lost a role.
pub async fn remove_member(
    state: &AppState,
    actor: &Actor,
    group_id: &GroupId,
    account_id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (group, context) = group(state, actor, group_id).await?;
    // Only the partner's own people: another partner's account is "not found", and its
    // sessions are none of this actor's business.
    let member = state
        .stores
        .accounts
        .get_account(account_id)
        .await?
        .filter(|a| a.profile.partner.as_ref() == Some(&context.partner.id))
        .ok_or(HabilitationError::NotFound(Record::Account))?;
    check_group_change(state, actor, &context, &group, Target::of(&member)).await?;
    let reason = optional_reason(reason)?;
    state
        .stores
        .habilitations
        .remove_group_member(group_id, account_id)
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "group.remove_member",
        format!("group:{group_id}"),
        reason,
        json!({ "account": account_id }),
    )
    .await?;
    end_sessions(state, account_id).await?;
    notify::tell_membership(state, Author::Person(actor), &group, account_id, false).await
}

/// Closes a group: its habilitations are closed and its members' sessions end.
pub async fn close_group(
    state: &AppState,
    actor: &Actor,
    group_id: &GroupId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (group, context) = group(state, actor, group_id).await?;
    check_group_change(state, actor, &context, &group, Target::Other).await?;
    let reason = required_reason(reason)?;
    let members = state.stores.habilitations.group_members(group_id).await?;
    for h in state
        .stores
        .habilitations
        .habilitations_of_group(group_id)
        .await?
    {
        if h.status != HabilitationStatus::Closed {
            state
                .stores
                .habilitations
                .set_habilitation_status(
                    &h.id,
                    HabilitationStatus::Closed,
                    &actor.reference(),
                    Some(reason),
                    state.clock.now(),
                )
                .await?;
        }
    }
    state
        .stores
        .habilitations
        .close_group(group_id, state.clock.now())
        .await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "group.close",
        format!("group:{group_id}"),
        Some(reason),
        json!({}),
    )
    .await?;
    for member in members {
        end_sessions(state, &member).await?;
    }
    Ok(())
}
