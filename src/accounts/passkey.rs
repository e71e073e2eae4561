//! WebAuthn passkeys through webauthn-rs: enrolment, proof of one as a second factor, and a
//! login with a discoverable one alone.
//!
//! A ceremony's state (its challenge) is kept in the ephemeral store under a random id the
//! page carries, bound to the account and to what it is for, and taken once: an answer is
//! checked against it a single time, right or wrong. Passkeys are bound to the issuer's host
//! name, which must be a domain name (WebAuthn refuses IP addresses): on an issuer such as
//! `http://127.0.0.1:8080` they are not offered.

use crate::crypto::random_token_of;
use crate::store::{Account, Challenge, StoreResult, StoredPasskey, Stores};
use crate::types::AccountId;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

/// How long a ceremony waits for the authenticator.
pub const CEREMONY_SECONDS: i64 = 300;

/// The relying party Passerelle is for passkeys.
pub struct Passkeys {
    webauthn: Webauthn,
}

/// What a ceremony is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Enrol,
    Prove,
    /// A login with a discoverable passkey, for no account known yet.
    Login,
}

#[derive(Serialize, Deserialize)]
struct Ceremony {
    account: Option<String>,
    purpose: Purpose,
    state: serde_json::Value,
}

/// Why a passkey was not accepted.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum PasskeyRefusal {
    /// The ceremony is unknown, spent, expired, or another account's or purpose's.
    #[error("ceremony unknown or spent")]
    Ceremony,
    /// The browser's answer does not verify (or is not one).
    #[error("the authenticator's answer does not verify")]
    Answer,
    /// The key is already registered (to this account or another).
    #[error("passkey already registered")]
    Known,
}

/// A passkey proved: which, and RFC 8176's `amr` for it (`swk` for a key that can be synced
/// between devices, `hwk` for one bound to its device).
pub struct Proof {
    pub passkey: String,
    pub amr: &'static str,
}

impl Passkeys {
    /// For `issuer`; `None` when its host is not a domain name.
    pub fn for_issuer(issuer: &str) -> Option<Self> {
        let url = Url::parse(issuer).ok()?;
        let host = url.domain()?.to_owned();
        let webauthn = WebauthnBuilder::new(&host, &url)
            .ok()?
            .rp_name("Passerelle")
            .timeout(std::time::Duration::from_secs(CEREMONY_SECONDS as u64))
            .build()
            .ok()?;
        Some(Self { webauthn })
    }

    /// Starts adding a passkey to `account`: the options for `navigator.credentials.create`
    /// (JSON) and the id of the ceremony kept.
    pub async fn start_enrolment(
        &self,
        stores: &Stores,
        now: i64,
        account: &Account,
    ) -> anyhow::Result<(String, String)> {
        let existing = stores.passkeys.passkeys_of(&account.id).await?;
        let exclude = existing
            .iter()
            .filter_map(|p| serde_json::from_str::<Passkey>(&p.credential).ok())
            .map(|p| p.cred_id().clone())
            .collect();
        let user = Uuid::parse_str(account.id.as_str())?;
        let p = &account.profile;
        let (options, registration) = self.webauthn.start_passkey_registration(
            user,
            p.email.as_str(),
            &format!("{} {}", p.given_name, p.family_name),
            Some(exclude),
        )?;
        // A discoverable credential where the authenticator can keep one.
        let mut options = serde_json::to_value(&options)?;
        if let Some(selection) = options["publicKey"]["authenticatorSelection"].as_object_mut() {
            selection.insert("residentKey".into(), "preferred".into());
        }
        let id = keep(
            stores,
            now,
            Some(&account.id),
            Purpose::Enrol,
            &registration,
        )
        .await?;
        Ok((options.to_string(), id))
    }

