//! Accounts and their single-use links over SQL (part of `durable.rs`, see `store::sql`).

use super::*;

/// What people lists sort and search a person by: "family given", folded.
pub(super) fn name_key(profile: &AccountProfile) -> String {
    fold(&format!("{} {}", profile.family_name, profile.given_name))
}

pub(crate) fn account_from_row(row: &dyn Cells) -> StoreResult<Account> {
    let email = row.text("email")?;
    let partner = row.optional_text("partner_id")?;
    let caf = row.optional_text("caf_code")?;
    let status = row.text("status")?;
    Ok(Account {
        id: AccountId::from_stored(row.text("id")?),
        profile: AccountProfile {
            email: Email::parse(&email).map_err(|e| StoreError::Corrupt(e.0))?,
            civility: row.optional_text("civility")?,
            given_name: row.text("given_name")?,
            family_name: row.text("family_name")?,
            function: row.optional_text("function")?,
            partner: partner
                .map(|p| PartnerId::parse(&p).map_err(|e| StoreError::Corrupt(e.0)))
                .transpose()?,
            caf: caf
                .map(|c| CafCode::parse(&c).map_err(|e| StoreError::Corrupt(e.0)))
                .transpose()?,
            services: from_json("services", &row.text("services")?)?,
            admin_roles: from_json("admin_roles", &row.text("admin_roles")?)?,
        },
        password_hash: row.optional_text("password_hash")?,
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt("account status"))?,
        must_change_password: row.integer("must_change_password")? != 0,
        temporary_password_expires_at: row.optional_integer("temporary_password_expires_at")?,
        closed_at: row.optional_integer("closed_at")?,
        status_reason: row.optional_text("status_reason")?,
        created_at: row.integer("created_at")?,
        updated_at: row.integer("updated_at")?,
    })
}

