//! People of a partner: creation (with the neutral answer for an address used elsewhere),
//! correction, suspension, closure, the Caf's forced password change.

use super::*;

/// A person of a partner the actor may see.
pub async fn person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
) -> HabResult<(Account, PartnerContext)> {
    let account = state.stores.accounts.get_account(id).await?;
    crate::habilitations::in_reach(state, actor, Record::Account, account, |a| {
        a.profile.partner.clone()
    })
    .await
}

/// What a person's profile holds, as the console and the API receive it.
#[derive(Debug, Clone)]
pub struct PersonFields {
    pub email: Email,
    pub civility: Option<String>,
    pub given_name: String,
    pub family_name: String,
    pub function: Option<String>,
    /// Whoever creates the account confirmed that an address which looks shared is read by
    /// this one person only.
    pub named_person: bool,
}

impl PersonFields {
    pub fn parse(
        email: &str,
        civility: Option<&str>,
        given_name: &str,
        family_name: &str,
        function: Option<&str>,
    ) -> HabResult<Self> {
        let email = Email::parse(email).map_err(|_| {
            HabilitationError::Invalid(format!("« {email} » n'est pas une adresse électronique."))
        })?;
        let text = |what: &str, value: &str, required: bool| -> HabResult<Option<String>> {
            let value = value.trim();
            if value.is_empty() {
                return if required {
                    Err(HabilitationError::Invalid(format!("Indiquez {what}.")))
                } else {
                    Ok(None)
                };
            }
            if value.chars().count() > 100 || value.chars().any(char::is_control) {
                return Err(HabilitationError::Invalid(format!(
                    "{what} : 100 caractères au plus, sans caractère de contrôle."
                )));
            }
            Ok(Some(value.to_owned()))
        };
        Ok(Self {
            email,
            civility: text("la civilité", civility.unwrap_or(""), false)?,
            given_name: text("le prénom", given_name, true)?.unwrap_or_default(),
            family_name: text("le nom", family_name, true)?.unwrap_or_default(),
            function: text("la fonction", function.unwrap_or(""), false)?,
            named_person: false,
        })
    }
}

/// Creates a person of the partner and mails the activation link (or, for a service whose
/// onboarding is a temporary password, that password) naming `services`.
pub async fn create_person(
    state: &AppState,
    actor: &Actor,
    partner_id: &PartnerId,
    fields: PersonFields,
    services: Vec<ClientId>,
) -> HabResult<Account> {
    let context = PartnerContext::load(state, partner_id).await?;
    access::check(actor, &context, Action::ManageUsers)?;
    create_person_as(state, Author::Person(actor), &context, fields, services).await
}

pub(in crate::habilitations) async fn create_person_as(
    state: &AppState,
    author: Author<'_>,
    context: &PartnerContext,
    fields: PersonFields,
    services: Vec<ClientId>,
) -> HabResult<Account> {
    check_new_address(state, &author, context, &fields).await?;
    let profile = AccountProfile {
        email: fields.email,
        civility: fields.civility,
        given_name: fields.given_name,
        family_name: fields.family_name,
        function: fields.function,
        partner: Some(context.partner.id.clone()),
        caf: None,
        services,
        admin_roles: Vec::new(),
    };
    let account = lifecycle::create_account(state, profile).await?;
    record(
        state,
        author,
        Some(&context.partner.id),
        "account.create",
        format!("account:{}", account.id),
        None,
        json!({}),
    )
    .await?;
    Ok(account)
}

/// What an administrator reads when an address belongs to an account outside their partner:
/// it says neither that an account exists nor where.
/// A new person's address: refused when it looks shared (unless confirmed), or when an
/// account has it — said plainly when the account is the partner's own (the administrator
/// sees it); an account elsewhere is not revealed, and the Caf is told instead.
pub(super) async fn check_new_address(
    state: &AppState,
    author: &Author<'_>,
    context: &PartnerContext,
    fields: &PersonFields,
) -> HabResult<()> {
    if !fields.named_person && state.settings.looks_collective(&fields.email) {
        return Err(HabilitationError::SharedAddress(fields.email.clone()));
    }
    if let Some(existing) = state
        .stores
        .accounts
        .find_account_by_email(&fields.email)
        .await?
    {
        if existing.profile.partner.as_ref() == Some(&context.partner.id) {
            return Err(HabilitationError::Conflict(format!(
                "{} a déjà un compte chez ce partenaire.",
                fields.email
            )));
        }
        notify::report_unavailable_email(state, author, context, &existing).await?;
        return Err(HabilitationError::Conflict(unavailable_email_message(
            &fields.email,
        )));
    }
    Ok(())
}

pub fn unavailable_email_message(email: &Email) -> String {
    format!(
        "L'adresse {email} ne peut pas être retenue pour un nouveau compte de ce partenaire. La Caf en est informée et reviendra vers vous ; en attendant, vérifiez l'adresse auprès de la personne."
    )
}

