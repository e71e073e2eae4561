//! The habilitation model over SQL, shared by SQLite and PostgreSQL (see `store::sql`). Quota
//! checks run inside `Store::serialized()` transactions (SQLite: `BEGIN IMMEDIATE`, its single
//! write lock; PostgreSQL: a transaction-scoped advisory lock), held from the count to the
//! insertion, so two grants racing for the last place are serialised and the second sees the
//! first.

use super::{Db, DbRow, Store};
use crate::store::sql::{Cells, backend, corrupt, from_json, json};
use crate::store::*;
use crate::types::{
    AccountId, CafCode, ClientId, ConventionId, GroupId, HabilitationId, PartnerId, ReviewId,
    RoleCode,
};
use chrono::NaiveDate;
use sqlx::Row;

// Habilitations, granted within quotas.
#[path = "grants.rs"]
mod grants;
// Groups and their members, and what delegated managers were delegated.
#[path = "groups.rs"]
mod groups;
// Requests of partners in centralized mode.
#[path = "requests.rs"]
mod requests;
// Searching partners, people and habilitations.
#[path = "directory.rs"]
mod directory;
// Yearly reviews and the change log.
#[path = "reviews.rs"]
mod reviews;

fn parsed<T, E: std::fmt::Display>(what: &str, value: Result<T, E>) -> StoreResult<T> {
    value.map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn date(what: &str, text: &str) -> StoreResult<NaiveDate> {
    parsed(what, NaiveDate::parse_from_str(text, "%Y-%m-%d"))
}

fn convention_from_row(row: &dyn Cells) -> StoreResult<Convention> {
    Ok(Convention {
        id: parsed("convention id", ConventionId::parse(&row.text("id")?))?,
        number: row.text("number")?,
        kind: ConventionKind::parse(&row.text("kind")?)
            .ok_or_else(|| corrupt("convention kind"))?,
        caf: parsed("convention caf", CafCode::parse(&row.text("caf_code")?))?,
        partner: parsed(
            "convention partner",
            PartnerId::parse(&row.text("partner_id")?),
        )?,
        services: from_json("convention services", &row.text("services")?)?,
        starts_on: date("starts_on", &row.text("starts_on")?)?,
        terminated_on: row
            .optional_text("terminated_on")?
            .map(|d| date("terminated_on", &d))
            .transpose()?,
        mode: HabilitationMode::parse(&row.text("mode")?)
            .ok_or_else(|| corrupt("convention mode"))?,
        contacts: from_json("convention contacts", &row.text("contacts")?)?,
        roles: from_json("convention roles", &row.text("roles")?)?,
    })
}

fn habilitation_from_row(row: &dyn Cells) -> StoreResult<Habilitation> {
    let account = row.optional_text("account_id")?;
    let group = row.optional_text("group_id")?;
    let holder = match (account, group) {
        (Some(a), None) => Holder::Account(AccountId::from_stored(a)),
        (None, Some(g)) => Holder::Group(parsed("group id", GroupId::parse(&g))?),
        _ => return Err(corrupt("habilitation holder")),
    };
    Ok(Habilitation {
        id: parsed("habilitation id", HabilitationId::parse(&row.text("id")?))?,
        partner: parsed("partner id", PartnerId::parse(&row.text("partner_id")?))?,
        convention: parsed(
            "convention id",
            ConventionId::parse(&row.text("convention_id")?),
        )?,
        client_id: parsed("client id", ClientId::parse(&row.text("client_id")?))?,
        role: parsed("role", RoleCode::parse(&row.text("role")?))?,
        scope: from_json("habilitation scope", &row.text("scope")?)?,
        holder,
        valid_from: row.integer("valid_from")?,
        valid_until: row.optional_integer("valid_until")?,
        status: HabilitationStatus::parse(&row.text("status")?)
            .ok_or_else(|| corrupt("habilitation status"))?,
        granted_by: row.text("granted_by")?,
        granted_at: row.integer("granted_at")?,
        status_changed_at: row.integer("status_changed_at")?,
        status_changed_by: row.text("status_changed_by")?,
        status_reason: row.optional_text("status_reason")?,
        closed_at: row.optional_integer("closed_at")?,
        reviewed_at: row.optional_integer("reviewed_at")?,
    })
}

fn group_from_row(row: &DbRow) -> StoreResult<Group> {
    Ok(Group {
        id: parsed("group id", GroupId::parse(&row.get::<String, _>("id")))?,
        partner: parsed(
            "partner id",
            PartnerId::parse(&row.get::<String, _>("partner_id")),
        )?,
        name: row.get("name"),
        created_at: row.get("created_at"),
        closed_at: row.get("closed_at"),
    })
}

fn review_from_row(row: &DbRow) -> StoreResult<Review> {
    Ok(Review {
        id: parsed("review id", ReviewId::parse(&row.get::<String, _>("id")))?,
        partner: parsed(
            "partner id",
            PartnerId::parse(&row.get::<String, _>("partner_id")),
        )?,
        started_at: row.get("started_at"),
        started_by: AccountId::from_stored(row.get("started_by")),
        decisions: from_json("review decisions", &row.get::<String, _>("decisions"))?,
        completed_at: row.get("completed_at"),
        completed_by: row
            .get::<Option<String>, _>("completed_by")
            .map(AccountId::from_stored),
        report: row.get("report"),
    })
}

/// The people holding a non-closed habilitation of a partner for a service role, directly or
/// through an open group.
const HOLDERS: &str = "
    SELECT account_id FROM habilitations
     WHERE partner_id = $1 AND client_id = $2 AND role = $3 AND status <> 'closed'
       AND account_id IS NOT NULL
    UNION
    SELECT m.account_id FROM habilitations h
      JOIN groups g ON g.id = h.group_id AND g.closed_at IS NULL
      JOIN group_members m ON m.group_id = h.group_id
     WHERE h.partner_id = $1 AND h.client_id = $2 AND h.role = $3 AND h.status <> 'closed'";

pub(super) type Tx = sqlx::Transaction<'static, Db>;

async fn holders(
    tx: &mut Tx,
    partner: &PartnerId,
    client_id: &ClientId,
    role: &RoleCode,
) -> StoreResult<Vec<String>> {
    sqlx::query_scalar(HOLDERS)
        .bind(partner.as_str())
        .bind(client_id.as_str())
        .bind(role.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(backend)
}

/// Refuses when adding `newcomers` to the holders of the service role would pass its quota.
async fn check_quota(
    tx: &mut Tx,
    partner: &PartnerId,
    client_id: &ClientId,
    role: &RoleCode,
    newcomers: &[String],
    quotas: &QuotaTable,
) -> StoreResult<Result<(), GrantRefusal>> {
    let Some(&maximum) = quotas.get(&(client_id.clone(), role.clone())) else {
        return Ok(Ok(()));
    };
    let mut current = holders(tx, partner, client_id, role).await?;
    current.extend(newcomers.iter().cloned());
    current.sort();
    current.dedup();
    if current.len() as u64 > u64::from(maximum) {
        return Ok(Err(GrantRefusal::QuotaReached {
            client_id: client_id.clone(),
            role: role.clone(),
            maximum,
        }));
    }
    Ok(Ok(()))
}

impl Store {
    async fn habilitations_where(
        &self,
        clause: &str,
        value: &str,
    ) -> StoreResult<Vec<Habilitation>> {
        self.read_all(
            &format!(
                "SELECT * FROM habilitations WHERE {clause} ORDER BY client_id, role, granted_at"
            ),
            value,
            habilitation_from_row,
        )
        .await
    }
}

#[async_trait]
impl ConventionStore for Store {
    async fn upsert_convention(&self, convention: &Convention) -> StoreResult<Change> {
        let existing = self.get_convention(&convention.id).await?;
        if existing.as_ref() == Some(convention) {
            return Ok(Change::Unchanged);
        }
        let now = now();
        sqlx::query(
            "INSERT INTO conventions (id, number, kind, caf_code, partner_id, services, starts_on,
                terminated_on, mode, contacts, created_at, updated_at, roles)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (id) DO UPDATE SET number = excluded.number, kind = excluded.kind,
                caf_code = excluded.caf_code, partner_id = excluded.partner_id,
                services = excluded.services, starts_on = excluded.starts_on,
                terminated_on = excluded.terminated_on, mode = excluded.mode,
                contacts = excluded.contacts, updated_at = excluded.updated_at,
                roles = excluded.roles",
        )
        .bind(convention.id.as_str())
        .bind(&convention.number)
        .bind(convention.kind.as_str())
        .bind(convention.caf.as_str())
        .bind(convention.partner.as_str())
        .bind(json(&convention.services))
        .bind(convention.starts_on.to_string())
        .bind(convention.terminated_on.map(|d| d.to_string()))
        .bind(convention.mode.as_str())
        .bind(json(&convention.contacts))
        .bind(now)
        .bind(now)
        .bind(json(&convention.roles))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(if existing.is_some() {
            Change::Updated
        } else {
            Change::Created
        })
    }

    async fn get_convention(&self, id: &ConventionId) -> StoreResult<Option<Convention>> {
        let row = sqlx::query("SELECT * FROM conventions WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(|r| convention_from_row(r)).transpose()
    }

    async fn find_convention_by_number(&self, number: &str) -> StoreResult<Option<Convention>> {
        let row = sqlx::query("SELECT * FROM conventions WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(|r| convention_from_row(r)).transpose()
    }

    async fn conventions_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Convention>> {
        self.read_all(
            "SELECT * FROM conventions WHERE partner_id = $1 ORDER BY starts_on, number",
            partner.as_str(),
            convention_from_row,
        )
        .await
    }

    async fn set_quota(
        &self,
        convention: &ConventionId,
        client_id: &ClientId,
        role: &RoleCode,
        maximum: Option<u32>,
    ) -> StoreResult<()> {
        let query = match maximum {
            Some(maximum) => sqlx::query(
                "INSERT INTO quotas (convention_id, client_id, role, maximum, updated_at)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (convention_id, client_id, role) DO UPDATE
                 SET maximum = excluded.maximum, updated_at = excluded.updated_at",
            )
            .bind(convention.as_str())
            .bind(client_id.as_str())
            .bind(role.as_str())
            .bind(i64::from(maximum))
            .bind(now()),
            None => sqlx::query(
                "DELETE FROM quotas WHERE convention_id = $1 AND client_id = $2 AND role = $3",
            )
            .bind(convention.as_str())
            .bind(client_id.as_str())
            .bind(role.as_str()),
        };
        query.execute(&self.pool).await.map_err(backend)?;
        Ok(())
    }

    async fn quotas_of_convention(&self, convention: &ConventionId) -> StoreResult<Vec<Quota>> {
        let rows = sqlx::query(
            "SELECT client_id, role, maximum FROM quotas WHERE convention_id = $1
             ORDER BY client_id, role",
        )
        .bind(convention.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Quota {
                    convention: convention.clone(),
                    client_id: parsed(
                        "quota client",
                        ClientId::parse(&row.get::<String, _>("client_id")),
                    )?,
                    role: parsed("quota role", RoleCode::parse(&row.get::<String, _>("role")))?,
                    maximum: parsed("quota", u32::try_from(row.get::<i64, _>("maximum")))?,
                })
            })
            .collect()
    }

    async fn count_holders(
        &self,
        partner: &PartnerId,
        client_id: &ClientId,
        role: &RoleCode,
    ) -> StoreResult<u32> {
        let count: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM ({HOLDERS}) AS holders"))
                .bind(partner.as_str())
                .bind(client_id.as_str())
                .bind(role.as_str())
                .fetch_one(&self.pool)
                .await
                .map_err(backend)?;
        Ok(count as u32)
    }
}
