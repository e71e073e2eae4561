//! Login attempt counters and CAPTCHA challenges in Redis (see `store::redis`).

use super::*;

#[async_trait]
impl ThrottleStore for RedisStore {
    async fn attempts(&self, key: &str, now: i64) -> StoreResult<Attempts> {
        let (counters, times) = self.throttle_keys(key);
        let ((consecutive, last), recent): ((Option<u32>, Option<i64>), Vec<i64>) = ::redis::pipe()
            .hget(&counters, &["consecutive", "last"])
            .lrange(&times, 0, -1)
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(Attempts {
            consecutive: consecutive.unwrap_or(0),
            last_failure_at: last.unwrap_or(0),
            recent: recent
                .into_iter()
                .filter(|t| t + FAILURE_WINDOW_SECONDS > now)
                .collect(),
        })
    }

    async fn record_failure(&self, key: &str, now: i64) -> StoreResult<Attempts> {
        let (counters, times) = self.throttle_keys(key);
        let (consecutive, recent): (u32, Vec<i64>) = self
            .scripts
            .record_failure
            .key(counters)
            .key(times)
            .arg(now)
            .arg(FAILURE_WINDOW_SECONDS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(Attempts {
            consecutive,
            last_failure_at: now,
            recent,
        })
    }

    async fn record_success(&self, key: &str) -> StoreResult<()> {
        let (counters, _) = self.throttle_keys(key);
        let _: i64 = self
            .scripts
            .record_success
            .key(counters)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn clear_attempts(&self, key: &str) -> StoreResult<()> {
        let (counters, times) = self.throttle_keys(key);
        let _: i64 = self.conn().del(&[counters, times]).await.map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ChallengeStore for RedisStore {
    async fn put_challenge(&self, id: &str, challenge: &Challenge) -> StoreResult<()> {
        self.put_expiring(&self.key("ch", id), json(challenge), challenge.expires_at)
            .await
    }

    async fn get_challenge(&self, id: &str) -> StoreResult<Option<Challenge>> {
        self.get_json("challenge", &self.key("ch", id)).await
    }

    async fn take_challenge(&self, id: &str) -> StoreResult<Option<Challenge>> {
        let text: Option<String> = self
            .conn()
            .get_del(self.key("ch", id))
            .await
            .map_err(backend)?;
        text.map(|t| from_json("challenge", &t)).transpose()
    }
}
