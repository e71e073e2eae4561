//! Telling a person what was done to their access: suspension, reactivation, closure, a
//! habilitation granted, suspended, reactivated or withdrawn, a delegation that ends, a password
//! change the Caf asks for. Each mail names whom to contact: the contacts of the partner's
//! conventions in force (its habilitation officer, then the Caf's), or else its
//! administrators.
//!
//! Provisioning is not told: it writes a file's state (a demo's past), not news. Changes by
//! people and by operators' commands (`passerelle user …`) are.

use super::{Author, HabResult, PartnerContext};
use crate::state::AppState;
use crate::store::{Account, AdminRole, ContactRole, ContactSide, Habilitation, Partner};
use crate::types::{ClientId, RoleCode};

/// What happened, for the person it happened to.
#[derive(Debug, Clone)]
pub enum Notice {
    AccountSuspended,
    AccountReactivated,
    AccountClosed,
    /// "le rôle « Action sociale (T1) » du service « CDAP »".
    Granted(String),
    HabilitationSuspended(String),
    HabilitationReactivated(String),
    Withdrawn(String),
    DelegationEnded,
    PasswordChangeRequested,
    /// A suspended person asked for a new password: no link, and why.
    ResetWhileSuspended,
    /// Added to a group ("« Service instructeur RSA »"), with what its habilitations give.
    JoinedGroup(String, Vec<String>),
    LeftGroup(String, Vec<String>),
    /// To the partner's administrators and delegated managers: the Caf withdrew (true) or
    /// restored (false) the delegation of the convention numbered so.
    ModeChanged {
        convention: String,
        centralized: bool,
    },
}

