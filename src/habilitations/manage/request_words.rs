//! A request in words, for the Caf's queue, the partner's list and the mails: "créer le
//! compte de …", "retirer le rôle « … » du service « … » de …".

use super::*;
use crate::store::request::RequestedChange;

/// "Sophie Lambert (sophie.lambert@…)", a group's name, or the reference when it is gone.
async fn holder_words(state: &AppState, holder: &Holder) -> HabResult<String> {
    Ok(match holder {
        Holder::Account(id) => match state.stores.accounts.get_account(id).await? {
            Some(a) => format!(
                "{} {} ({})",
                a.profile.given_name, a.profile.family_name, a.profile.email
            ),
            None => "une personne qui n'a plus de compte".into(),
        },
        Holder::Group(id) => match state.stores.habilitations.get_group(id).await? {
            Some(g) => format!("le groupe « {} »", g.name),
            None => "un groupe fermé".into(),
        },
    })
}

/// Who filed or decided a request: "Marc Rousseau (marc.rousseau@…)" for an account
/// reference, the system's name for the others.
pub async fn author_words(state: &AppState, reference: &str) -> HabResult<String> {
    Ok(
        match state
            .stores
            .accounts
            .get_account(&AccountId::from_stored(reference.to_owned()))
            .await?
        {
            Some(a) => format!(
                "{} {} ({})",
                a.profile.given_name, a.profile.family_name, a.profile.email
            ),
            None => crate::labels::system_author(reference)
                .unwrap_or("une personne qui n'a plus de compte")
                .to_owned(),
        },
    )
}

/// What a request asks, in words after "demande de": "créer le compte de …", "retirer le
/// rôle … de Sophie Lambert (…)".
pub async fn describe(state: &AppState, change: &RequestedChange) -> HabResult<String> {
    let habilitation_words = |id: &HabilitationId| {
        let id = id.clone();
        async move {
            match state.stores.habilitations.get_habilitation(&id).await? {
                Some(h) => Ok::<_, HabilitationError>(format!(
                    "{} de {}",
                    crate::habilitations::notify::role_words(state, &h.client_id, &h.role).await?,
                    holder_words(state, &h.holder).await?
                )),
                None => Ok("une habilitation supprimée depuis".into()),
            }
        }
    };
    Ok(match change {
        RequestedChange::CreatePerson {
            email,
            given_name,
            family_name,
            function,
            ..
        } => format!(
            "créer le compte de {given_name} {family_name} ({email}{})",
            function
                .as_deref()
                .map(|f| format!(", {f}"))
                .unwrap_or_default()
        ),
        RequestedChange::Grant {
            holder,
            client_id,
            role,
            scope,
            valid_until,
        } => {
            let mut words = format!(
                "attribuer {} à {}",
                crate::habilitations::notify::role_words(state, client_id, role).await?,
                holder_words(state, holder).await?
            );
            if !scope.is_empty() {
                words.push_str(&format!(" (périmètre : {})", scope.join(", ")));
            }
            if let Some(until) = valid_until {
                words.push_str(&format!(
                    ", jusqu'au {}",
                    crate::labels::paris_day(until - 1)
                ));
            }
            words
        }
        RequestedChange::Suspend { habilitation } => {
            format!("suspendre {}", habilitation_words(habilitation).await?)
        }
        RequestedChange::Reactivate { habilitation } => {
            format!("réactiver {}", habilitation_words(habilitation).await?)
        }
        RequestedChange::Withdraw { habilitation } => {
            format!("retirer {}", habilitation_words(habilitation).await?)
        }
        RequestedChange::CloseAccount { account } => format!(
            "fermer le compte de {}",
            holder_words(state, &Holder::Account(account.clone())).await?
        ),
        RequestedChange::SuspendAccount { account } => format!(
            "suspendre le compte de {}",
            holder_words(state, &Holder::Account(account.clone())).await?
        ),
        RequestedChange::ReactivateAccount { account } => format!(
            "réactiver le compte de {}",
            holder_words(state, &Holder::Account(account.clone())).await?
        ),
    })
}

/// "Marc Rousseau (administrateur principal)".
pub(super) fn person_words(account: &Account) -> String {
    let roles = account
        .profile
        .admin_roles
        .iter()
        .map(|r| crate::labels::admin_role(*r, account.profile.civility.as_deref()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "{} {}{}",
        account.profile.given_name,
        account.profile.family_name,
        if roles.is_empty() {
            String::new()
        } else {
            format!(" ({roles})")
        }
    )
}

/// A requester at the start of a sentence: "Marc Rousseau (marc.rousseau@…), administrateur
/// principal," — followed by what they do.
pub(super) fn requester_words(account: &Account) -> String {
    let p = &account.profile;
    let roles = p
        .admin_roles
        .iter()
        .map(|r| crate::labels::admin_role(*r, p.civility.as_deref()))
        .collect::<Vec<_>>()
        .join(", ");
    if roles.is_empty() {
        format!("{} {} ({}),", p.given_name, p.family_name, p.email)
    } else {
        format!("{} {} ({}), {roles},", p.given_name, p.family_name, p.email)
    }
}
