//! The durable traits over SQL, shared by SQLite and PostgreSQL (see `store::sql`).

use super::{Db, DbRow, Store};
use crate::store::sql::{Cells, backend, change_from, corrupt, from_json, json};
use crate::store::*;
use sqlx::Row;

// Accounts and their single-use links.
#[path = "accounts.rs"]
pub(super) mod accounts;
// Security alerts and trace requests.
#[path = "security.rs"]
mod security;
// Signing keys, server secrets, second factors and API tokens.
#[path = "credentials.rs"]
mod credentials;
// WebAuthn passkeys.
#[path = "passkeys.rs"]
mod passkeys;

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
        self.read_optional(
            "SELECT name FROM cafs WHERE code = $1",
            code.as_str(),
            |row| {
                Ok(Caf {
                    code: code.clone(),
                    name: row.text("name")?,
                })
            },
        )
        .await
    }

    async fn upsert_partner(&self, partner: &Partner) -> StoreResult<Change> {
        let existing = self.get_partner(&partner.id).await?;
        if existing.as_ref() == Some(partner) {
            return Ok(Change::Unchanged);
        }
        let now = now();
        sqlx::query(
            "INSERT INTO partners (id, caf_code, name, siret, commune, name_key, commune_key,
                created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (id) DO UPDATE SET caf_code = excluded.caf_code, name = excluded.name,
                siret = excluded.siret, commune = excluded.commune, name_key = excluded.name_key,
                commune_key = excluded.commune_key, updated_at = excluded.updated_at",
        )
        .bind(partner.id.as_str())
        .bind(partner.caf.as_str())
        .bind(&partner.name)
        .bind(partner.siret.as_ref().map(|s| s.as_str()))
        .bind(&partner.commune)
        .bind(fold(&partner.name))
        .bind(partner.commune.as_deref().map(fold))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(change_from(existing))
    }

    async fn get_partner(&self, id: &PartnerId) -> StoreResult<Option<Partner>> {
        let row =
            sqlx::query("SELECT id, caf_code, name, siret, commune FROM partners WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(backend)?;
        row.as_ref().map(|r| partner_from_row(r)).transpose()
    }

    async fn partner_with_caf(
        &self,
        id: &PartnerId,
    ) -> StoreResult<Option<(Partner, Option<Caf>)>> {
        self.read_optional(
            "SELECT p.id, p.caf_code, p.name, p.siret, p.commune, c.name AS caf_name
               FROM partners p LEFT JOIN cafs c ON c.code = p.caf_code WHERE p.id = $1",
            id.as_str(),
            |row| {
                let partner = partner_from_row(row)?;
                let caf = row.optional_text("caf_name")?.map(|name| Caf {
                    code: partner.caf.clone(),
                    name,
                });
                Ok((partner, caf))
            },
        )
        .await
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
            "SELECT id, caf_code, name, siret, commune FROM partners
             WHERE $1 IS NULL OR caf_code = $1 ORDER BY name, id",
        )
        .bind(caf.map(|c| c.as_str()))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(|r| partner_from_row(r)).collect()
    }
}

pub(crate) fn partner_from_row(row: &dyn Cells) -> StoreResult<Partner> {
    let caf = row.text("caf_code")?;
    let siret = row.optional_text("siret")?;
    Ok(Partner {
        id: PartnerId::parse(&row.text("id")?).map_err(|e| StoreError::Corrupt(e.0))?,
        caf: CafCode::parse(&caf).map_err(|_| corrupt("partner caf code"))?,
        name: row.text("name")?,
        siret: siret
            .map(|s| crate::types::Siret::parse(&s).map_err(|_| corrupt("partner siret")))
            .transpose()?,
        commune: row.optional_text("commune")?,
    })
}

