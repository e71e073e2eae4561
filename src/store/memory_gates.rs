//! The in-memory store's throttling counters and single-use WebAuthn challenges (part of
//! `memory.rs`).

use super::*;

#[async_trait]
impl ThrottleStore for MemoryStore {
    async fn attempts(&self, key: &str, now: i64) -> StoreResult<Attempts> {
        let mut a = lock(&self.attempts)
            .get(key)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone())
            .unwrap_or_default();
        a.recent.retain(|t| t + FAILURE_WINDOW_SECONDS > now);
        Ok(a)
    }

    async fn record_failure(&self, key: &str, now: i64) -> StoreResult<Attempts> {
        let mut map = lock(&self.attempts);
        let entry = map.entry(key.to_owned()).or_insert_with(|| Expiring {
            value: Attempts::default(),
            expires_at: 0,
        });
        if !entry.live(now) {
            entry.value = Attempts::default();
        }
        let a = &mut entry.value;
        a.consecutive += 1;
        a.last_failure_at = now;
        a.recent.retain(|t| t + FAILURE_WINDOW_SECONDS > now);
        a.recent.push(now);
        entry.expires_at = now + FAILURE_WINDOW_SECONDS;
        Ok(a.clone())
    }

    async fn record_success(&self, key: &str) -> StoreResult<()> {
        if let Some(e) = lock(&self.attempts).get_mut(key) {
            e.value.consecutive = 0;
        }
        Ok(())
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        lock(&self.attempts).remove(key);
        Ok(())
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn put_challenge(&self, id: &str, challenge: &Challenge) -> StoreResult<()> {
        lock(&self.challenges).insert(
            id.to_owned(),
            Expiring {
                value: challenge.clone(),
                expires_at: challenge.expires_at,
            },
        );
        Ok(())
    }

    async fn get_challenge(&self, id: &str) -> StoreResult<Option<Challenge>> {
        let now = self.clock.now();
        Ok(lock(&self.challenges)
            .get(id)
            .filter(|e| e.live(now))
            .map(|e| e.value.clone()))
    }

    async fn take_challenge(&self, id: &str) -> StoreResult<Option<Challenge>> {
        let now = self.clock.now();
        Ok(lock(&self.challenges)
            .remove(id)
            .filter(|e| e.live(now))
            .map(|e| e.value))
    }
}
