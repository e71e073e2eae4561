//! The in-process ephemeral store: the embedded default. Each map sits behind its own mutex,
//! held only for the few instructions of one operation, so that single-use and rotation checks
//! are atomic. Expired entries are invisible at once and swept periodically.

use super::*;
use std::collections::HashMap;
use std::sync::Mutex;

struct Expiring<T> {
    value: T,
    expires_at: i64,
}

impl<T> Expiring<T> {
    fn live(&self, now: i64) -> bool {
        self.expires_at > now
    }
}

struct CodeEntry {
    code: CodeGrant,
    used: bool,
}

struct FamilyEntry {
    family: RefreshFamily,
    current: TokenHash,
    revoked: bool,
    /// The token replaced last, and when.
    previous: Option<(TokenHash, i64)>,
}

/// The most access tokens, and the most refresh tokens, kept at once (see
/// `sessions.memory_max_tokens`).
struct TokenLimit(usize);

/// `sessions.memory_max_tokens` by default.
pub const DEFAULT_MAX_TOKENS: usize = 500_000;

impl Default for TokenLimit {
    fn default() -> Self {
        Self(DEFAULT_MAX_TOKENS)
    }
}

#[derive(Default)]
pub struct MemoryStore {
    /// What "now" is for every expiry here (the application's clock).
    clock: crate::clock::Clock,
    max_tokens: TokenLimit,
    /// When a full map was last swept (seconds).
    full_sweep_at: std::sync::atomic::AtomicI64,
    sessions: Mutex<HashMap<SessionId, Expiring<Session>>>,
    pending: Mutex<HashMap<String, Expiring<PendingLogin>>>,
    pushed: Mutex<HashMap<TokenHash, Expiring<PushedRequest>>>,
    codes: Mutex<HashMap<TokenHash, Expiring<CodeEntry>>>,
    access_tokens: Mutex<HashMap<TokenHash, Expiring<AccessTokenRecord>>>,
    families: Mutex<HashMap<GrantId, Expiring<FamilyEntry>>>,
    refresh_index: Mutex<HashMap<TokenHash, Expiring<GrantId>>>,
    /// Sealed answers of refreshes, for the clients' grace windows.
    refresh_answers: Mutex<HashMap<TokenHash, Expiring<Vec<u8>>>>,
    /// Identifiers used once (client assertions' jti).
    claimed: Mutex<HashMap<TokenHash, Expiring<()>>>,
    revoked_grants: Mutex<HashMap<GrantId, i64>>,
    attempts: Mutex<HashMap<String, Expiring<Attempts>>>,
    challenges: Mutex<HashMap<String, Expiring<Challenge>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves the map consistent (every operation
    // mutates in one step), so a poisoned lock is still safe to use.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MemoryStore {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A store whose expiries follow `clock` (the application's), keeping at most
    /// `max_tokens` access tokens and as many refresh tokens.
    pub fn with_clock(clock: crate::clock::Clock, max_tokens: usize) -> Arc<Self> {
        Arc::new(Self {
            clock,
            max_tokens: TokenLimit(max_tokens),
            ..Self::default()
        })
    }

    /// Room for one more token in `map`: expired ones are dropped first when it is full.
    fn room<K: std::hash::Hash + Eq, V>(
        &self,
        map: &mut HashMap<K, Expiring<V>>,
        what: &str,
    ) -> StoreResult<()> {
        if map.len() < self.max_tokens.0 {
            return Ok(());
        }
        // A store kept at its limit sweeps once a second, not at every token.
        let now = self.clock.now();
        let last = self
            .full_sweep_at
            .swap(now, std::sync::atomic::Ordering::Relaxed);
        if last != now {
            map.retain(|_, e| e.live(now));
            if map.len() < self.max_tokens.0 {
                return Ok(());
            }
        }
        tracing::error!(
            limit = self.max_tokens.0,
            kept = map.len(),
            "in-memory store full: {what} refused (raise sessions.memory_max_tokens or use Redis)"
        );
        Err(StoreError::Backend(anyhow::anyhow!(
            "the in-memory store holds its maximum of {} {what}s",
            self.max_tokens.0
        )))
    }

    /// Drops expired entries; returns how many went.
    pub fn sweep(&self, now: i64) -> usize {
        fn retain<K: std::hash::Hash + Eq, V>(
            m: &Mutex<HashMap<K, Expiring<V>>>,
            now: i64,
        ) -> usize {
            let mut m = lock(m);
            let before = m.len();
            m.retain(|_, e| e.live(now));
            before - m.len()
        }
        let mut n = retain(&self.sessions, now)
            + retain(&self.pending, now)
            + retain(&self.pushed, now)
            + retain(&self.codes, now)
            + retain(&self.access_tokens, now)
            + retain(&self.families, now)
            + retain(&self.refresh_index, now)
            + retain(&self.refresh_answers, now)
            + retain(&self.claimed, now)
            + retain(&self.attempts, now)
            + retain(&self.challenges, now);
        let mut revoked = lock(&self.revoked_grants);
        let before = revoked.len();
        revoked.retain(|_, until| *until > now);
        n += before - revoked.len();
        n
    }

    /// Sweeps every `interval` until the runtime stops.
    pub fn spawn_sweeper(self: &Arc<Self>, interval: std::time::Duration) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(store) = weak.upgrade() else { break };
                store.sweep(store.clock.now());
            }
        });
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        lock(&self.sessions).insert(
            session.sid.clone(),
            Expiring {
                value: session.clone(),
                expires_at: session.expires_at,
            },
        );
        Ok(())
    }

    async fn get_session(&self, sid: &SessionId) -> StoreResult<Option<Session>> {
        let now = self.clock.now();
        Ok(lock(&self.sessions)
            .get(sid)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn add_session_grant(
        &self,
        sid: &SessionId,
        client: &ClientId,
        grant: Option<&GrantId>,
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let mut sessions = lock(&self.sessions);
        match sessions.get_mut(sid).filter(|e| e.live(now)) {
            Some(e) => {
                if !e.value.clients.contains(client) {
                    e.value.clients.push(client.clone());
                }
                e.value.grants.extend(grant.cloned());
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn remove_session(&self, sid: &SessionId) -> StoreResult<Option<Session>> {
        let now = self.clock.now();
        Ok(lock(&self.sessions)
            .remove(sid)
            .filter(|e| e.live(now))
            .map(|e| e.value))
    }

    async fn upgrade_session(
        &self,
        sid: &SessionId,
        acr: &str,
        amr: &[String],
    ) -> StoreResult<bool> {
        let now = self.clock.now();
        let mut sessions = lock(&self.sessions);
        match sessions.get_mut(sid).filter(|e| e.live(now)) {
            Some(e) => {
                e.value.acr = acr.to_owned();
                e.value.amr = amr.to_vec();
                e.value.awaiting_second_factor = false;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn touch_session(&self, sid: &SessionId, now: i64) -> StoreResult<bool> {
        let live = self.clock.now();
        let mut sessions = lock(&self.sessions);
        match sessions.get_mut(sid).filter(|e| e.live(live)) {
            Some(e) => {
                e.value.last_seen = e.value.last_seen.max(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn sessions_of_account(&self, account: &AccountId) -> StoreResult<Vec<Session>> {
        let now = self.clock.now();
        Ok(lock(&self.sessions)
            .values()
            .filter(|e| e.live(now) && &e.value.account == account)
            .map(|e| e.value.clone())
            .collect())
    }
}

#[async_trait]
impl PendingLoginStore for MemoryStore {
    async fn put_pending_login(
        &self,
        id: &str,
        pending: &PendingLogin,
        ttl: u64,
    ) -> StoreResult<()> {
        lock(&self.pending).insert(
            id.to_owned(),
            Expiring {
                value: pending.clone(),
                expires_at: self.clock.now() + ttl as i64,
            },
        );
        Ok(())
    }

    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        let now = self.clock.now();
        Ok(lock(&self.pending)
            .get(id)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn remove_pending_login(&self, id: &str) -> StoreResult<()> {
        lock(&self.pending).remove(id);
        Ok(())
    }

    async fn put_pushed_request(
        &self,
        hash: TokenHash,
        pushed: &PushedRequest,
        ttl: u64,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let mut all = lock(&self.pushed);
        all.retain(|_, e| e.live(now));
        all.insert(
            hash,
            Expiring {
                value: pushed.clone(),
                expires_at: now + ttl as i64,
            },
        );
        Ok(())
    }

    async fn take_pushed_request(&self, hash: TokenHash) -> StoreResult<Option<PushedRequest>> {
        let now = self.clock.now();
        Ok(lock(&self.pushed)
            .remove(&hash)
            .filter(|e| e.live(now))
            .map(|e| e.value))
    }
}

#[async_trait]
impl CodeStore for MemoryStore {
    async fn insert_code(&self, hash: TokenHash, code: &CodeGrant) -> StoreResult<()> {
        lock(&self.codes).insert(
            hash,
            Expiring {
                value: CodeEntry {
                    code: code.clone(),
                    used: false,
                },
                expires_at: code.expires_at,
            },
        );
        Ok(())
    }

    async fn consume_code(&self, hash: TokenHash) -> StoreResult<CodeConsumption> {
        let now = self.clock.now();
        let mut codes = lock(&self.codes);
        Ok(match codes.get_mut(&hash).filter(|e| e.live(now)) {
            None => CodeConsumption::Unknown,
            Some(e) if e.value.used => CodeConsumption::Replayed(e.value.code.clone()),
            Some(e) => {
                e.value.used = true;
                CodeConsumption::Fresh(e.value.code.clone())
            }
        })
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn insert_access_token(
        &self,
        hash: TokenHash,
        token: &AccessTokenRecord,
    ) -> StoreResult<()> {
        let mut tokens = lock(&self.access_tokens);
        self.room(&mut tokens, "access token")?;
        tokens.insert(
            hash,
            Expiring {
                value: token.clone(),
                expires_at: token.expires_at,
            },
        );
        Ok(())
    }

    async fn get_access_token(&self, hash: TokenHash) -> StoreResult<Option<AccessTokenRecord>> {
        let now = self.clock.now();
        Ok(lock(&self.access_tokens)
            .get(&hash)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn remove_access_token(&self, hash: TokenHash) -> StoreResult<()> {
        lock(&self.access_tokens).remove(&hash);
        Ok(())
    }

    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        refresh: TokenHash,
    ) -> StoreResult<()> {
        let mut index = lock(&self.refresh_index);
        self.room(&mut index, "refresh token")?;
        index.insert(
            refresh,
            Expiring {
                value: family.grant.clone(),
                expires_at: family.token_expires_at(family.issued_at),
            },
        );
        drop(index);
        lock(&self.families).insert(
            family.grant.clone(),
            Expiring {
                value: FamilyEntry {
                    family: family.clone(),
                    current: refresh,
                    revoked: false,
                    previous: None,
                },
                expires_at: family.expires_at,
            },
        );
        Ok(())
    }

    async fn rotate_refresh(
        &self,
        presented: TokenHash,
        next: TokenHash,
        now: i64,
        grace: i64,
    ) -> StoreResult<RefreshRotation> {
        let Some(grant) = lock(&self.refresh_index)
            .get(&presented)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone())
        else {
            return Ok(RefreshRotation::Unknown);
        };
        let mut families = lock(&self.families);
        let Some(entry) = families.get_mut(&grant).filter(|e| e.live(now)) else {
            return Ok(RefreshRotation::Unknown);
        };
        if entry.value.revoked {
            return Ok(RefreshRotation::Unknown);
        }
        if entry.value.current != presented {
            if entry
                .value
                .previous
                .is_some_and(|(token, at)| token == presented && grace > 0 && now - at <= grace)
            {
                return Ok(RefreshRotation::Grace(entry.value.family.clone()));
            }
            entry.value.revoked = true;
            let family = entry.value.family.clone();
            drop(families);
            lock(&self.revoked_grants).insert(grant, family.expires_at);
            return Ok(RefreshRotation::Reused(family));
        }
        // A full store refuses the new token before the presented one is spent (the lock
        // order is families, then the index, everywhere).
        self.room(&mut lock(&self.refresh_index), "refresh token")?;
        entry.value.current = next;
        entry.value.previous = Some((presented, now));
        let family = entry.value.family.clone();
        drop(families);
        lock(&self.refresh_index).insert(
            next,
            Expiring {
                value: grant,
                expires_at: family.token_expires_at(now),
            },
        );
        Ok(RefreshRotation::Rotated(family))
    }

    async fn put_refresh_answer(
        &self,
        presented: TokenHash,
        sealed: &[u8],
        expires_at: i64,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        let mut answers = lock(&self.refresh_answers);
        answers.retain(|_, e| e.live(now));
        answers.insert(
            presented,
            Expiring {
                value: sealed.to_vec(),
                expires_at,
            },
        );
        Ok(())
    }

    async fn claim_once(&self, id: TokenHash, expires_at: i64) -> StoreResult<bool> {
        let now = self.clock.now();
        let mut claimed = lock(&self.claimed);
        claimed.retain(|_, e| e.live(now));
        if claimed.contains_key(&id) {
            return Ok(false);
        }
        claimed.insert(
            id,
            Expiring {
                value: (),
                expires_at,
            },
        );
        Ok(true)
    }

    async fn get_refresh_answer(&self, presented: TokenHash) -> StoreResult<Option<Vec<u8>>> {
        let now = self.clock.now();
        Ok(lock(&self.refresh_answers)
            .get(&presented)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn find_refresh(&self, presented: TokenHash) -> StoreResult<Option<RefreshFamily>> {
        let now = self.clock.now();
        let Some(grant) = lock(&self.refresh_index)
            .get(&presented)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone())
        else {
            return Ok(None);
        };
        Ok(lock(&self.families)
            .get(&grant)
            .filter(|e| e.live(now) && !e.value.revoked && e.value.current == presented)
            .map(|e| e.value.family.clone()))
    }

    async fn revoke_grant(&self, grant: &GrantId, until: i64) -> StoreResult<()> {
        if let Some(e) = lock(&self.families).get_mut(grant) {
            e.value.revoked = true;
        }
        let mut revoked = lock(&self.revoked_grants);
        let entry = revoked.entry(grant.clone()).or_insert(until);
        *entry = (*entry).max(until);
        Ok(())
    }

    async fn revoke_grants_of_account(&self, account: &AccountId) -> StoreResult<usize> {
        let now = self.clock.now();
        let mut revoked = Vec::new();
        for entry in lock(&self.families).values_mut() {
            if entry.live(now) && !entry.value.revoked && &entry.value.family.account == account {
                entry.value.revoked = true;
                revoked.push((entry.value.family.grant.clone(), entry.expires_at));
            }
        }
        let mut marks = lock(&self.revoked_grants);
        for (grant, until) in &revoked {
            marks.insert(grant.clone(), *until);
        }
        drop(marks);
        // Access tokens of grants without a refresh family go too.
        lock(&self.access_tokens).retain(|_, e| e.value.account.as_ref() != Some(account));
        Ok(revoked.len())
    }

    async fn is_grant_revoked(&self, grant: &GrantId) -> StoreResult<bool> {
        let now = self.clock.now();
        Ok(lock(&self.revoked_grants)
            .get(grant)
            .is_some_and(|until| *until > now))
    }
}

// Login throttling and WebAuthn challenges.
#[path = "memory_gates.rs"]
mod gates;

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
