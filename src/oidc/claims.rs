//! The claims that describe a person to a relying application, shared by the ID token and
//! userinfo so that both always say the same thing.

use crate::habilitations::RoleClaim;
use crate::state::AppState;
use crate::store::{Account, StoreResult};
use crate::types::{ClientId, Scopes};
use openidconnect::AdditionalClaims;
use serde::{Deserialize, Serialize};

/// Scopes this provider understands; any other is ignored (OIDC Core §3.1.2.1) and left out
/// of the granted scope. `habilitations` adds the roles and scopes the person holds for the
/// requesting service; `offline_access` (Core §11) makes the refresh token outlive the
/// browser session.
pub const SUPPORTED_SCOPES: [&str; 5] = [
    "openid",
    "profile",
    "email",
    "habilitations",
    OFFLINE_ACCESS,
];

/// The scope of a refresh token that the end of the browser session does not revoke.
pub const OFFLINE_ACCESS: &str = "offline_access";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CafClaim {
    pub code: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerClaim {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub siret: Option<String>,
}

/// Claims beyond the standard ones, in the ID token (through openidconnect) and in userinfo.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasserelleClaims {
    /// The session id, for back-channel and front-channel logout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caf: Option<CafClaim>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner: Option<PartnerClaim>,
    /// The roles (and their scopes) held for the requesting service only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub habilitations: Option<Vec<RoleClaim>>,
}

impl AdditionalClaims for PasserelleClaims {}

/// What the granted scopes let a relying application know about a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserClaims {
    pub sub: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(flatten)]
    pub extra: PasserelleClaims,
}

pub async fn user_claims(
    state: &AppState,
    account: &Account,
    client_id: &ClientId,
    scope: &Scopes,
) -> StoreResult<UserClaims> {
    let organisations = state.stores.organisations.as_ref();
    let habilitations = if scope.contains("habilitations") {
        let held = crate::habilitations::effective(state, account, client_id).await?;
        Some(crate::habilitations::roles_claim(&held))
    } else {
        None
    };
    let p = &account.profile;
    let profile = scope.contains("profile");
    let email = scope.contains("email");
    let partner = match &p.partner {
        Some(id) => organisations.get_partner(id).await?,
        None => None,
    };
    let caf_code = partner
        .as_ref()
        .map(|p| p.caf.clone())
        .or_else(|| p.caf.clone());
    let caf = match caf_code {
        Some(code) => organisations.get_caf(&code).await?,
        None => None,
    };
    Ok(UserClaims {
        sub: account.id.to_string(),
        // The address is proven by the activation link before the account can log in.
        email: email.then(|| p.email.to_string()),
        email_verified: email.then_some(true),
        given_name: profile.then(|| p.given_name.clone()),
        family_name: profile.then(|| p.family_name.clone()),
        name: profile.then(|| format!("{} {}", p.given_name, p.family_name)),
        extra: PasserelleClaims {
            sid: None,
            caf: caf.map(|c| CafClaim {
                code: c.code.to_string(),
                name: c.name,
            }),
            partner: partner.map(|p| PartnerClaim {
                id: p.id.to_string(),
                name: p.name,
                siret: p.siret.map(|s| s.to_string()),
            }),
            habilitations,
        },
    })
}
