//! Storage behind small async traits, one per aggregate, chosen once at start-up.
//!
//! Durable data (organisations, services, accounts, habilitations, credential links, signing
//! keys, server secrets) lives in SQLite ([`sqlite`], one node) or PostgreSQL ([`postgres`],
//! replicas), both from the SQL of [`sql`]; ephemeral data (sessions, pending logins, codes,
//! tokens, counters, challenges) in process memory ([`memory`]) or Redis ([`redis`]); traces in
//! their own store ([`trace`]). Everything is reached only through the traits below, picked once
//! in `app.rs`.
//!
//! Architecture Invariant: this module knows nothing of HTTP or of OAuth error codes. It stores
//! and returns records; deciding what they mean belongs to `oidc` and `accounts`.

pub mod directory;
pub mod habilitation;
pub mod memory;
pub mod postgres;
pub mod records;
pub mod redis;
pub mod request;
pub mod sealed;
pub mod security;
pub mod sql;
pub mod sqlite;
pub mod trace;

use crate::crypto::TokenHash;
use crate::types::{AccountId, CafCode, ClientId, Email, GrantId, PartnerId, SessionId};
use async_trait::async_trait;
pub use directory::{DirectoryStore, fold};
pub use habilitation::*;
pub use records::*;
pub use request::RequestStore;
pub use security::SecurityStore;
use std::sync::Arc;
pub use trace::*;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was violated (e.g. an email already used by another account).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A stored value could not be read back: the store was changed behind our back.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Backend(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// `as_str` (the code serde writes and the databases store) and `parse` for the enums whose
/// codes strum derives (`IntoStaticStr`, `EnumString`).
macro_rules! derived_codes {
    ($($t:ty),* $(,)?) => {$(
        impl $t {
            pub fn as_str(self) -> &'static str {
                self.into()
            }

            pub fn parse(value: &str) -> Option<Self> {
                value.parse().ok()
            }
        }
    )*};
}

derived_codes!(
    ConventionKind,
    HabilitationStatus,
    HabilitationMode,
    SigningAlg,
    GrantType,
    AccountStatus,
    LinkPurpose,
    Outcome,
);

/// What an idempotent upsert did, for provisioning reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Created,
    Updated,
    Unchanged,
}

#[async_trait]
pub trait OrganisationStore: Send + Sync {
    async fn upsert_caf(&self, caf: &Caf) -> StoreResult<Change>;
    async fn get_caf(&self, code: &CafCode) -> StoreResult<Option<Caf>>;
    async fn upsert_partner(&self, partner: &Partner) -> StoreResult<Change>;
    async fn get_partner(&self, id: &PartnerId) -> StoreResult<Option<Partner>>;
    /// The partner and its Caf, in one query (the claims of every token and userinfo).
    async fn partner_with_caf(&self, id: &PartnerId)
    -> StoreResult<Option<(Partner, Option<Caf>)>>;
    async fn list_cafs(&self) -> StoreResult<Vec<Caf>>;
    /// Partners by name, only those of `caf` when given.
    async fn list_partners(&self, caf: Option<&CafCode>) -> StoreResult<Vec<Partner>>;
}

#[async_trait]
pub trait ServiceStore: Send + Sync {
    async fn upsert_service(&self, service: &Service) -> StoreResult<Change>;
    async fn get_service(&self, client_id: &ClientId) -> StoreResult<Option<Service>>;
    async fn list_services(&self) -> StoreResult<Vec<Service>>;
}