/// Corrects a person's profile (the email is the identifier and does not change here).
pub async fn update_person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    fields: PersonFields,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::EditPerson {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    if fields.email != account.profile.email {
        return Err(HabilitationError::Invalid(
            "L'adresse électronique est l'identifiant du compte : créez un nouveau compte pour une nouvelle adresse.".into(),
        ));
    }
    let profile = AccountProfile {
        civility: fields.civility,
        given_name: fields.given_name,
        family_name: fields.family_name,
        function: fields.function,
        ..account.profile.clone()
    };
    state.stores.accounts.upsert_account(&profile).await?;
    record(
        state,
        Author::Person(actor),
        Some(&context.partner.id),
        "account.update",
        format!("account:{id}"),
        None,
        json!({}),
    )
    .await?;
    reread(state, account).await
}

/// A delegated manager acts on a whole account only when every open habilitation the person
/// holds directly lies within the manager's delegation; administrators and the Caf are not
/// limited this way.
pub(super) async fn check_within_delegation(
    state: &AppState,
    actor: &Actor,
    context: &PartnerContext,
    account: &Account,
) -> HabResult<()> {
    for h in state
        .stores
        .habilitations
        .habilitations_of_account(&account.id)
        .await?
        .iter()
        .filter(|h| {
            h.status != HabilitationStatus::Closed
                && h.holder == Holder::Account(account.id.clone())
        })
    {
        access::check(
            actor,
            context,
            Action::Suspend {
                client_id: &h.client_id,
                role: &h.role,
                target: Target::of(account),
            },
        )?;
    }
    Ok(())
}

/// Suspends a person's account as a precaution, or reactivates it.
pub async fn suspend_person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    suspended: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::SuspendAccount {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    suspend_person_as(state, Author::Person(actor), &account, suspended, reason).await
}

/// Suspends or reactivates an account for `author` once its rights are checked (or for an
/// operator's tool: `Author::System`), and records it in the partner's history.
pub async fn suspend_person_as(
    state: &AppState,
    author: Author<'_>,
    account: &Account,
    suspended: bool,
    reason: Option<&str>,
) -> HabResult<Account> {
    let id = &account.id;
    let reason = required_reason(reason)?;
    if account.closed_at.is_some() {
        return Err(HabilitationError::Conflict("Ce compte est fermé.".into()));
    }
    lifecycle::set_suspended(state, account, suspended, Some(reason)).await?;
    record(
        state,
        author,
        account.profile.partner.as_ref(),
        if suspended {
            "account.suspend"
        } else {
            "account.reactivate"
        },
        format!("account:{id}"),
        Some(reason),
        json!({}),
    )
    .await?;
    let account = state
        .stores
        .accounts
        .get_account(id)
        .await?
        .unwrap_or_else(|| account.clone());
    let notice = if suspended {
        notify::Notice::AccountSuspended
    } else {
        notify::Notice::AccountReactivated
    };
    notify::tell(state, author, &account, notice, Some(reason)).await?;
    Ok(account)
}

/// Closes a person's access on departure: every habilitation they hold directly is closed,
/// they leave their groups, and the account is closed (kept until retention removes it).
pub async fn close_person(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::CloseAccount {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    let reason = required_reason(reason)?;
    close_person_as(state, Author::Person(actor), &account, reason).await
}

pub(in crate::habilitations) async fn close_person_as(
    state: &AppState,
    author: Author<'_>,
    account: &Account,
    reason: &str,
) -> HabResult<()> {
    if account.closed_at.is_some() {
        return Ok(());
    }
    let store = &state.stores.habilitations;
    for h in store.habilitations_of_account(&account.id).await? {
        if h.holder == Holder::Account(account.id.clone()) && h.status != HabilitationStatus::Closed
        {
            store
                .set_habilitation_status(
                    &h.id,
                    HabilitationStatus::Closed,
                    &author.reference(),
                    Some(reason),
                    state.clock.now(),
                )
                .await?;
        }
    }
    for group in store.groups_of_account(&account.id).await? {
        store.remove_group_member(&group.id, &account.id).await?;
    }
    store
        .set_delegations(&account.id, &[], &author.reference(), state.clock.now())
        .await?;
    state
        .stores
        .accounts
        .close_account(&account.id, state.clock.now(), Some(reason))
        .await?;
    lifecycle::revoke_everything(state, account).await?;
    record_on_account(state, author, account, "account.close", Some(reason)).await?;
    notify::tell(
        state,
        author,
        account,
        notify::Notice::AccountClosed,
        Some(reason),
    )
    .await
}

/// Caf-side: the person must choose a new password before any relying application gets a
/// code again.
pub async fn force_password_change(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::ForcePasswordChange)?;
    force_password_change_as(state, Author::Person(actor), &account, reason).await
}

/// The forced password change once its rights are checked (or for an operator's tool).
pub async fn force_password_change_as(
    state: &AppState,
    author: Author<'_>,
    account: &Account,
    reason: Option<&str>,
) -> HabResult<()> {
    let reason = required_reason(reason)?;
    lifecycle::force_password_change(state, account).await?;
    record_on_account(
        state,
        author,
        account,
        "account.force_password_change",
        Some(reason),
    )
    .await?;
    notify::tell(
        state,
        author,
        account,
        notify::Notice::PasswordChangeRequested,
        Some(reason),
    )
    .await
}