impl Notice {
    fn subject(&self) -> &'static str {
        match self {
            Notice::AccountSuspended => "Votre accès aux services est suspendu",
            Notice::AccountReactivated => "Votre accès aux services est rétabli",
            Notice::AccountClosed => "Votre accès aux services est fermé",
            Notice::Granted(_) => "Une habilitation vous est attribuée",
            Notice::HabilitationSuspended(_) => "Une de vos habilitations est suspendue",
            Notice::HabilitationReactivated(_) => "Une de vos habilitations est rétablie",
            Notice::Withdrawn(_) => "Une de vos habilitations vous est retirée",
            Notice::DelegationEnded => "Vous n'êtes plus gestionnaire délégué",
            Notice::PasswordChangeRequested => "Changement de mot de passe demandé par la Caf",
            Notice::ResetWhileSuspended => "Votre demande de nouveau mot de passe",
            Notice::JoinedGroup(..) => "Vous rejoignez un groupe d'habilitations",
            Notice::LeftGroup(..) => "Vous quittez un groupe d'habilitations",
            Notice::ModeChanged {
                centralized: true, ..
            } => "La Caf gère désormais les habilitations de votre organisme",
            Notice::ModeChanged {
                centralized: false, ..
            } => "Vous gérez de nouveau les habilitations de votre organisme",
        }
    }

    fn sentence(&self) -> String {
        match self {
            Notice::AccountSuspended => "Votre compte Passerelle est suspendu à titre conservatoire : vous ne pouvez plus vous connecter aux services de la Caf tant que la suspension dure. Vos habilitations sont conservées.".into(),
            Notice::AccountReactivated => "La suspension de votre compte Passerelle est levée : vous pouvez de nouveau vous connecter aux services pour lesquels vous êtes habilité.".into(),
            Notice::AccountClosed => "Votre compte Passerelle est fermé (fin de mission ou départ) : vous ne pouvez plus vous connecter aux services de la Caf, et vos habilitations sont closes.".into(),
            Notice::Granted(what) => format!("Vous avez désormais {what}. Vous pouvez l'utiliser à votre prochaine connexion."),
            Notice::HabilitationSuspended(what) => format!("{} est suspendu : vous ne pouvez plus l'utiliser tant que la suspension dure.", capitalised(what)),
            Notice::HabilitationReactivated(what) => format!("{} est de nouveau actif : vous pouvez l'utiliser à votre prochaine connexion.", capitalised(what)),
            Notice::Withdrawn(what) => format!("{} vous est retiré : vous ne pouvez plus l'utiliser.", capitalised(what)),
            Notice::DelegationEnded => "Vous n'êtes plus gestionnaire délégué des habilitations de votre organisme : la console ne vous propose plus de les gérer. Vos propres habilitations ne changent pas.".into(),
            Notice::JoinedGroup(group, roles) if roles.is_empty() => format!("Vous faites désormais partie du groupe « {group} » de votre organisme ; il ne donne encore aucune habilitation."),
            Notice::JoinedGroup(group, roles) => format!("Vous faites désormais partie du groupe « {group} » de votre organisme, qui vous donne {}. Vous pouvez l'utiliser à votre prochaine connexion.", roles.join(", ")),
            Notice::LeftGroup(group, roles) if roles.is_empty() => format!("Vous ne faites plus partie du groupe « {group} » de votre organisme."),
            Notice::LeftGroup(group, roles) => format!("Vous ne faites plus partie du groupe « {group} » de votre organisme : vous perdez ce qu'il vous donnait ({}), sauf si vous le tenez autrement.", roles.join(", ")),
            Notice::ResetWhileSuspended => "Vous avez demandé un nouveau mot de passe. Votre compte Passerelle est suspendu : un nouveau mot de passe ne vous rendrait pas l'accès aux services, aucun lien ne vous est donc envoyé. Votre mot de passe actuel n'a pas changé.".into(),
            Notice::ModeChanged { convention, centralized: true } => format!("La Caf a retiré la délégation de gestion des habilitations pour la convention {convention} : vous ne pouvez plus attribuer, suspendre ni retirer d'habilitation vous-même. Adressez désormais vos demandes à la Caf depuis la console (« Demandes à la Caf » sur la page de votre organisme) ; elle les accepte ou les refuse, et vous êtes prévenu de sa décision."),
            Notice::ModeChanged { convention, centralized: false } => format!("La Caf a rétabli la délégation de gestion des habilitations pour la convention {convention} : vous attribuez, suspendez et retirez de nouveau les habilitations vous-même, dans la console, dans la limite des quotas."),
            Notice::PasswordChangeRequested => "La Caf vous demande de choisir un nouveau mot de passe : à votre prochaine connexion, Passerelle vous le fera changer avant de vous laisser continuer. Vos sessions ouvertes ont pris fin.".into(),
        }
    }
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Whom the person of `context` contacts: the conventions' habilitation officers (partner
/// side first, then the Caf's), or else the partner's administrators.
/// `person` is never told to contact themselves.
pub async fn contacts(
    state: &AppState,
    context: &PartnerContext,
    person: &Account,
) -> HabResult<Vec<String>> {
    let mut found: Vec<String> = Vec::new();
    for side in [ContactSide::Partner, ContactSide::Caf] {
        for convention in context.in_force() {
            for c in &convention.contacts {
                if c.side != side
                    || c.role != ContactRole::HabilitationOfficer
                    || c.email.as_ref() == Some(&person.profile.email)
                {
                    continue;
                }
                let how = c
                    .email
                    .as_ref()
                    .map(|e| e.to_string())
                    .or_else(|| c.phone.clone());
                let who = match how {
                    Some(h) => format!("{} ({h})", c.name),
                    None => c.name.clone(),
                };
                let line = match side {
                    ContactSide::Partner => {
                        format!("{who}, responsable des habilitations de votre organisme")
                    }
                    ContactSide::Caf => format!("{who}, responsable des habilitations à la Caf"),
                };
                if !found.contains(&line) {
                    found.push(line);
                }
            }
        }
    }
    if found.is_empty() {
        for a in state
            .stores
            .accounts
            .accounts_of_partner(&context.partner.id)
            .await?
        {
            if a.closed_at.is_none()
                && a.id != person.id
                && (a
                    .profile
                    .admin_roles
                    .contains(&AdminRole::PartnerAdministrator)
                    || a.profile
                        .admin_roles
                        .contains(&AdminRole::PartnerSubstitute))
            {
                let role = a
                    .profile
                    .admin_roles
                    .iter()
                    .find(|r| {
                        matches!(
                            r,
                            AdminRole::PartnerAdministrator | AdminRole::PartnerSubstitute
                        )
                    })
                    .map(|r| crate::labels::admin_role(*r, a.profile.civility.as_deref()))
                    .unwrap_or("administrateur");
                found.push(format!(
                    "{} {} ({}), {role} de votre organisme",
                    a.profile.given_name, a.profile.family_name, a.profile.email
                ));
            }
        }
    }
    Ok(found)
}

