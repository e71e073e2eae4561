//! Form pieces several console pages share: a grant's fields, a service role from a select,
//! dates, and the confirmation an address that looks shared asks for.

use super::{ConsoleUser, confirm_page};
use crate::habilitations::manage::GrantRequest;
use crate::habilitations::{HabilitationError, Record};
use crate::store::Holder;
use crate::types::{AccountId, ClientId, Email, GroupId, RoleCode};
use crate::web::error::PageResult;
use maud::html;
use serde::Deserialize;

/// `service|role` from a select.
pub(super) fn service_role(value: Option<&str>) -> Result<(ClientId, RoleCode), HabilitationError> {
    let invalid = || HabilitationError::Invalid("Choisissez un service et un rôle.".into());
    let (service, role) = value.and_then(|v| v.split_once('|')).ok_or_else(invalid)?;
    Ok((
        ClientId::parse(service).map_err(|_| invalid())?,
        RoleCode::parse(role).map_err(|_| invalid())?,
    ))
}

/// A date field (`AAAA-MM-JJ`), or the French message `missing` says when it is absent or
/// malformed.
pub(super) fn date(
    value: Option<&str>,
    missing: &str,
) -> Result<chrono::NaiveDate, HabilitationError> {
    value
        .and_then(|d| chrono::NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").ok())
        .ok_or_else(|| HabilitationError::Invalid(missing.to_owned()))
}

pub(super) fn end_of_day(value: Option<&str>) -> Result<Option<i64>, HabilitationError> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| date(Some(v), "Date de fin de validité invalide.").map(crate::clock::paris_end_of))
        .transpose()
}

#[derive(Deserialize)]
pub(super) struct GrantForm {
    /// `account:ID` or `group:ID`.
    pub holder: Option<String>,
    pub service_role: Option<String>,
    /// INSEE codes separated by commas, spaces or semicolons.
    pub scope: Option<String>,
    pub valid_until: Option<String>,
    pub reason: Option<String>,
}

impl GrantForm {
    /// The grant the form asks for (holder, service role, scope, last day).
    pub(super) fn request(&self) -> Result<GrantRequest, HabilitationError> {
        let holder = match self.holder.as_deref().and_then(|h| h.split_once(':')) {
            Some(("account", a)) => Holder::Account(AccountId::from_stored(a.to_owned())),
            Some(("group", g)) => Holder::Group(
                GroupId::parse(g).map_err(|_| HabilitationError::NotFound(Record::Group))?,
            ),
            _ => {
                return Err(HabilitationError::Invalid(
                    "Choisissez le titulaire.".into(),
                ));
            }
        };
        let (client_id, role) = service_role(self.service_role.as_deref())?;
        let scope = self
            .scope
            .as_deref()
            .map(crate::habilitations::scope_list)
            .unwrap_or_default();
        Ok(GrantRequest {
            holder,
            client_id,
            role,
            scope,
            valid_from: None,
            valid_until: end_of_day(self.valid_until.as_deref())?,
        })
    }
}

/// The confirmation an address that looks shared asks for: accounts are nominative; the
/// posted fields are carried through with `confirme=oui`.
pub(super) fn shared_address_page(
    user: &ConsoleUser,
    email: &Email,
    action: &str,
    raw: &[(String, String)],
    cancel: &str,
) -> PageResult {
    confirm_page(
        user,
        "Adresse partagée ?",
        html! {
            "L'adresse " strong { (email) } " ressemble à celle d'un service (accueil, secrétariat, service…), que plusieurs personnes lisent. "
            "Un compte Passerelle est nominatif : ses accès et ses traces sont ceux d'une seule personne. "
            "Confirmez seulement si cette adresse n'est lue que par la personne pour qui le compte est créé ; sinon, annulez et demandez son adresse professionnelle."
        },
        action,
        raw,
        cancel,
    )
}

/// An account id from a console address (at most 64 characters kept: longer is no id).
pub(super) fn account_id(id: &str) -> crate::types::AccountId {
    crate::types::AccountId::from_stored(id.chars().take(64).collect())
}

/// Back to a person's page, its message at the top and focused.
pub(super) fn back_to_person(
    id: &crate::types::AccountId,
    done: &str,
) -> crate::web::error::PageResult {
    use axum::response::IntoResponse;
    Ok(
        axum::response::Redirect::to(&format!("/console/personnes/{id}?fait={done}#message"))
            .into_response(),
    )
}