#[async_trait]
impl AccountStore for Store {
    async fn upsert_account(&self, profile: &AccountProfile) -> StoreResult<(AccountId, Change)> {
        let now = now();
        if let Some(existing) = self.find_account_by_email(&profile.email).await? {
            if &existing.profile == profile {
                return Ok((existing.id, Change::Unchanged));
            }
            sqlx::query(
                "UPDATE accounts SET civility = $1, given_name = $2, family_name = $3, function = $4,
                    partner_id = $5, caf_code = $6, services = $7, admin_roles = $8, updated_at = $9,
                    name_key = $11 WHERE id = $10",
            )
            .bind(&profile.civility)
            .bind(&profile.given_name)
            .bind(&profile.family_name)
            .bind(&profile.function)
            .bind(profile.partner.as_ref().map(|p| p.as_str()))
            .bind(profile.caf.as_ref().map(|c| c.as_str()))
            .bind(json(&profile.services))
            .bind(json(&profile.admin_roles))
            .bind(now)
            .bind(existing.id.as_str())
            .bind(name_key(profile))
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            return Ok((existing.id, Change::Updated));
        }
        let id = AccountId::generate();
        sqlx::query(
            "INSERT INTO accounts (id, email, civility, given_name, family_name, function,
                partner_id, caf_code, services, admin_roles, password_hash, status, created_at, updated_at,
                name_key)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 'pending', $11, $12, $13)",
        )
        .bind(id.as_str())
        .bind(profile.email.as_str())
        .bind(&profile.civility)
        .bind(&profile.given_name)
        .bind(&profile.family_name)
        .bind(&profile.function)
        .bind(profile.partner.as_ref().map(|p| p.as_str()))
        .bind(profile.caf.as_ref().map(|c| c.as_str()))
        .bind(json(&profile.services))
        .bind(json(&profile.admin_roles))
        .bind(now)
        .bind(now)
        .bind(name_key(profile))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok((id, Change::Created))
    }

    async fn find_account_by_email(&self, email: &Email) -> StoreResult<Option<Account>> {
        self.read_optional(
            "SELECT * FROM accounts WHERE email = $1",
            email.as_str(),
            account_from_row,
        )
        .await
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        self.read_optional(
            "SELECT * FROM accounts WHERE id = $1",
            id.as_str(),
            account_from_row,
        )
        .await
    }

    async fn set_password_hash(&self, id: &AccountId, phc: &str) -> StoreResult<()> {
        let now = now();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "INSERT INTO password_history (account_id, password_hash, replaced_at)
             SELECT id, password_hash, $1 FROM accounts WHERE id = $2 AND password_hash IS NOT NULL",
        )
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = 0, password_changed_at = $2,
                temporary_password_expires_at = NULL,
                status = CASE status WHEN 'pending' THEN 'active' ELSE status END,
                updated_at = $3 WHERE id = $4",
        )
        .bind(phc)
        .bind(now)
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        revoke_password_links(&mut tx, id, now).await?;
        // Keep only what the longest configurable history needs.
        sqlx::query(
            "DELETE FROM password_history WHERE account_id = $1 AND rowid NOT IN (
                SELECT rowid FROM password_history WHERE account_id = $2
                ORDER BY replaced_at DESC, rowid DESC LIMIT 24)",
        )
        .bind(id.as_str())
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn rehash_password(&self, id: &AccountId, phc: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE accounts SET password_hash = $1 WHERE id = $2 AND password_hash IS NOT NULL",
        )
        .bind(phc)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn password_history(&self, id: &AccountId, limit: u32) -> StoreResult<Vec<String>> {
        sqlx::query_scalar(
            "SELECT password_hash FROM password_history WHERE account_id = $1
             ORDER BY replaced_at DESC, rowid DESC LIMIT $2",
        )
        .bind(id.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)
    }

    async fn close_account(
        &self,
        id: &AccountId,
        at: i64,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE accounts SET status = 'suspended', closed_at = $1, status_reason = $2,
                updated_at = $3 WHERE id = $4",
        )
        .bind(at)
        .bind(reason)
        .bind(at)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn erase_ended_accounts(
        &self,
        ended_before: i64,
        at: i64,
    ) -> StoreResult<Vec<AccountId>> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT a.id FROM accounts a
             WHERE a.partner_id IS NOT NULL AND a.admin_roles = '[]'
               AND a.email NOT LIKE 'efface-%@compte.invalid'
               AND (a.closed_at IS NULL OR a.closed_at < $1)
               AND (a.closed_at IS NOT NULL
                    OR EXISTS (SELECT 1 FROM habilitations h WHERE h.account_id = a.id
                               OR h.group_id IN (SELECT m.group_id FROM group_members m
                                                 WHERE m.account_id = a.id)))
               AND NOT EXISTS (SELECT 1 FROM habilitations h
                               WHERE (h.account_id = a.id
                                      OR h.group_id IN (SELECT m.group_id FROM group_members m
                                                        WHERE m.account_id = a.id))
                                 AND (h.status <> 'closed' OR h.closed_at >= $1))",
        )
        .bind(ended_before)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for id in &ids {
            // What annexe 1's list 2 needs stays with the habilitations.
            sqlx::query(&crate::store::sql::record_holders("a.id = $2"))
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
            for table in [
                "credential_links",
                "password_history",
                "totp_factors",
                "recovery_codes",
                "passkeys",
                "api_tokens",
                "group_members",
                "delegations",
            ] {
                sqlx::query(&format!("DELETE FROM {table} WHERE account_id = $1"))
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(backend)?;
            }
            sqlx::query(
                "UPDATE accounts SET email = 'efface-' || id || '@compte.invalid', civility = NULL,
                    given_name = '', family_name = '', name_key = '', function = NULL, password_hash = NULL,
                    services = '[]', status = 'suspended', closed_at = COALESCE(closed_at, $1),
                    status_reason = 'données personnelles effacées',
                    temporary_password_expires_at = NULL, must_change_password = 0,
                    updated_at = $2 WHERE id = $3",
            )
            .bind(at)
            .bind(at)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(ids.into_iter().map(AccountId::from_stored).collect())
    }

    async fn insert_erasure_attestation(&self, a: &ErasureAttestation) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO erasure_attestations (id, erased_at, ended_before, accounts, signature)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&a.id)
        .bind(a.erased_at)
        .bind(a.ended_before)
        .bind(json(
            &a.accounts.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        ))
        .bind(&a.signature)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn erasure_attestations(&self) -> StoreResult<Vec<ErasureAttestation>> {
        let rows = sqlx::query("SELECT * FROM erasure_attestations ORDER BY erased_at, id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|r| {
                let accounts: Vec<String> = from_json(
                    "erasure_attestations.accounts",
                    &r.try_get::<String, _>("accounts").map_err(backend)?,
                )?;
                Ok(ErasureAttestation {
                    id: r.try_get("id").map_err(backend)?,
                    erased_at: r.try_get("erased_at").map_err(backend)?,
                    ended_before: r.try_get("ended_before").map_err(backend)?,
                    accounts: accounts.into_iter().map(AccountId::from_stored).collect(),
                    signature: r.try_get("signature").map_err(backend)?,
                })
            })
            .collect()
    }

    async fn accounts_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE partner_id = $1
               AND email NOT LIKE 'efface-%@compte.invalid'
             ORDER BY family_name, given_name, email",
        )
        .bind(partner.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| account_from_row(r)).collect()
    }

    async fn partner_has_administrator(&self, partner: &PartnerId) -> StoreResult<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM accounts WHERE partner_id = $1 AND closed_at IS NULL
               AND (admin_roles LIKE '%\"partner_administrator\"%'
                    OR admin_roles LIKE '%\"partner_substitute\"%')
             LIMIT 1",
        )
        .bind(partner.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        Ok(found.is_some())
    }

    async fn accounts_with_role(&self, role: AdminRole) -> StoreResult<Vec<Account>> {
        // Roles are kept as a JSON list of their snake_case names.
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE admin_roles LIKE $1 AND closed_at IS NULL
             ORDER BY family_name, given_name, email",
        )
        .bind(format!("%\"{}\"%", <&str>::from(role)))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| account_from_row(r)).collect()
    }

    async fn staff_of_caf(&self, caf: &CafCode) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE caf_code = $1 AND partner_id IS NULL AND closed_at IS NULL
             ORDER BY family_name, given_name, email",
        )
        .bind(caf.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| account_from_row(r)).collect()
    }

    async fn set_status(
        &self,
        id: &AccountId,
        status: AccountStatus,
        reason: Option<&str>,
    ) -> StoreResult<()> {
        sqlx::query(
            "UPDATE accounts SET status = $1, status_reason = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(status.as_str())
        .bind(reason)
        .bind(now())
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn set_temporary_password(
        &self,
        id: &AccountId,
        phc: &str,
        expires_at: i64,
    ) -> StoreResult<()> {
        let now = now();
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "UPDATE accounts SET password_hash = $1, must_change_password = 1,
                temporary_password_expires_at = $2,
                status = CASE status WHEN 'pending' THEN 'active' ELSE status END,
                updated_at = $3 WHERE id = $4",
        )
        .bind(phc)
        .bind(expires_at)
        .bind(now)
        .bind(id.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        revoke_password_links(&mut tx, id, now).await?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn spend_temporary_password(&self, id: &AccountId, now: i64) -> StoreResult<()> {
        sqlx::query(
            "UPDATE accounts SET temporary_password_expires_at = $1
             WHERE id = $2 AND temporary_password_expires_at > $3",
        )
        .bind(now)
        .bind(id.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn set_must_change_password(&self, id: &AccountId, value: bool) -> StoreResult<()> {
        sqlx::query("UPDATE accounts SET must_change_password = $1, updated_at = $2 WHERE id = $3")
            .bind(value)
            .bind(now())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

/// Every pending activation and reset link of the account dies with its password, in the same
/// transaction as the new hash: a link mailed before the change can no longer set one.
pub(super) async fn revoke_password_links(
    tx: &mut sqlx::Transaction<'_, Db>,
    id: &AccountId,
    now: i64,
) -> StoreResult<()> {
    sqlx::query(
        "UPDATE credential_links SET revoked_at = $1
         WHERE account_id = $2 AND purpose IN ('activation', 'reset')
           AND used_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id.as_str())
    .execute(&mut **tx)
    .await
    .map_err(backend)?;
    Ok(())
}

pub(super) fn link_from_row(row: &DbRow) -> StoreResult<CredentialLink> {
    Ok(CredentialLink {
        account: AccountId::from_stored(row.get("account_id")),
        purpose: LinkPurpose::parse(&row.get::<String, _>("purpose"))
            .ok_or_else(|| corrupt("link purpose"))?,
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        used_at: row.get("used_at"),
        revoked_at: row.get("revoked_at"),
    })
}

#[async_trait]
impl LinkStore for Store {
    async fn insert_link(&self, hash: TokenHash, link: &CredentialLink) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query(
            "UPDATE credential_links SET revoked_at = $1
             WHERE account_id = $2 AND purpose = $3 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(link.created_at)
        .bind(link.account.as_str())
        .bind(link.purpose.as_str())
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        sqlx::query(
            "INSERT INTO credential_links (token_sha256, account_id, purpose, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(hash.0.to_vec())
        .bind(link.account.as_str())
        .bind(link.purpose.as_str())
        .bind(link.created_at)
        .bind(link.expires_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(())
    }

    async fn get_link(&self, hash: TokenHash) -> StoreResult<Option<CredentialLink>> {
        let row = sqlx::query("SELECT * FROM credential_links WHERE token_sha256 = $1")
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(link_from_row).transpose()
    }

    async fn use_link(
        &self,
        hash: TokenHash,
        purpose: LinkPurpose,
        now: i64,
    ) -> StoreResult<Result<CredentialLink, LinkRefusal>> {
        let used = sqlx::query(
            "UPDATE credential_links SET used_at = $1
             WHERE token_sha256 = $2 AND purpose = $3 AND used_at IS NULL AND revoked_at IS NULL AND expires_at > $4",
        )
        .bind(now)
        .bind(hash.0.to_vec())
        .bind(purpose.as_str())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?
        .rows_affected();
        let link = self.get_link(hash).await?;
        Ok(match link {
            Some(link) if link.purpose == purpose && used == 1 => Ok(link),
            Some(link)
                if link.purpose == purpose
                    && link.used_at.is_none()
                    && link.revoked_at.is_none() =>
            {
                Err(LinkRefusal::Expired)
            }
            Some(link) if link.purpose == purpose => Err(LinkRefusal::Spent),
            _ => Err(LinkRefusal::Unknown),
        })
    }
}