    /// Verifies the browser's answer to an enrolment and stores the passkey as `name`.
    pub async fn finish_enrolment(
        &self,
        stores: &Stores,
        now: i64,
        account: &Account,
        ceremony: &str,
        answer: &str,
        name: &str,
    ) -> anyhow::Result<Result<(StoredPasskey, &'static str), PasskeyRefusal>> {
        let (registration, answer) =
            match opened::<PasskeyRegistration, RegisterPublicKeyCredential>(
                stores,
                now,
                Some(&account.id),
                Purpose::Enrol,
                ceremony,
                answer,
            )
            .await?
            {
                Ok(pair) => pair,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let Ok(passkey) = self
            .webauthn
            .finish_passkey_registration(&answer, &registration)
        else {
            return Ok(Err(PasskeyRefusal::Answer));
        };
        let amr = amr(serde_json::to_value(&passkey)?["cred"]["backup_eligible"] == true);
        let stored = StoredPasskey {
            id: random_token_of(12),
            account: account.id.clone(),
            credential_id: AsRef::<[u8]>::as_ref(passkey.cred_id()).to_vec(),
            name: name.to_owned(),
            credential: serde_json::to_string(&passkey)?,
            created_at: now,
            last_used_at: None,
        };
        match stores.passkeys.add_passkey(&stored).await {
            Ok(()) => Ok(Ok((stored, amr))),
            Err(crate::store::StoreError::Conflict(_)) => Ok(Err(PasskeyRefusal::Known)),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the proof of one of `account`'s passkeys: the options for
    /// `navigator.credentials.get` and the ceremony's id; `None` when it has none.
    pub async fn start_proof(
        &self,
        stores: &Stores,
        now: i64,
        account: &Account,
    ) -> anyhow::Result<Option<(String, String)>> {
        let passkeys: Vec<Passkey> = stores
            .passkeys
            .passkeys_of(&account.id)
            .await?
            .iter()
            .filter_map(|p| serde_json::from_str(&p.credential).ok())
            .collect();
        if passkeys.is_empty() {
            return Ok(None);
        }
        let (options, authentication) = self.webauthn.start_passkey_authentication(&passkeys)?;
        let id = keep(
            stores,
            now,
            Some(&account.id),
            Purpose::Prove,
            &authentication,
        )
        .await?;
        Ok(Some((serde_json::to_string(&options)?, id)))
    }

    /// Verifies the browser's answer to a proof, and records the passkey's use.
    pub async fn finish_proof(
        &self,
        stores: &Stores,
        now: i64,
        account: &Account,
        ceremony: &str,
        answer: &str,
    ) -> anyhow::Result<Result<Proof, PasskeyRefusal>> {
        let (authentication, answer) = match opened::<PasskeyAuthentication, PublicKeyCredential>(
            stores,
            now,
            Some(&account.id),
            Purpose::Prove,
            ceremony,
            answer,
        )
        .await?
        {
            Ok(pair) => pair,
            Err(refusal) => return Ok(Err(refusal)),
        };
        let Ok(result) = self
            .webauthn
            .finish_passkey_authentication(&answer, &authentication)
        else {
            return Ok(Err(PasskeyRefusal::Answer));
        };
        let Some(stored) = stores
            .passkeys
            .find_passkey(AsRef::<[u8]>::as_ref(result.cred_id()))
            .await?
            .filter(|p| p.account == account.id)
        else {
            // Removed while the ceremony ran.
            return Ok(Err(PasskeyRefusal::Answer));
        };
        let mut passkey: Passkey = serde_json::from_str(&stored.credential)?;
        passkey.update_credential(&result);
        let credential = serde_json::to_string(&passkey)?;
        stores
            .passkeys
            .use_passkey(&stored.id, &credential, now)
            .await?;
        Ok(Ok(Proof {
            passkey: stored.id,
            amr: amr(result.backup_eligible()),
        }))
    }
}

impl Passkeys {
    /// Starts a login with a discoverable passkey (the browser offers those it has for
    /// Passerelle): the options for `navigator.credentials.get` and the ceremony's id.
    pub async fn start_login(&self, stores: &Stores, now: i64) -> anyhow::Result<(String, String)> {
        let (mut options, authentication) = self.webauthn.start_discoverable_authentication()?;
        // Asked by a button, not offered in the identifier field's autofill.
        options.mediation = None;
        let id = keep(stores, now, None, Purpose::Login, &authentication).await?;
        Ok((serde_json::to_string(&options)?, id))
    }

    /// Verifies a login's answer: whose passkey it is (by its user handle, which must be the
    /// passkey's own account), and the proof; the use is recorded.
    pub async fn finish_login(
        &self,
        stores: &Stores,
        now: i64,
        ceremony: &str,
        answer: &str,
    ) -> anyhow::Result<Result<(AccountId, Proof), PasskeyRefusal>> {
        let (authentication, answer) =
            match opened::<DiscoverableAuthentication, PublicKeyCredential>(
                stores,
                now,
                None,
                Purpose::Login,
                ceremony,
                answer,
            )
            .await?
            {
                Ok(pair) => pair,
                Err(refusal) => return Ok(Err(refusal)),
            };
        let Ok((user, credential_id)) = self.webauthn.identify_discoverable_authentication(&answer)
        else {
            return Ok(Err(PasskeyRefusal::Answer));
        };
        let Some(stored) = stores
            .passkeys
            .find_passkey(credential_id)
            .await?
            .filter(|p| p.account.as_str() == user.to_string())
        else {
            return Ok(Err(PasskeyRefusal::Answer));
        };
        let mut passkey: Passkey = serde_json::from_str(&stored.credential)?;
        let Ok(result) =
            self.webauthn
                .finish_discoverable_authentication_v2(&answer, authentication, &passkey)
        else {
            return Ok(Err(PasskeyRefusal::Answer));
        };
        passkey.update_credential(&result);
        stores
            .passkeys
            .use_passkey(&stored.id, &serde_json::to_string(&passkey)?, now)
            .await?;
        Ok(Ok((
            stored.account,
            Proof {
                passkey: stored.id,
                amr: amr(result.backup_eligible()),
            },
        )))
    }
}

/// RFC 8176's method for a passkey: `swk` when it may be synced between devices (backup
/// eligible), `hwk` when it is bound to its device.
fn amr(backup_eligible: bool) -> &'static str {
    if backup_eligible { "swk" } else { "hwk" }
}

/// Keeps a ceremony's state for `account`; answers its id.
async fn keep<T: Serialize>(
    stores: &Stores,
    now: i64,
    account: Option<&AccountId>,
    purpose: Purpose,
    value: &T,
) -> anyhow::Result<String> {
    let id = random_token_of(24);
    let ceremony = Ceremony {
        account: account.map(|a| a.to_string()),
        purpose,
        state: serde_json::to_value(value)?,
    };
    let challenge = Challenge {
        answers: vec![],
        work_salt: String::new(),
        work_bits: 0,
        png: vec![],
        expires_at: now + CEREMONY_SECONDS,
        ceremony: Some(serde_json::to_string(&ceremony)?),
    };
    stores.challenges.put_challenge(&id, &challenge).await?;
    Ok(id)
}

/// The ceremony's state, taken once, and the browser's answer read as `A`.
async fn opened<S: serde::de::DeserializeOwned, A: serde::de::DeserializeOwned>(
    stores: &Stores,
    now: i64,
    account: Option<&AccountId>,
    purpose: Purpose,
    ceremony: &str,
    answer: &str,
) -> StoreResult<Result<(S, A), PasskeyRefusal>> {
    let Some(state) = take::<S>(stores, now, account, purpose, ceremony).await? else {
        return Ok(Err(PasskeyRefusal::Ceremony));
    };
    Ok(serde_json::from_str(answer)
        .map(|a| (state, a))
        .map_err(|_| PasskeyRefusal::Answer))
}

/// Takes a ceremony's state once, if it is `account`'s for `purpose` and still live.
async fn take<T: serde::de::DeserializeOwned>(
    stores: &Stores,
    now: i64,
    account: Option<&AccountId>,
    purpose: Purpose,
    id: &str,
) -> StoreResult<Option<T>> {
    let Some(challenge) = stores.challenges.take_challenge(id).await? else {
        return Ok(None);
    };
    if challenge.expires_at <= now {
        return Ok(None);
    }
    Ok(challenge
        .ceremony
        .and_then(|c| serde_json::from_str::<Ceremony>(&c).ok())
        .filter(|c| c.account.as_deref() == account.map(AccountId::as_str) && c.purpose == purpose)
        .and_then(|c| serde_json::from_value(c.state).ok()))
}

/// Whether the person has a second factor to give: a confirmed TOTP application or a passkey.
pub async fn has_second_factor(stores: &Stores, account: &Account) -> StoreResult<bool> {
    Ok(
        crate::accounts::totp::enrolled(stores.factors.as_ref(), account).await?
            || !stores.passkeys.passkeys_of(&account.id).await?.is_empty(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passkeys_need_a_domain_name() {
        assert!(Passkeys::for_issuer("https://passerelle.caf.example").is_some());
        assert!(Passkeys::for_issuer("http://localhost:8080").is_some());
        assert!(Passkeys::for_issuer("http://127.0.0.1:8080").is_none());
        assert!(Passkeys::for_issuer("not a url").is_none());
    }
}