#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Creates the account or updates its profile, keyed by email; never touches the password.
    async fn upsert_account(&self, profile: &AccountProfile) -> StoreResult<(AccountId, Change)>;
    async fn find_account_by_email(&self, email: &Email) -> StoreResult<Option<Account>>;
    async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>>;
    /// Replaces the password: the previous hash goes to the history (of which the newest
    /// `keep_history` are kept), a pending account becomes active, and the forced-change flag
    /// is cleared.
    async fn set_password_hash(&self, id: &AccountId, phc: &str) -> StoreResult<()>;
    /// Replaces the hash of the same password (stronger parameters): no history entry, no
    /// change of any other field.
    async fn rehash_password(&self, id: &AccountId, phc: &str) -> StoreResult<()>;
    /// The hashes of the previous passwords, newest first.
    async fn password_history(&self, id: &AccountId, limit: u32) -> StoreResult<Vec<String>>;
    async fn set_status(
        &self,
        id: &AccountId,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> StoreResult<()>;
    /// Closes the account for good (departure): suspended, with `closed_at` set.
    async fn close_account(&self, id: &AccountId, at: i64, reason: Option<&str>)
    -> StoreResult<()>;
    /// Erases the personal data of partner staff without an administrative role whose
    /// habilitations (direct or through a group) all ended before `ended_before`, or who
    /// held none and whose account was closed before then: the
    /// account keeps its id (habilitation records refer to it) and loses its email, names,
    /// function, password, second factor, links, tokens and memberships. Returns their ids.
    /// Before erasing, the holders of their closed habilitations not yet recorded are
    /// recorded (see `GrantStore::closed_holders_of_partner`).
    async fn erase_ended_accounts(&self, ended_before: i64, at: i64)
    -> StoreResult<Vec<AccountId>>;
    async fn insert_erasure_attestation(&self, attestation: &ErasureAttestation)
    -> StoreResult<()>;
    /// Oldest first.
    async fn erasure_attestations(&self) -> StoreResult<Vec<ErasureAttestation>>;
    /// The accounts of a partner, closed ones included (erased ones not), by family name.
    async fn accounts_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Account>>;
    /// Whether an open account of the partner is its principal administrator or substitute.
    async fn partner_has_administrator(&self, partner: &PartnerId) -> StoreResult<bool>;
    /// The open accounts holding an administrative role (e.g. the national operators).
    async fn accounts_with_role(&self, role: AdminRole) -> StoreResult<Vec<Account>>;
    /// The Caf's own staff (accounts of the Caf, not of a partner), open ones only.
    async fn staff_of_caf(&self, caf: &CafCode) -> StoreResult<Vec<Account>>;
    async fn set_must_change_password(&self, id: &AccountId, value: bool) -> StoreResult<()>;
    /// Stores a temporary password: valid until `expires_at`, to be changed at first login.
    async fn set_temporary_password(
        &self,
        id: &AccountId,
        phc: &str,
        expires_at: i64,
    ) -> StoreResult<()>;
    /// Marks a temporary password used: it will not open another session.
    async fn spend_temporary_password(&self, id: &AccountId, now: i64) -> StoreResult<()>;
}

#[async_trait]
pub trait LinkStore: Send + Sync {
    /// Stores a new link and revokes the account's earlier unused links of the same purpose.
    async fn insert_link(&self, hash: TokenHash, link: &CredentialLink) -> StoreResult<()>;
    async fn get_link(&self, hash: TokenHash) -> StoreResult<Option<CredentialLink>>;
    /// Atomically marks a live link used; refuses an unknown, expired, used or revoked one.
    async fn use_link(
        &self,
        hash: TokenHash,
        purpose: LinkPurpose,
        now: i64,
    ) -> StoreResult<Result<CredentialLink, LinkRefusal>>;
}

#[async_trait]
pub trait ApiTokenStore: Send + Sync {
    async fn insert_api_token(&self, hash: TokenHash, token: &ApiToken) -> StoreResult<()>;
    async fn find_api_token(&self, hash: TokenHash) -> StoreResult<Option<ApiToken>>;
    async fn api_tokens_of(&self, account: &AccountId) -> StoreResult<Vec<ApiToken>>;
    /// Revokes one token of the account; false if there was no such live token.
    async fn revoke_api_token(&self, account: &AccountId, id: &str, at: i64) -> StoreResult<bool>;
    /// Revokes every token of the account (password change, closure); returns how many.
    async fn revoke_api_tokens_of(&self, account: &AccountId, at: i64) -> StoreResult<u64>;
    async fn touch_api_token(&self, id: &str, at: i64) -> StoreResult<()>;
}