fn service_from_row(row: &dyn Cells) -> StoreResult<Service> {
    use crate::types::{RedirectUri, Scopes};
    let client_id = row.text("client_id")?;
    let uris = |column: &str| -> StoreResult<Vec<RedirectUri>> {
        let raw: Vec<String> = from_json(column, &row.text(column)?)?;
        raw.iter()
            .map(|u| RedirectUri::parse(u).map_err(|e| StoreError::Corrupt(e.0)))
            .collect()
    };
    let secret = row.optional_bytes("secret_sha256")?;
    Ok(Service {
        client_id: ClientId::parse(&client_id).map_err(|e| StoreError::Corrupt(e.0))?,
        name: row.text("name")?,
        client_type: enum_column(row, "client_type")?,
        secret_sha256: secret
            .map(|s| s.try_into().map_err(|_| corrupt("secret digest length")))
            .transpose()?,
        redirect_uris: uris("redirect_uris")?,
        post_logout_redirect_uris: uris("post_logout_redirect_uris")?,
        grant_types: from_json("grant_types", &row.text("grant_types")?)?,
        pkce: enum_column(row, "pkce")?,
        id_token_alg: SigningAlg::parse(&row.text("id_token_alg")?)
            .ok_or_else(|| corrupt("id_token_alg"))?,
        client_scopes: Scopes::parse(&row.text("client_scopes")?)
            .map_err(|e| StoreError::Corrupt(e.0))?,
        roles: from_json("roles", &row.text("roles")?)?,
        password_policy: row.optional_text("password_policy")?,
        onboarding: enum_column(row, "onboarding")?,
        mfa: enum_column(row, "mfa")?,
        backchannel_logout_uri: row
            .optional_text("backchannel_logout_uri")?
            .map(|u| RedirectUri::parse(&u).map_err(|e| StoreError::Corrupt(e.0)))
            .transpose()?,
        habilitation_scope: row
            .optional_text("habilitation_scope")?
            .map(|k| from_json("habilitation_scope", &format!("\"{k}\"")))
            .transpose()?,
        introspects: from_json("introspects", &row.text("introspects")?)?,
        protocol: from_json("protocol", &row.text("protocol")?)?,
    })
}

/// An enum column stored as its serde name (`confidential`, `required`…).
fn enum_column<T: serde::de::DeserializeOwned>(row: &dyn Cells, column: &str) -> StoreResult<T> {
    from_json(column, &format!("\"{}\"", row.text(column)?))
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
                introspects, protocol, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,
                $18, $19, $20)
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
                introspects = excluded.introspects, protocol = excluded.protocol,
                updated_at = excluded.updated_at",
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
        .bind(json(&service.protocol))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(change_from(existing))
    }

    async fn get_service(&self, client_id: &ClientId) -> StoreResult<Option<Service>> {
        self.read_optional(
            "SELECT * FROM services WHERE client_id = $1",
            client_id.as_str(),
            service_from_row,
        )
        .await
    }

    async fn list_services(&self) -> StoreResult<Vec<Service>> {
        let rows = sqlx::query("SELECT * FROM services ORDER BY client_id")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(|r| service_from_row(r)).collect()
    }
}

impl Store {
    /// Writes the folded search keys of the rows stored before the keys existed (SQLite
    /// migration 0009, PostgreSQL 0003); nothing once every row has them.
    pub(super) async fn backfill_search_keys(&self) -> StoreResult<()> {
        let partners = sqlx::query("SELECT id, name, commune FROM partners WHERE name_key IS NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        for row in &partners {
            let commune: Option<String> = row.get("commune");
            sqlx::query("UPDATE partners SET name_key = $1, commune_key = $2 WHERE id = $3")
                .bind(fold(&row.get::<String, _>("name")))
                .bind(commune.as_deref().map(fold))
                .bind(row.get::<String, _>("id"))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        }
        let accounts =
            sqlx::query("SELECT id, given_name, family_name FROM accounts WHERE name_key IS NULL")
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        for row in &accounts {
            let key = fold(&format!(
                "{} {}",
                row.get::<String, _>("family_name"),
                row.get::<String, _>("given_name")
            ));
            sqlx::query("UPDATE accounts SET name_key = $1 WHERE id = $2")
                .bind(key)
                .bind(row.get::<String, _>("id"))
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        }
        Ok(())
    }
}
