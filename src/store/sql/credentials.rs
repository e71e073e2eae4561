//! Signing keys, server secrets, second factors and API tokens over SQL (part of `durable.rs`, see `store::sql`).

use super::*;

#[async_trait]
impl KeyStore for Store {
    async fn list_signing_keys(&self) -> StoreResult<Vec<StoredSigningKey>> {
        let rows = sqlx::query("SELECT * FROM signing_keys ORDER BY created_at, kid")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(StoredSigningKey {
                    kid: row.get("kid"),
                    alg: SigningAlg::parse(&row.get::<String, _>("alg"))
                        .ok_or_else(|| corrupt("key alg"))?,
                    private_pkcs8: row.get("private_pkcs8"),
                    created_at: row.get("created_at"),
                    retired_at: row.get("retired_at"),
                })
            })
            .collect()
    }

    async fn insert_signing_key(&self, key: &StoredSigningKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO signing_keys (kid, alg, private_pkcs8, created_at, retired_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.private_pkcs8)
        .bind(key.created_at)
        .bind(key.retired_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn retire_signing_keys(&self, alg: &str, keep: &str, at: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE signing_keys SET retired_at = $1 WHERE alg = $2 AND kid <> $3 AND retired_at IS NULL",
        )
        .bind(at)
        .bind(alg)
        .bind(keep)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn delete_signing_keys_retired_before(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM signing_keys WHERE retired_at IS NOT NULL AND retired_at < $1",
        )
        .bind(before)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn archive_public_key(&self, key: &RetiredPublicKey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO retired_public_keys (kid, alg, public_key, jwk, created_at, retired_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (kid) DO NOTHING",
        )
        .bind(&key.kid)
        .bind(key.alg.as_str())
        .bind(&key.public_key)
        .bind(&key.jwk)
        .bind(key.created_at)
        .bind(key.retired_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn retired_public_keys(&self) -> StoreResult<Vec<RetiredPublicKey>> {
        let rows = sqlx::query("SELECT * FROM retired_public_keys ORDER BY retired_at, kid")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(RetiredPublicKey {
                    kid: row.get("kid"),
                    alg: SigningAlg::parse(&row.get::<String, _>("alg"))
                        .ok_or_else(|| corrupt("key alg"))?,
                    public_key: row.get("public_key"),
                    jwk: row.get("jwk"),
                    created_at: row.get("created_at"),
                    retired_at: row.get("retired_at"),
                })
            })
            .collect()
    }
}

#[async_trait]
impl SecretStore for Store {
    async fn server_secret(&self, name: &str, candidate: &[u8]) -> StoreResult<Vec<u8>> {
        sqlx::query(
            "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(name)
        .bind(candidate)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        sqlx::query_scalar("SELECT value FROM server_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(&self.pool)
            .await
            .map_err(backend)
    }
}

#[async_trait]
impl SealedValueStore for Store {
    async fn values_not_beginning_with(
        &self,
        prefix: &[u8],
        limit: u32,
    ) -> StoreResult<Vec<(SealedSlot, Vec<u8>)>> {
        // substr counts bytes on a BLOB (SQLite) and on a bytea (PostgreSQL).
        let rows = sqlx::query(
            "SELECT 'signing-key' AS kind, kid AS id, private_pkcs8 AS value FROM signing_keys
               WHERE substr(private_pkcs8, 1, $1) <> $2
             UNION ALL
             SELECT 'totp', account_id, secret FROM totp_factors WHERE substr(secret, 1, $1) <> $2
             UNION ALL
             SELECT 'server-secret', name, value FROM server_secrets WHERE substr(value, 1, $1) <> $2
             LIMIT $3",
        )
        .bind(prefix.len() as i32)
        .bind(prefix)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let id: String = row.get("id");
                let slot = match row.get::<String, _>("kind").as_str() {
                    "signing-key" => SealedSlot::SigningKey(id),
                    "totp" => SealedSlot::Totp(AccountId::from_stored(id)),
                    _ => SealedSlot::ServerSecret(id),
                };
                Ok((slot, row.get("value")))
            })
            .collect()
    }

    async fn replace_value(&self, slot: &SealedSlot, old: &[u8], new: &[u8]) -> StoreResult<bool> {
        let (sql, id) = match slot {
            SealedSlot::SigningKey(kid) => (
                "UPDATE signing_keys SET private_pkcs8 = $1 WHERE kid = $2 AND private_pkcs8 = $3",
                kid.as_str(),
            ),
            SealedSlot::Totp(account) => (
                "UPDATE totp_factors SET secret = $1 WHERE account_id = $2 AND secret = $3",
                account.as_str(),
            ),
            SealedSlot::ServerSecret(name) => (
                "UPDATE server_secrets SET value = $1 WHERE name = $2 AND value = $3",
                name.as_str(),
            ),
        };
        let done = sqlx::query(sql)
            .bind(new)
            .bind(id)
            .bind(old)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn forget_overwritten(&self) -> StoreResult<()> {
        Store::forget_overwritten(self).await
    }
}

#[async_trait]
impl FactorStore for Store {
    async fn get_totp(&self, account: &AccountId) -> StoreResult<Option<TotpFactor>> {
        let row = sqlx::query(
            "SELECT secret, confirmed_at, last_step FROM totp_factors WHERE account_id = $1",
        )
        .bind(account.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(row.map(|r| TotpFactor {
            secret: r.get("secret"),
            confirmed_at: r.get("confirmed_at"),
            last_step: r.get("last_step"),
        }))
    }

    async fn begin_totp(&self, account: &AccountId, secret: &[u8], now: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "INSERT INTO totp_factors (account_id, secret, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, created_at = excluded.created_at
             WHERE totp_factors.confirmed_at IS NULL",
        )
        .bind(account.as_str())
        .bind(secret)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn confirm_totp(
        &self,
        account: &AccountId,
        step: i64,
        recovery_sha256: &[[u8; 32]],
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "UPDATE totp_factors SET confirmed_at = $1, last_step = $2 WHERE account_id = $3",
        )
        .bind(now)
        .bind(step)
        .bind(account.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for hash in recovery_sha256 {
            sqlx::query("INSERT INTO recovery_codes (account_id, code_sha256) VALUES ($1, $2)")
                .bind(account.as_str())
                .bind(hash.to_vec())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn use_totp_step(&self, account: &AccountId, step: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE totp_factors SET last_step = $1 WHERE account_id = $2 AND last_step < $3 AND confirmed_at IS NOT NULL",
        )
        .bind(step)
        .bind(account.as_str())
        .bind(step)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn use_recovery_code(
        &self,
        account: &AccountId,
        sha256: &[u8; 32],
        now: i64,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_sha256 = $3 AND used_at IS NULL",
        )
        .bind(now)
        .bind(account.as_str())
        .bind(sha256.to_vec())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remaining_recovery_codes(&self, account: &AccountId) -> StoreResult<u32> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL",
        )
        .bind(account.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        Ok(n as u32)
    }

    async fn remove_totp(&self, account: &AccountId) -> StoreResult<bool> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM recovery_codes WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        let removed = sqlx::query("DELETE FROM totp_factors WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?
            .rows_affected();
        tx.commit().await.map_err(backend)?;
        Ok(removed > 0)
    }
}

pub(super) fn api_token_from_row(row: &DbRow) -> ApiToken {
    ApiToken {
        id: row.get("id"),
        account: AccountId::from_stored(row.get("account_id")),
        name: row.get("name"),
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        last_used_at: row.get("last_used_at"),
        revoked_at: row.get("revoked_at"),
    }
}

#[async_trait]
impl ApiTokenStore for Store {
    async fn insert_api_token(&self, hash: TokenHash, token: &ApiToken) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_tokens (token_sha256, id, account_id, name, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(hash.0.to_vec())
        .bind(&token.id)
        .bind(token.account.as_str())
        .bind(&token.name)
        .bind(token.created_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn find_api_token(&self, hash: TokenHash) -> StoreResult<Option<ApiToken>> {
        let row = sqlx::query("SELECT * FROM api_tokens WHERE token_sha256 = $1")
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(api_token_from_row))
    }

    async fn api_tokens_of(&self, account: &AccountId) -> StoreResult<Vec<ApiToken>> {
        let rows =
            sqlx::query("SELECT * FROM api_tokens WHERE account_id = $1 ORDER BY created_at DESC")
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows.iter().map(api_token_from_row).collect())
    }

    async fn revoke_api_token(&self, account: &AccountId, id: &str, at: i64) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1
             WHERE account_id = $2 AND id = $3 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(account.as_str())
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn revoke_api_tokens_of(&self, account: &AccountId, at: i64) -> StoreResult<u64> {
        let done = sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE account_id = $2 AND revoked_at IS NULL",
        )
        .bind(at)
        .bind(account.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn touch_api_token(&self, id: &str, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}
