//! The durable traits over SQL, shared by SQLite and PostgreSQL (see `store::sql`).

use super::{Db, DbRow, Store};
use crate::store::sql::{backend, change_from, corrupt, from_json, json};
use crate::store::*;
use sqlx::Row;

#[async_trait]
impl OrganisationStore for Store {
    async fn upsert_caf(&self, caf: &Caf) -> StoreResult<Change> {
        let existing = self.get_caf(&caf.code).await?;
        if existing.as_ref() == Some(caf) {
            return Ok(Change::Unchanged);
        }
        let now = now();
        sqlx::query(
            "INSERT INTO cafs (code, name, created_at, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, updated_at = excluded.updated_at",
        )
        .bind(caf.code.as_str())
        .bind(&caf.name)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(change_from(existing))
    }

    async fn get_caf(&self, code: &CafCode) -> StoreResult<Option<Caf>> {
        let name: Option<String> = sqlx::query_scalar("SELECT name FROM cafs WHERE code = $1")
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        Ok(name.map(|name| Caf {
            code: code.clone(),
            name,
        }))
    }

    async fn upsert_partner(&self, partner: &Partner) -> StoreResult<Change> {
        let existing = self.get_partner(&partner.id).await?;
        if existing.as_ref() == Some(partner) {
            return Ok(Change::Unchanged);
        }
        let now = now();
        sqlx::query(
            "INSERT INTO partners (id, caf_code, name, siret, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (id) DO UPDATE SET caf_code = excluded.caf_code, name = excluded.name,
                siret = excluded.siret, updated_at = excluded.updated_at",
        )
        .bind(partner.id.as_str())
        .bind(partner.caf.as_str())
        .bind(&partner.name)
        .bind(partner.siret.as_ref().map(|s| s.as_str()))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(change_from(existing))
    }