#[async_trait]
pub trait FactorStore: Send + Sync {
    async fn get_totp(&self, account: &AccountId) -> StoreResult<Option<TotpFactor>>;
    /// Starts an enrolment: stores an unconfirmed secret, replacing an unconfirmed one.
    /// Refused (false) when a confirmed factor exists.
    async fn begin_totp(&self, account: &AccountId, secret: &[u8], now: i64) -> StoreResult<bool>;
    /// Confirms the enrolment with the step of its first valid code, and replaces the
    /// recovery codes.
    async fn confirm_totp(
        &self,
        account: &AccountId,
        step: i64,
        recovery_sha256: &[[u8; 32]],
        now: i64,
    ) -> StoreResult<()>;
    /// Accepts a time step once: true if it is later than every step accepted before.
    async fn use_totp_step(&self, account: &AccountId, step: i64) -> StoreResult<bool>;
    /// Spends a recovery code: true if it existed unused.
    async fn use_recovery_code(
        &self,
        account: &AccountId,
        sha256: &[u8; 32],
        now: i64,
    ) -> StoreResult<bool>;
    async fn remaining_recovery_codes(&self, account: &AccountId) -> StoreResult<u32>;
    /// Removes the TOTP factor and its recovery codes (a lost phone): the person enrols again.
    /// True if there was one.
    async fn remove_totp(&self, account: &AccountId) -> StoreResult<bool>;
}

#[async_trait]
pub trait PasskeyStore: Send + Sync {
    /// Adds a passkey; `Conflict` when its credential id is already registered.
    async fn add_passkey(&self, passkey: &StoredPasskey) -> StoreResult<()>;
    /// The account's passkeys, oldest first.
    async fn passkeys_of(&self, account: &AccountId) -> StoreResult<Vec<StoredPasskey>>;
    async fn find_passkey(&self, credential_id: &[u8]) -> StoreResult<Option<StoredPasskey>>;
    /// Records a use: the credential as it is after it (its counter) and when.
    async fn use_passkey(&self, id: &str, credential: &str, at: i64) -> StoreResult<()>;
    /// Removes one of the account's passkeys; false if it has no such passkey.
    async fn remove_passkey(&self, account: &AccountId, id: &str) -> StoreResult<bool>;
    /// Removes every passkey of the account (a Caf's reset of the factors); how many.
    async fn remove_passkeys_of(&self, account: &AccountId) -> StoreResult<u64>;
}

#[async_trait]
pub trait KeyStore: Send + Sync {
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>>;
    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()>;
    /// Marks every active key of `alg` other than `keep` as retired at `at`.
    async fn retire_signing_keys(&self, alg: &str, keep: &str, at: i64) -> StoreResult<u64>;
    /// Deletes keys retired before `before` (their tokens have all expired).
    async fn delete_signing_keys_retired_before(&self, before: i64) -> StoreResult<u64>;
    /// Keeps the public part of a key about to be deleted (once per kid).
    async fn archive_public_key(&self, key: &RetiredPublicKey) -> StoreResult<()>;
    async fn retired_public_keys(&self) -> StoreResult<Vec<RetiredPublicKey>>;
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Returns the server secret `name`, storing `candidate` first if there is none yet. Every
    /// replica calls this at start-up and ends up with the same value.
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>>;
}

/// What a value kept encrypted at rest belongs to (see [`sealed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SealedSlot {
    /// A signing key's private part, by kid.
    SigningKey(String),
    /// An account's TOTP secret.
    Totp(AccountId),
    /// A server secret, by name.
    ServerSecret(String),
}

/// The stored bytes of the values kept encrypted at rest, for sealing those kept in clear and
/// rewrapping those sealed under another key-encryption key.
#[async_trait]
pub trait SealedValueStore: Send + Sync {
    /// Up to `limit` values whose stored bytes do not begin with `prefix` (16 bytes).
    async fn values_not_beginning_with(
        &self,
        prefix: &[u8],
        limit: u32,
    ) -> StoreResult<Vec<(SealedSlot, Vec<u8>)>>;
    /// Replaces a value if it still holds `old`; false when it changed or went meanwhile.
    async fn replace_value(&self, slot: &SealedSlot, old: &[u8], new: &[u8]) -> StoreResult<bool>;
    /// After values in clear were replaced: let no copy of them linger in the store's files
    /// where the store can see to it.
    async fn forget_overwritten(&self) -> StoreResult<()>;
}

