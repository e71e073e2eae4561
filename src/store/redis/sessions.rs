//! Sessions and pending logins in Redis (see `store::redis`).

use super::*;

#[async_trait]
impl SessionStore for RedisStore {
    async fn insert_session(&self, session: &Session) -> StoreResult<()> {
        let _: i64 = self
            .scripts
            .insert_session
            .key(self.key("s", session.sid.as_str()))
            .key(self.key("sa", session.account.as_str()))
            .arg(json(session))
            .arg(session.expires_at)
            .arg(session.account.as_str())
            .arg(session.sid.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn get_session(&self, sid: &SessionId) -> StoreResult<Option<Session>> {
        let fields: Vec<(String, String)> = self
            .conn()
            .hgetall(self.key("s", sid.as_str()))
            .await
            .map_err(backend)?;
        Self::session_from_fields(fields)
    }

    async fn add_session_grant(
        &self,
        sid: &SessionId,
        client: &ClientId,
        grant: Option<&GrantId>,
    ) -> StoreResult<bool> {
        let done: i64 = self
            .scripts
            .add_session_grant
            .key(self.key("s", sid.as_str()))
            .arg(client.as_str())
            .arg(grant.map_or("", GrantId::as_str))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(done == 1)
    }

    async fn remove_session(&self, sid: &SessionId) -> StoreResult<Option<Session>> {
        let fields: Vec<(String, String)> = self
            .scripts
            .remove_session
            .key(self.key("s", sid.as_str()))
            .arg(&self.prefix)
            .arg(sid.as_str())
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Self::session_from_fields(fields)
    }

    async fn upgrade_session(
        &self,
        sid: &SessionId,
        acr: &str,
        amr: &[String],
    ) -> StoreResult<bool> {
        let up = SecondFactor {
            acr: acr.to_owned(),
            amr: amr.to_vec(),
        };
        let done: i64 = self
            .scripts
            .upgrade_session
            .key(self.key("s", sid.as_str()))
            .arg(json(&up))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(done == 1)
    }

    async fn touch_session(&self, sid: &SessionId, now: i64) -> StoreResult<bool> {
        let done: i64 = self
            .scripts
            .touch_session
            .key(self.key("s", sid.as_str()))
            .arg(now)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        Ok(done == 1)
    }

    async fn sessions_of_account(&self, account: &AccountId) -> StoreResult<Vec<Session>> {
        let index = self.key("sa", account.as_str());
        let mut conn = self.conn();
        let sids: Vec<String> = conn.smembers(&index).await.map_err(backend)?;
        let mut sessions = Vec::with_capacity(sids.len());
        for sid in sids {
            let fields: Vec<(String, String)> =
                conn.hgetall(self.key("s", &sid)).await.map_err(backend)?;
            match Self::session_from_fields(fields)? {
                Some(session) => sessions.push(session),
                None => {
                    // Expired: forget it in the index too.
                    let _: i64 = conn.srem(&index, &sid).await.map_err(backend)?;
                }
            }
        }
        Ok(sessions)
    }
}

#[async_trait]
impl PendingLoginStore for RedisStore {
    async fn put_pending_login(
        &self,
        id: &str,
        pending: &PendingLogin,
        ttl: u64,
    ) -> StoreResult<()> {
        let _: () = self
            .conn()
            .set_ex(self.key("p", id), json(pending), ttl.max(1))
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn get_pending_login(&self, id: &str) -> StoreResult<Option<PendingLogin>> {
        self.get_json("pending login", &self.key("p", id)).await
    }

    async fn remove_pending_login(&self, id: &str) -> StoreResult<()> {
        let _: i64 = self.conn().del(self.key("p", id)).await.map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn put_pushed_request(
        &self,
        hash: TokenHash,
        pushed: &PushedRequest,
        ttl: u64,
    ) -> StoreResult<()> {
        let _: () = self
            .conn()
            .set_ex(self.key("par", &hash.to_b64()), json(pushed), ttl.max(1))
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn take_pushed_request(&self, hash: TokenHash) -> StoreResult<Option<PushedRequest>> {
        let text: Option<String> = self
            .conn()
            .get_del(self.key("par", &hash.to_b64()))
            .await
            .map_err(backend)?;
        self.replicated().await?;
        text.map(|t| from_json("pushed request", &t)).transpose()
    }
}