/// "le rôle « Action sociale (T1) » du service « CDAP »".
pub async fn role_words(
    state: &AppState,
    client_id: &ClientId,
    role: &RoleCode,
) -> HabResult<String> {
    Ok(match state.stores.services.get_service(client_id).await? {
        Some(s) => {
            let label = s
                .roles
                .iter()
                .find(|r| r.code == role.as_str())
                .map(|r| r.display())
                .unwrap_or_else(|| role.to_string());
            format!("le rôle « {label} » du service « {} »", s.name)
        }
        None => format!("le rôle « {role} » du service « {client_id} »"),
    })
}

/// Mails `account` what happened, with the reason when there is one. A failure to send is
/// logged, never undoes the change.
pub async fn tell(
    state: &AppState,
    author: Author<'_>,
    account: &Account,
    notice: Notice,
    reason: Option<&str>,
) -> HabResult<()> {
    // A person who has not activated the account yet learns everything from the activation
    // mail; a closed account reads nothing any more.
    if matches!(author, Author::System("provisioning"))
        || account.status == crate::store::AccountStatus::Pending
        || account.closed_at.is_some() && !matches!(notice, Notice::AccountClosed)
    {
        return Ok(());
    }
    send(state, account, notice, reason).await
}

/// A suspended person who asked for a new password is told why no link comes, and whom to
/// contact (the forgot page itself stays the same for everyone).
pub async fn explain_suspension(state: &AppState, account: &Account) -> HabResult<()> {
    send(
        state,
        account,
        Notice::ResetWhileSuspended,
        account.status_reason.as_deref(),
    )
    .await
}

async fn send(
    state: &AppState,
    account: &Account,
    notice: Notice,
    reason: Option<&str>,
) -> HabResult<()> {
    let (contacts, caf) = match &account.profile.partner {
        Some(p) => {
            let context = PartnerContext::load(state, p).await?;
            let caf = state
                .stores
                .organisations
                .get_caf(&context.partner.caf)
                .await?
                .map(|c| c.name);
            (contacts(state, &context, account).await?, caf)
        }
        None => (Vec::new(), None),
    };
    let mail = crate::mail::templates::notice(
        &crate::mail::templates::Recipient {
            address: account.profile.email.as_str(),
            name: &account.profile.given_name,
            caf: caf.as_deref(),
            services: &[],
        },
        notice.subject(),
        &notice.sentence(),
        reason,
        &contacts,
    );
    if let Err(e) = state.mailer.send(mail).await {
        tracing::error!(error = %e, account = %account.id, "a person was not told of a change to their access");
    }
    Ok(())
}

/// Tells every person a habilitation reaches (its holder, or its group's members).
pub async fn tell_reached(
    state: &AppState,
    author: Author<'_>,
    habilitation: &Habilitation,
    notice: impl Fn(String) -> Notice,
    reason: Option<&str>,
) -> HabResult<()> {
    if matches!(author, Author::System("provisioning")) {
        return Ok(());
    }
    let what = role_words(state, &habilitation.client_id, &habilitation.role).await?;
    for id in super::people_reached(state, habilitation).await? {
        if let Some(account) = state.stores.accounts.get_account(&id).await?
            && account.closed_at.is_none()
        {
            tell(state, author, &account, notice(what.clone()), reason).await?;
        }
    }
    Ok(())
}