#[async_trait]
pub trait SessionStore: Send + Sync {
    async fn insert_session(&self, session: &Session) -> StoreResult<()>;
    async fn get_session(&self, sid: &SessionId) -> StoreResult<Option<Session>>;
    /// Records that `client` received a grant within the session, and the grant itself when
    /// the end of the session revokes it (not an `offline_access` grant); returns false when
    /// the session is gone (ended or expired) and nothing was recorded.
    async fn add_session_grant(
        &self,
        sid: &SessionId,
        client: &ClientId,
        grant: Option<&GrantId>,
    ) -> StoreResult<bool>;
    async fn remove_session(&self, sid: &SessionId) -> StoreResult<Option<Session>>;
    /// Records a second factor on a live session: its new acr and amr, and it now
    /// authenticates the person. Returns false when the session is gone.
    async fn upgrade_session(
        &self,
        sid: &SessionId,
        acr: &str,
        amr: &[String],
    ) -> StoreResult<bool>;
    async fn sessions_of_account(&self, account: &AccountId) -> StoreResult<Vec<Session>>;
    /// Records activity at `now` on a live session (`last_seen`); false when it is gone.
    async fn touch_session(&self, sid: &SessionId, now: i64) -> StoreResult<bool>;
}

#[async_trait]
pub trait PendingLoginStore: Send + Sync {
    async fn put_pending_login(
        &self,
        id: &str,
        pending: &PendingLogin,
        ttl: u64,
    ) -> StoreResult<()>;
    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>>;
    async fn remove_pending_login(&self, id: &str) -> StoreResult<()>;
    /// Keeps a pushed authorization request (RFC 9126) for `ttl` seconds under the digest of
    /// its `request_uri`.
    async fn put_pushed_request(
        &self,
        hash: TokenHash,
        pushed: &PushedRequest,
        ttl: u64,
    ) -> StoreResult<()>;
    /// Removes and returns a pushed request: a `request_uri` is used once.
    async fn take_pushed_request(&self, hash: TokenHash) -> StoreResult<Option<PushedRequest>>;
}

#[async_trait]
pub trait CodeStore: Send + Sync {
    async fn insert_code(&self, hash: TokenHash, code: &CodeGrant) -> StoreResult<()>;
    /// Atomically marks the code used. A second call for the same code answers `Replayed` until
    /// the code would have expired, so that the caller can revoke what the first use issued.
    async fn consume_code(&self, hash: TokenHash) -> StoreResult<CodeConsumption>;
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn insert_access_token(
        &self,
        hash: TokenHash,
        token: &AccessTokenRecord,
    ) -> StoreResult<()>;
    async fn get_access_token(&self, hash: TokenHash) -> StoreResult<Option<AccessTokenRecord>>;
    async fn remove_access_token(&self, hash: TokenHash) -> StoreResult<()>;

