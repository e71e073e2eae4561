//! The claims that describe a person to a relying application, shared by the ID token and
//! userinfo so that both always say the same thing.

use crate::habilitations::RoleClaim;
use crate::state::AppState;
use crate::store::{Account, ClaimsRequest, StoreResult};
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

/// Claims a relying application may ask for one by one (the `claims` parameter), with the
/// scope that gives each otherwise. `sub`, `caf`, `partner` and the authentication claims are
/// always there.
const REQUESTABLE: [(&str, &str); 6] = [
    ("email", "email"),
    ("email_verified", "email"),
    ("given_name", "profile"),
    ("family_name", "profile"),
    ("name", "profile"),
    ("habilitations", "habilitations"),
];

/// The `claims` request parameter (OIDC Core §5.5): a JSON object whose `id_token` and
/// `userinfo` members name claims, each `null` (voluntary) or an object (`essential`, `value`,
/// `values`). Claims Passerelle does not have are ignored; `acr` as essential, with values,
/// makes one of them required.
pub fn parse_claims_request(text: &str) -> Result<ClaimsRequest, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("claims is not JSON: {e}"))?;
    let Some(top) = value.as_object() else {
        return Err("claims must be a JSON object".into());
    };
    let mut request = ClaimsRequest::default();
    for (target, names) in top {
        let list = match target.as_str() {
            "id_token" => &mut request.id_token,
            "userinfo" => &mut request.userinfo,
            _ => continue,
        };
        let members = match names {
            serde_json::Value::Null => continue,
            serde_json::Value::Object(m) => m,
            _ => return Err(format!("claims.{target} must be a JSON object")),
        };
        for (name, spec) in members {
            if !(spec.is_null() || spec.is_object()) {
                return Err(format!(
                    "claims.{target}.{name} must be null or a JSON object"
                ));
            }
            if name == "acr" && spec["essential"] == serde_json::Value::Bool(true) {
                let values = match (&spec["value"], &spec["values"]) {
                    (serde_json::Value::String(v), _) => vec![v.clone()],
                    (_, serde_json::Value::Array(vs)) => vs
                        .iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                request.acr_required.extend(values);
            }
            if REQUESTABLE.iter().any(|(claim, _)| claim == name) && !list.contains(name) {
                list.push(name.clone());
            }
        }
    }
    request.acr_required.sort();
    request.acr_required.dedup();
    Ok(request)
}

/// The claims of `account` for `client_id`: those its `scope` gives, and the `extra` ones
/// asked for by name (the `claims` parameter).
pub async fn user_claims(
    state: &AppState,
    account: &Account,
    client_id: &ClientId,
    scope: &Scopes,
    extra: &[String],
    held: Option<&[crate::store::Habilitation]>,
) -> StoreResult<UserClaims> {
    let wants = |claim: &str| {
        extra.iter().any(|c| c == claim)
            || REQUESTABLE
                .iter()
                .any(|(c, s)| *c == claim && scope.contains(s))
    };
    let organisations = state.stores.organisations.as_ref();
    // The habilitations effective now, unless the caller has just read them.
    let habilitations = if wants("habilitations") {
        let read;
        let held = match held {
            Some(held) => held,
            None => {
                read = crate::habilitations::effective(state, account, client_id).await?;
                &read
            }
        };
        Some(crate::habilitations::roles_claim(held))
    } else {
        None
    };
    let p = &account.profile;
    // The partner's Caf, else the person's own (Caf staff).
    let found = match &p.partner {
        Some(id) => organisations.partner_with_caf(id).await?,
        None => None,
    };
    let (partner, caf) = match (found, &p.caf) {
        (Some((partner, caf)), _) => (Some(partner), caf),
        (None, Some(code)) => (None, organisations.get_caf(code).await?),
        (None, None) => (None, None),
    };
    Ok(UserClaims {
        sub: account.id.to_string(),
        // The address is proven by the activation link before the account can log in.
        email: wants("email").then(|| p.email.to_string()),
        email_verified: wants("email_verified").then_some(true),
        given_name: wants("given_name").then(|| p.given_name.clone()),
        family_name: wants("family_name").then(|| p.family_name.clone()),
        name: wants("name").then(|| format!("{} {}", p.given_name, p.family_name)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_claims_parameter_names_known_claims_and_requires_an_essential_acr() {
        let request = parse_claims_request(
            r#"{"id_token": {"email": null, "phone_number": null,
                "acr": {"essential": true, "values": ["urn:passerelle:acr:mfa"]}},
               "userinfo": {"habilitations": {"essential": true}, "name": null}}"#,
        )
        .unwrap();
        assert_eq!(request.id_token, ["email"]);
        assert_eq!(request.userinfo, ["habilitations", "name"]);
        assert_eq!(request.acr_required, ["urn:passerelle:acr:mfa"]);
        // A voluntary acr is no requirement; value counts as one of values.
        let voluntary = parse_claims_request(r#"{"id_token": {"acr": {"values": ["x"]}}}"#);
        assert!(voluntary.unwrap().acr_required.is_empty());
        let single =
            parse_claims_request(r#"{"userinfo": {"acr": {"essential": true, "value": "a"}}}"#);
        assert_eq!(single.unwrap().acr_required, ["a"]);
        for bad in [
            "[]",
            "{\"id_token\": 3}",
            "{\"userinfo\": {\"email\": 1}}",
            "not json",
        ] {
            assert!(parse_claims_request(bad).is_err(), "{bad}");
        }
    }
}