/// The Caf's habilitation officers of a partner, who receive its requests.
pub async fn caf_officers(state: &AppState, partner: &Partner) -> HabResult<Vec<Account>> {
    Ok(state
        .stores
        .accounts
        .staff_of_caf(&partner.caf)
        .await?
        .into_iter()
        .filter(|a| {
            a.profile
                .admin_roles
                .contains(&AdminRole::CafHabilitationOfficer)
        })
        .collect())
}

/// Tells the habilitation officers of the partner's Caf that someone tried to create an
/// account for an address already used elsewhere (naming where), and traces the attempt.
pub(crate) async fn report_unavailable_email(
    state: &AppState,
    author: &Author<'_>,
    context: &PartnerContext,
    existing: &Account,
) -> HabResult<()> {
    let stores = &state.stores;
    let holder = match &existing.profile.partner {
        Some(p) => stores.organisations.get_partner(p).await?.map(|p| p.name),
        None => None,
    };
    let holder_caf = match existing
        .profile
        .caf
        .clone()
        .or(match &existing.profile.partner {
            Some(p) => stores.organisations.get_partner(p).await?.map(|p| p.caf),
            None => None,
        }) {
        Some(code) => stores.organisations.get_caf(&code).await?.map(|c| c.name),
        None => None,
    };
    let where_ = match (holder, holder_caf) {
        (Some(p), Some(c)) => format!("le compte d'une personne du partenaire « {p} » ({c})"),
        (None, Some(c)) => format!("le compte d'un agent de la {c}"),
        _ => "un autre compte".to_owned(),
    };
    let who = match author {
        Author::Person(actor) => format!(
            "{} {} ({})",
            actor.account.profile.given_name,
            actor.account.profile.family_name,
            actor.account.profile.email
        ),
        Author::System(name) => format!("l'outil « {name} »"),
    };
    let mut event = crate::traces::Event::new("admin.change", crate::store::Outcome::Failure)
        .partner(Some(context.partner.id.to_string()))
        .target(format!("account.create account:{}", existing.id))
        .reason("email_in_use_elsewhere");
    if let Author::Person(actor) = author {
        event = event.account(&actor.account);
    }
    state.tracer.record(event).await;
    let officers = caf_officers(state, &context.partner).await?;
    if officers.is_empty() {
        tracing::warn!(partner = %context.partner.id, "no Caf habilitation officer to tell of an address used elsewhere");
    }
    for officer in officers {
        let mail = crate::mail::templates::email_in_use(
            officer.profile.email.as_str(),
            &officer.profile.given_name,
            &who,
            &context.partner.name,
            existing.profile.email.as_str(),
            &where_,
        );
        if let Err(e) = state.mailer.send(mail).await {
            tracing::error!(error = %e, "Caf not told of an address used elsewhere");
        }
    }
    Ok(())
}

/// Tells a person they joined (or left) a group, and what its open habilitations give.
pub async fn tell_membership(
    state: &AppState,
    author: Author<'_>,
    group: &crate::store::Group,
    account: &crate::types::AccountId,
    joined: bool,
) -> HabResult<()> {
    if matches!(author, Author::System("provisioning")) {
        return Ok(());
    }
    let Some(person) = state.stores.accounts.get_account(account).await? else {
        return Ok(());
    };
    let mut roles = Vec::new();
    for h in state
        .stores
        .habilitations
        .habilitations_of_group(&group.id)
        .await?
    {
        if h.status != crate::store::HabilitationStatus::Closed {
            roles.push(role_words(state, &h.client_id, &h.role).await?);
        }
    }
    let notice = if joined {
        Notice::JoinedGroup(group.name.clone(), roles)
    } else {
        Notice::LeftGroup(group.name.clone(), roles)
    };
    tell(state, author, &person, notice, None).await
}