    /// Starts a refresh-token family whose first token has digest `refresh`.
    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        refresh: TokenHash,
    ) -> StoreResult<()>;
    /// Atomically replaces the family's current token `presented` by `next`. Presenting a token
    /// the family already replaced revokes the whole family and answers `Reused` — except the
    /// token replaced last, within `grace` seconds of its rotation, which answers `Grace` and
    /// changes nothing.
    async fn rotate_refresh(
        &self,
        presented: TokenHash,
        next: TokenHash,
        now: i64,
        grace: i64,
    ) -> StoreResult<RefreshRotation>;
    /// Keeps the sealed answer of a refresh under the digest of the token it consumed, until
    /// `expires_at` (the end of the grace window).
    async fn put_refresh_answer(
        &self,
        presented: TokenHash,
        sealed: &[u8],
        expires_at: i64,
    ) -> StoreResult<()>;
    async fn get_refresh_answer(&self, presented: TokenHash) -> StoreResult<Option<Vec<u8>>>;
    /// Marks `id` used until `expires_at`; false when it already was (a client assertion's
    /// jti).
    async fn claim_once(&self, id: TokenHash, expires_at: i64) -> StoreResult<bool>;
    /// The family a refresh token belongs to, current or not, while the family exists.
    async fn find_refresh(&self, presented: TokenHash) -> StoreResult<Option<RefreshFamily>>;

    /// Revokes a grant: its refresh family and the access tokens issued under it, until
    /// `until` (after which they would all have expired anyway).
    async fn revoke_grant(&self, grant: &GrantId, until: i64) -> StoreResult<()>;
    async fn is_grant_revoked(&self, grant: &GrantId) -> StoreResult<bool>;
    /// Revokes every refresh family of an account (after a password change or a suspension);
    /// returns how many.
    async fn revoke_grants_of_account(&self, account: &AccountId) -> StoreResult<usize>;
}

/// Length of the window over which failures are capped.
pub const FAILURE_WINDOW_SECONDS: i64 = 24 * 3600;