    async fn get_partner(&self, id: &PartnerId) -> StoreResult<Option<Partner>> {
        let row = sqlx::query("SELECT id, caf_code, name, siret FROM partners WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(partner_from_row).transpose()
    }

    async fn list_cafs(&self) -> StoreResult<Vec<Caf>> {
        let rows = sqlx::query("SELECT code, name FROM cafs ORDER BY code")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Caf {
                    code: CafCode::parse(&row.get::<String, _>("code"))
                        .map_err(|e| StoreError::Corrupt(e.0))?,
                    name: row.get("name"),
                })
            })
            .collect()
    }

    async fn list_partners(&self, caf: Option<&CafCode>) -> StoreResult<Vec<Partner>> {
        let rows = sqlx::query(
            "SELECT id, caf_code, name, siret FROM partners
             WHERE $1 IS NULL OR caf_code = $1 ORDER BY name, id",
        )
        .bind(caf.map(|c| c.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(partner_from_row).collect()
    }
}

fn partner_from_row(row: &DbRow) -> StoreResult<Partner> {
    let caf: String = row.get("caf_code");
    let siret: Option<String> = row.get("siret");
    Ok(Partner {
        id: PartnerId::parse(&row.get::<String, _>("id")).map_err(|e| StoreError::Corrupt(e.0))?,
        caf: CafCode::parse(&caf).map_err(|_| corrupt("partner caf code"))?,
        name: row.get("name"),
        siret: siret
            .map(|s| crate::types::Siret::parse(&s).map_err(|_| corrupt("partner siret")))
            .transpose()?,
    })
}

fn service_from_row(row: &DbRow) -> StoreResult<Service> {
    use crate::types::{RedirectUri, Scopes};
    let client_id: String = row.get("client_id");
    let uris = |column: &str| -> StoreResult<Vec<RedirectUri>> {
        let raw: Vec<String> = from_json(column, &row.get::<String, _>(column))?;
        raw.iter()
            .map(|u| RedirectUri::parse(u).map_err(|e| StoreError::Corrupt(e.0)))
            .collect()
    };
    let secret: Option<Vec<u8>> = row.get("secret_sha256");
    Ok(Service {
        client_id: ClientId::parse(&client_id).map_err(|e| StoreError::Corrupt(e.0))?,
        name: row.get("name"),
        client_type: enum_column(row, "client_type")?,
        secret_sha256: secret
            .map(|s| s.try_into().map_err(|_| corrupt("secret digest length")))
            .transpose()?,
        redirect_uris: uris("redirect_uris")?,
        post_logout_redirect_uris: uris("post_logout_redirect_uris")?,
        grant_types: from_json("grant_types", &row.get::<String, _>("grant_types"))?,
        pkce: enum_column(row, "pkce")?,
        id_token_alg: SigningAlg::parse(&row.get::<String, _>("id_token_alg"))
            .ok_or_else(|| corrupt("id_token_alg"))?,
        client_scopes: Scopes::parse(&row.get::<String, _>("client_scopes"))
            .map_err(|e| StoreError::Corrupt(e.0))?,
        roles: from_json("roles", &row.get::<String, _>("roles"))?,
        password_policy: row.get("password_policy"),
        onboarding: enum_column(row, "onboarding")?,
        mfa: enum_column(row, "mfa")?,
        backchannel_logout_uri: row
            .get::<Option<String>, _>("backchannel_logout_uri")
            .map(|u| RedirectUri::parse(&u).map_err(|e| StoreError::Corrupt(e.0)))
            .transpose()?,
        habilitation_scope: row
            .get::<Option<String>, _>("habilitation_scope")
            .map(|k| from_json("habilitation_scope", &format!("\"{k}\"")))
            .transpose()?,
        introspects: from_json("introspects", &row.get::<String, _>("introspects"))?,
    })
}

/// An enum column stored as its serde name (`confidential`, `required`…).
fn enum_column<T: serde::de::DeserializeOwned>(row: &DbRow, column: &str) -> StoreResult<T> {
    from_json(column, &format!("\"{}\"", row.get::<String, _>(column)))
}

fn enum_text<T: serde::Serialize>(value: &T) -> String {
    json(value).trim_matches('"').to_owned()
}

#[async_trait]
impl ServiceStore for Store {
    async fn upsert_service(&self, service: &Service) -> StoreResult<Change> {
        let existing = self.get_service(&service.client_id).await?;
        if existing.as_ref() == Some(service) {
            return Ok(Change::Unchanged);
        }
        let now = now();
        let strings = |uris: &[crate::types::RedirectUri]| {
            json(&uris.iter().map(|u| u.as_str()).collect::<Vec<_>>())
        };
        sqlx::query(
            "INSERT INTO services (client_id, name, client_type, secret_sha256, redirect_uris,
                post_logout_redirect_uris, grant_types, pkce, id_token_alg, client_scopes, roles,
                password_policy, onboarding, mfa, backchannel_logout_uri, habilitation_scope,
                introspects, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19)
             ON CONFLICT (client_id) DO UPDATE SET name = excluded.name,
                client_type = excluded.client_type, secret_sha256 = excluded.secret_sha256,
                redirect_uris = excluded.redirect_uris,
                post_logout_redirect_uris = excluded.post_logout_redirect_uris,
                grant_types = excluded.grant_types, pkce = excluded.pkce,
                id_token_alg = excluded.id_token_alg, client_scopes = excluded.client_scopes,
                roles = excluded.roles, password_policy = excluded.password_policy,
                onboarding = excluded.onboarding, mfa = excluded.mfa,
                backchannel_logout_uri = excluded.backchannel_logout_uri,
                habilitation_scope = excluded.habilitation_scope,
                introspects = excluded.introspects, updated_at = excluded.updated_at",
        )
        .bind(service.client_id.as_str())
        .bind(&service.name)
        .bind(enum_text(&service.client_type))
        .bind(service.secret_sha256.map(|s| s.to_vec()))
        .bind(strings(&service.redirect_uris))
        .bind(strings(&service.post_logout_redirect_uris))
        .bind(json(&service.grant_types))
        .bind(enum_text(&service.pkce))
        .bind(service.id_token_alg.as_str())
        .bind(service.client_scopes.to_string())
        .bind(json(&service.roles))
        .bind(&service.password_policy)
        .bind(enum_text(&service.onboarding))
        .bind(enum_text(&service.mfa))
        .bind(service.backchannel_logout_uri.as_ref().map(|u| u.as_str()))
        .bind(service.habilitation_scope.as_ref().map(enum_text))
        .bind(json(&service.introspects))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(change_from(existing))
    }

    async fn get_service(&self, client_id: &ClientId) -> StoreResult<Option<Service>> {
        let row = sqlx::query("SELECT * FROM services WHERE client_id = $1")
            .bind(client_id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(service_from_row).transpose()
    }

    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        let rows = sqlx::query("SELECT * FROM services ORDER BY client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(service_from_row).collect()
    }
}

fn account_from_row(row: &DbRow) -> StoreResult<Account> {
    let email: String = row.get("email");
    let partner: Option<String> = row.get("partner_id");
    let caf: Option<String> = row.get("caf_code");
    let status: String = row.get("status");
    Ok(Account {
        id: AccountId::from_stored(row.get("id")),
        profile: AccountProfile {
            email: Email::parse(&email).map_err(|e| StoreError::Corrupt(e.0))?,
            civility: row.get("civility"),
            given_name: row.get("given_name"),
            family_name: row.get("family_name"),
            function: row.get("function"),
            partner: partner
                .map(|p| PartnerId::parse(&p).map_err(|e| StoreError::Corrupt(e.0)))
                .transpose()?,
            caf: caf
                .map(|c| CafCode::parse(&c).map_err(|e| StoreError::Corrupt(e.0)))
                .transpose()?,
            services: from_json("services", &row.get::<String, _>("services"))?,
            admin_roles: from_json("admin_roles", &row.get::<String, _>("admin_roles"))?,
        },
        password_hash: row.get("password_hash"),
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt("account status"))?,
        must_change_password: row.get::<i64, _>("must_change_password") != 0,
        temporary_password_expires_at: row.get("temporary_password_expires_at"),
        closed_at: row.get("closed_at"),
        status_reason: row.get("status_reason"),
        updated_at: row.get("updated_at"),
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
                    partner_id = $5, caf_code = $6, services = $7, admin_roles = $8, updated_at = $9 WHERE id = $10",
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
            .execute(&self.pool)
            .await
            .map_err(backend)?;
            return Ok((existing.id, Change::Updated));
        }
        let id = AccountId::generate();
        sqlx::query(
            "INSERT INTO accounts (id, email, civility, given_name, family_name, function,
                partner_id, caf_code, services, admin_roles, password_hash, status, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, 'pending', $11, $12)",
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
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok((id, Change::Created))
    }

    async fn find_account_by_email(&self, email: &Email) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE email = $1")
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(account_from_row).transpose()
    }

    async fn get_account(&self, id: &AccountId) -> StoreResult<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(account_from_row).transpose()
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
               AND EXISTS (SELECT 1 FROM habilitations h WHERE h.account_id = a.id)
               AND NOT EXISTS (SELECT 1 FROM habilitations h WHERE h.account_id = a.id
                                AND (h.status <> 'closed' OR h.closed_at >= $1))
               AND NOT EXISTS (SELECT 1 FROM group_members m
                                JOIN habilitations h ON h.group_id = m.group_id
                                WHERE m.account_id = a.id AND h.status <> 'closed')",
        )
        .bind(ended_before)
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        for id in &ids {
            for table in [
                "credential_links",
                "password_history",
                "totp_factors",
                "recovery_codes",
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
                    given_name = '', family_name = '', function = NULL, password_hash = NULL,
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

    async fn accounts_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Account>> {
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE partner_id = $1 ORDER BY family_name, given_name, email",
        )
        .bind(partner.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(account_from_row).collect()
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
        rows.iter().map(account_from_row).collect()
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
async fn revoke_password_links(
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

fn link_from_row(row: &DbRow) -> StoreResult<CredentialLink> {
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
}

fn api_token_from_row(row: &DbRow) -> ApiToken {
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
