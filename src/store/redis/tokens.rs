//! Authorization codes, refresh-token families and access tokens in Redis (see `store::redis`).

use super::*;

#[async_trait]
impl CodeStore for RedisStore {
    async fn insert_code(&self, hash: TokenHash, code: &CodeGrant) -> StoreResult<()> {
        let key = self.key("code", &hash.to_b64());
        if code.expires_at <= now() {
            return Ok(());
        }
        let _: () = ::redis::pipe()
            .atomic()
            .hset(&key, "v", json(code))
            .ignore()
            .cmd("EXPIREAT")
            .arg(&key)
            .arg(code.expires_at)
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn consume_code(&self, hash: TokenHash) -> StoreResult<CodeConsumption> {
        let (state, value): (i64, Option<String>) = self
            .scripts
            .consume_code
            .key(self.key("code", &hash.to_b64()))
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(match (state, value) {
            (1, Some(v)) => CodeConsumption::Fresh(from_json("code", &v)?),
            (2, Some(v)) => CodeConsumption::Replayed(from_json("code", &v)?),
            _ => CodeConsumption::Unknown,
        })
    }
}

#[async_trait]
impl TokenStore for RedisStore {
    async fn insert_access_token(
        &self,
        hash: TokenHash,
        token: &AccessTokenRecord,
    ) -> StoreResult<()> {
        let digest = hash.to_b64();
        self.put_expiring(&self.key("at", &digest), json(token), token.expires_at)
            .await?;
        if let Some(account) = &token.account
            && token.expires_at > now()
        {
            self.index(
                &self.key("ata", account.as_str()),
                &digest,
                token.expires_at,
            )
            .await?;
        }
        self.replicated().await
    }

    async fn get_access_token(&self, hash: TokenHash) -> StoreResult<Option<AccessTokenRecord>> {
        self.get_json("access token", &self.key("at", &hash.to_b64()))
            .await
    }

    async fn remove_access_token(&self, hash: TokenHash) -> StoreResult<()> {
        let _: i64 = self
            .conn()
            .del(self.key("at", &hash.to_b64()))
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn create_refresh_family(
        &self,
        family: &RefreshFamily,
        refresh: TokenHash,
    ) -> StoreResult<()> {
        if family.expires_at <= now() {
            return Ok(());
        }
        let grant = family.grant.as_str();
        let (fk, rk) = (self.key("f", grant), self.key("r", &refresh.to_b64()));
        let _: () = ::redis::pipe()
            .atomic()
            .hset_multiple(
                &fk,
                &[
                    ("v", json(family)),
                    ("cur", refresh.to_b64()),
                    ("rev", "0".into()),
                    ("idle", family.idle_seconds.to_string()),
                ],
            )
            .ignore()
            .cmd("EXPIREAT")
            .arg(&fk)
            .arg(family.expires_at)
            .ignore()
            .cmd("SET")
            .arg(&rk)
            .arg(grant)
            .arg("EXAT")
            .arg(family.token_expires_at(family.issued_at))
            .ignore()
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.index(
            &self.key("fa", family.account.as_str()),
            grant,
            family.expires_at,
        )
        .await?;
        self.replicated().await
    }

    async fn rotate_refresh(
        &self,
        presented: TokenHash,
        next: TokenHash,
        now: i64,
        grace: i64,
    ) -> StoreResult<RefreshRotation> {
        let (state, value): (i64, Option<String>) = self
            .scripts
            .rotate_refresh
            .key(self.key("r", &presented.to_b64()))
            .arg(presented.to_b64())
            .arg(next.to_b64())
            .arg(&self.prefix)
            .arg(now)
            .arg(grace)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(match (state, value) {
            (1, Some(v)) => RefreshRotation::Rotated(from_json("refresh family", &v)?),
            (2, Some(v)) => RefreshRotation::Reused(from_json("refresh family", &v)?),
            (3, Some(v)) => RefreshRotation::Grace(from_json("refresh family", &v)?),
            _ => RefreshRotation::Unknown,
        })
    }

    async fn put_refresh_answer(
        &self,
        presented: TokenHash,
        sealed: &[u8],
        expires_at: i64,
    ) -> StoreResult<()> {
        let _: () = ::redis::cmd("SET")
            .arg(self.key("ra", &presented.to_b64()))
            .arg(sealed)
            .arg("EXAT")
            .arg(expires_at)
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn claim_once(&self, id: TokenHash, expires_at: i64) -> StoreResult<bool> {
        let set: Option<String> = ::redis::cmd("SET")
            .arg(self.key("once", &id.to_b64()))
            .arg("1")
            .arg("NX")
            .arg("EXAT")
            .arg(expires_at.max(1))
            .query_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(set.is_some())
    }

    async fn get_refresh_answer(&self, presented: TokenHash) -> StoreResult<Option<Vec<u8>>> {
        self.conn()
            .get(self.key("ra", &presented.to_b64()))
            .await
            .map_err(backend)
    }

    async fn find_refresh(&self, presented: TokenHash) -> StoreResult<Option<RefreshFamily>> {
        let mut conn = self.conn();
        let digest = presented.to_b64();
        let grant: Option<String> = conn.get(self.key("r", &digest)).await.map_err(backend)?;
        let Some(grant) = grant else {
            return Ok(None);
        };
        let (value, current, revoked): (Option<String>, Option<String>, Option<String>) = conn
            .hget(self.key("f", &grant), &["v", "cur", "rev"])
            .await
            .map_err(backend)?;
        match value {
            Some(v) if current.as_deref() == Some(&digest) && revoked.as_deref() != Some("1") => {
                Ok(Some(from_json("refresh family", &v)?))
            }
            _ => Ok(None),
        }
    }

    async fn revoke_grant(&self, grant: &GrantId, until: i64) -> StoreResult<()> {
        let _: i64 = self
            .scripts
            .revoke_grant
            .key(self.key("f", grant.as_str()))
            .key(self.key("rg", grant.as_str()))
            .arg(until)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(())
    }

    async fn is_grant_revoked(&self, grant: &GrantId) -> StoreResult<bool> {
        self.conn()
            .exists(self.key("rg", grant.as_str()))
            .await
            .map_err(backend)
    }

    async fn revoke_grants_of_account(&self, account: &AccountId) -> StoreResult<usize> {
        let n: i64 = self
            .scripts
            .revoke_grants_of_account
            .key(self.key("fa", account.as_str()))
            .key(self.key("ata", account.as_str()))
            .arg(&self.prefix)
            .invoke_async(&mut self.conn())
            .await
            .map_err(backend)?;
        self.replicated().await?;
        Ok(n as usize)
    }
}