#[async_trait]
pub trait ThrottleStore: Send + Sync {
    async fn attempts(&self, key: &str, now: i64) -> StoreResult<Attempts>;
    /// Atomically counts one failure and returns the new state.
    async fn record_failure(&self, key: &str, now: i64) -> StoreResult<Attempts>;
    /// A success ends the run of consecutive failures (the day's count stays).
    async fn record_success(&self, key: &str) -> StoreResult<()>;
    /// Forgets every failure (after a password reset or an unlock link).
    async fn clear_attempts(&self, key: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait ChallengeStore: Send + Sync {
    async fn put_challenge(&self, id: &str, challenge: &Challenge) -> StoreResult<()>;
    async fn get_challenge(&self, id: &str) -> StoreResult<Option<Challenge>>;
    /// Removes and returns the challenge: each is answered once, right or wrong.
    async fn take_challenge(&self, id: &str) -> StoreResult<Option<Challenge>>;
}

/// Every store the application uses, as trait objects picked once at start-up.
#[derive(Clone)]
pub struct Stores {
    pub organisations: Arc<dyn OrganisationStore>,
    pub services: Arc<dyn ServiceStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub keys: Arc<dyn KeyStore>,
    pub secrets: Arc<dyn SecretStore>,
    pub links: Arc<dyn LinkStore>,
    pub factors: Arc<dyn FactorStore>,
    pub passkeys: Arc<dyn PasskeyStore>,
    pub habilitations: Arc<dyn HabilitationStore>,
    pub directory: Arc<dyn DirectoryStore>,
    pub api_tokens: Arc<dyn ApiTokenStore>,
    pub security: Arc<dyn SecurityStore>,
    /// Kept apart from the rest (its own file or database).
    pub traces: Arc<dyn TraceStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub pending_logins: Arc<dyn PendingLoginStore>,
    pub codes: Arc<dyn CodeStore>,
    pub tokens: Arc<dyn TokenStore>,
    pub throttle: Arc<dyn ThrottleStore>,
    pub challenges: Arc<dyn ChallengeStore>,
}

/// Every durable trait: what a SQLite or PostgreSQL store provides.
pub trait Durable:
    OrganisationStore
    + ServiceStore
    + AccountStore
    + KeyStore
    + SecretStore
    + SealedValueStore
    + LinkStore
    + FactorStore
    + PasskeyStore
    + HabilitationStore
    + DirectoryStore
    + ApiTokenStore
    + SecurityStore
    + 'static
{
}

impl<T> Durable for T where
    T: OrganisationStore
        + ServiceStore
        + AccountStore
        + KeyStore
        + SecretStore
        + SealedValueStore
        + LinkStore
        + FactorStore
        + PasskeyStore
        + HabilitationStore
        + DirectoryStore
        + ApiTokenStore
        + SecurityStore
        + 'static
{
}

/// Every ephemeral trait: what the in-process store or Redis provides.
pub trait Ephemeral:
    SessionStore + PendingLoginStore + CodeStore + TokenStore + ThrottleStore + ChallengeStore + 'static
{
}

impl<T> Ephemeral for T where
    T: SessionStore
        + PendingLoginStore
        + CodeStore
        + TokenStore
        + ThrottleStore
        + ChallengeStore
        + 'static
{
}

impl Stores {
    /// The embedded default: SQLite for durable data, process memory for the rest.
    pub fn embedded(
        durable: Arc<sqlite::SqliteStore>,
        ephemeral: Arc<memory::MemoryStore>,
        traces: Arc<sqlite::traces::SqliteTraceStore>,
    ) -> Self {
        Self::assemble(durable, ephemeral, traces)
    }

    /// Any durable store, any ephemeral store, any trace store.
    pub fn assemble(
        durable: Arc<dyn Durable>,
        ephemeral: Arc<dyn Ephemeral>,
        traces: Arc<dyn TraceStore>,
    ) -> Self {
        Self {
            organisations: durable.clone(),
            services: durable.clone(),
            accounts: durable.clone(),
            keys: durable.clone(),
            secrets: durable.clone(),
            links: durable.clone(),
            factors: durable.clone(),
            passkeys: durable.clone(),
            habilitations: durable.clone(),
            directory: durable.clone(),
            api_tokens: durable.clone(),
            security: durable,
            traces,
            sessions: ephemeral.clone(),
            pending_logins: ephemeral.clone(),
            codes: ephemeral.clone(),
            tokens: ephemeral.clone(),
            throttle: ephemeral.clone(),
            challenges: ephemeral,
        }
    }
}

/// Seconds since the Unix epoch: the one clock every store and token uses.
pub fn now() -> i64 {
    crate::clock::system_now()
}

#[cfg(test)]
mod names {
    //! The derived (strum) names are the ones serde writes and the databases hold.
    use super::*;

    fn same<T: serde::Serialize + Copy + std::fmt::Debug>(
        values: &[T],
        name: fn(T) -> &'static str,
    ) {
        for v in values {
            assert_eq!(
                serde_json::to_value(v).unwrap(),
                serde_json::Value::String(name(*v).to_owned()),
                "{v:?}"
            );
        }
    }

    #[test]
    fn derived_names_are_the_serde_names_and_parse_back() {
        same(&ConventionKind::ALL, ConventionKind::as_str);
        same(&SigningAlg::ALL, SigningAlg::as_str);
        let modes = [HabilitationMode::Delegated, HabilitationMode::Centralized];
        same(&modes, HabilitationMode::as_str);
        let statuses = [
            HabilitationStatus::Active,
            HabilitationStatus::Suspended,
            HabilitationStatus::Closed,
        ];
        same(&statuses, HabilitationStatus::as_str);
        let accounts = [
            AccountStatus::Pending,
            AccountStatus::Active,
            AccountStatus::Suspended,
        ];
        same(&accounts, AccountStatus::as_str);
        let grants = [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ];
        same(&grants, GrantType::as_str);
        same(&[Outcome::Success, Outcome::Failure], Outcome::as_str);
        for m in modes {
            assert_eq!(HabilitationMode::parse(m.as_str()), Some(m));
        }
        for s in statuses {
            assert_eq!(HabilitationStatus::parse(s.as_str()), Some(s));
        }
        for a in accounts {
            assert_eq!(AccountStatus::parse(a.as_str()), Some(a));
        }
        for p in [
            LinkPurpose::Activation,
            LinkPurpose::Reset,
            LinkPurpose::Unlock,
        ] {
            assert_eq!(LinkPurpose::parse(p.as_str()), Some(p));
        }
        assert_eq!(HabilitationMode::parse("centralisé"), None);
        let role: AdminRole = "caf_habilitation_officer".parse().unwrap();
        assert_eq!(role, AdminRole::CafHabilitationOfficer);
    }
}