/// The account status a person is shown with.
pub fn account_state_label(account: &Account) -> &'static str {
    match (account.closed_at, account.status) {
        (Some(_), _) => "fermé",
        (None, AccountStatus::Pending) => "en attente d'activation",
        (None, AccountStatus::Active) => "actif",
        (None, AccountStatus::Suspended) => "suspendu",
    }
}

/// An account as an automatic source (provisioning) states it, keyed by its email: created,
/// corrected or left as it is; recorded in its partner's history only when something changed.
pub async fn provision_account_as(
    state: &AppState,
    author: Author<'_>,
    profile: &AccountProfile,
) -> HabResult<(AccountId, Change)> {
    let (id, change) = state.stores.accounts.upsert_account(profile).await?;
    let action = match change {
        Change::Unchanged => return Ok((id, change)),
        Change::Created => "account.create",
        Change::Updated => "account.update",
    };
    record(
        state,
        author,
        profile.partner.as_ref(),
        action,
        format!("account:{id}"),
        None,
        json!({}),
    )
    .await?;
    Ok((id, change))
}

/// What an administrator may do to a person's access without changing their rights (unlock,
/// end the sessions, send the activation again): the same rule as correcting the person.
async fn access_of(state: &AppState, actor: &Actor, id: &AccountId) -> HabResult<Account> {
    let (account, context) = person(state, actor, id).await?;
    access::check(
        actor,
        &context,
        Action::EditPerson {
            target: Target::of(&account),
        },
    )?;
    check_within_delegation(state, actor, &context, &account).await?;
    if account.closed_at.is_some() {
        return Err(HabilitationError::Conflict("Ce compte est fermé.".into()));
    }
    Ok(account)
}

/// Records an action on a person's account, in their partner's history (no detail).
async fn record_on_account(
    state: &AppState,
    author: Author<'_>,
    account: &Account,
    action: &str,
    reason: Option<&str>,
) -> HabResult<()> {
    record(
        state,
        author,
        account.profile.partner.as_ref(),
        action,
        format!("account:{}", account.id),
        reason,
        json!({}),
    )
    .await
}

/// Lifts the temporary lock that repeated failed logins put on the person's identifier.
pub async fn unlock_person(state: &AppState, actor: &Actor, id: &AccountId) -> HabResult<()> {
    let account = access_of(state, actor, id).await?;
    let key = crate::accounts::throttle::identifier_key(account.profile.email.as_str());
    state.stores.throttle.clear_attempts(&key).await?;
    record_on_account(
        state,
        Author::Person(actor),
        &account,
        "account.unlock",
        None,
    )
    .await
}

/// Ends every open session of the person (and what was issued within them), on every device.
pub async fn end_person_sessions(state: &AppState, actor: &Actor, id: &AccountId) -> HabResult<()> {
    let account = access_of(state, actor, id).await?;
    end_sessions(state, &account.id).await?;
    record_on_account(
        state,
        Author::Person(actor),
        &account,
        "account.end_sessions",
        None,
    )
    .await
}

/// Mails the activation link again to a person who has not chosen a password yet (the
/// previous links stop working).
pub async fn resend_activation(state: &AppState, actor: &Actor, id: &AccountId) -> HabResult<()> {
    let account = access_of(state, actor, id).await?;
    if account.status != AccountStatus::Pending {
        return Err(HabilitationError::Conflict(
            "Cette personne a déjà activé son compte : pour un oubli, elle demande un nouveau mot de passe depuis la page de connexion.".into(),
        ));
    }
    lifecycle::send_activation(state, &account).await?;
    record_on_account(
        state,
        Author::Person(actor),
        &account,
        "account.resend_activation",
        None,
    )
    .await
}

/// Caf only: removes the person's second factors — the TOTP application with its recovery
/// codes, and every passkey (a lost phone, a lost key) — and ends their sessions; they enrol
/// again at their next login, where an administrative role or a service asks for it.
pub async fn reset_second_factor(
    state: &AppState,
    actor: &Actor,
    id: &AccountId,
    reason: Option<&str>,
) -> HabResult<()> {
    let (account, context) = person(state, actor, id).await?;
    access::check(actor, &context, Action::ResetSecondFactor)?;
    let reason = required_reason(reason)?;
    let totp = state.stores.factors.remove_totp(&account.id).await?;
    let passkeys = state
        .stores
        .passkeys
        .remove_passkeys_of(&account.id)
        .await?;
    if !totp && passkeys == 0 {
        return Err(HabilitationError::Conflict(
            "Cette personne n'a pas de second facteur enrôlé.".into(),
        ));
    }
    lifecycle::revoke_everything(state, &account).await?;
    record(
        state,
        Author::Person(actor),
        account.profile.partner.as_ref(),
        "account.reset_second_factor",
        format!("account:{id}"),
        Some(reason),
        json!({ "totp": totp, "passkeys": passkeys }),
    )
    .await
}
