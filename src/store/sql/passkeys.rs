//! WebAuthn passkeys over SQL (part of `durable.rs`, see `store::sql`).

use super::*;

fn passkey_from_row(row: &DbRow) -> StoredPasskey {
    StoredPasskey {
        id: row.get("id"),
        account: AccountId::from_stored(row.get("account_id")),
        credential_id: row.get("credential_id"),
        name: row.get("name"),
        credential: row.get("credential"),
        created_at: row.get("created_at"),
        last_used_at: row.get("last_used_at"),
    }
}

#[async_trait]
impl PasskeyStore for Store {
    async fn add_passkey(&self, passkey: &StoredPasskey) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO passkeys (id, account_id, credential_id, name, credential, created_at, last_used_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&passkey.id)
        .bind(passkey.account.as_str())
        .bind(&passkey.credential_id)
        .bind(&passkey.name)
        .bind(&passkey.credential)
        .bind(passkey.created_at)
        .bind(passkey.last_used_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn passkeys_of(&self, account: &AccountId) -> StoreResult<Vec<StoredPasskey>> {
        let rows =
            sqlx::query("SELECT * FROM passkeys WHERE account_id = $1 ORDER BY created_at, id")
                .bind(account.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        Ok(rows.iter().map(passkey_from_row).collect())
    }

    async fn find_passkey(&self, credential_id: &[u8]) -> StoreResult<Option<StoredPasskey>> {
        let row = sqlx::query("SELECT * FROM passkeys WHERE credential_id = $1")
            .bind(credential_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(row.as_ref().map(passkey_from_row))
    }

    async fn use_passkey(&self, id: &str, credential: &str, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE passkeys SET credential = $1, last_used_at = $2 WHERE id = $3")
            .bind(credential)
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn remove_passkey(&self, account: &AccountId, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM passkeys WHERE account_id = $1 AND id = $2")
            .bind(account.as_str())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn remove_passkeys_of(&self, account: &AccountId) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM passkeys WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
