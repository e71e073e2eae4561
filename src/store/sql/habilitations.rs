//! The habilitation model over SQL, shared by SQLite and PostgreSQL (see `store::sql`). Quota
//! checks run inside `Store::serialized()` transactions (SQLite: `BEGIN IMMEDIATE`, its single
//! write lock; PostgreSQL: a transaction-scoped advisory lock), held from the count to the
//! insertion, so two grants racing for the last place are serialised and the second sees the
//! first.

use super::{Db, DbRow, Store};
use crate::store::sql::{backend, corrupt, from_json, json};
use crate::store::*;
use crate::types::{
    AccountId, CafCode, ClientId, ConventionId, GroupId, HabilitationId, PartnerId, ReviewId,
    RoleCode,
};
use chrono::NaiveDate;
use sqlx::Row;

fn parsed<T, E: std::fmt::Display>(what: &str, value: Result<T, E>) -> StoreResult<T> {
    value.map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn date(what: &str, text: &str) -> StoreResult<NaiveDate> {
    parsed(what, NaiveDate::parse_from_str(text, "%Y-%m-%d"))
}

fn convention_from_row(row: &DbRow) -> StoreResult<Convention> {
    Ok(Convention {
        id: parsed(
            "convention id",
            ConventionId::parse(&row.get::<String, _>("id")),
        )?,
        number: row.get("number"),
        kind: ConventionKind::parse(&row.get::<String, _>("kind"))
            .ok_or_else(|| corrupt("convention kind"))?,
        caf: parsed(
            "convention caf",
            CafCode::parse(&row.get::<String, _>("caf_code")),
        )?,
        partner: parsed(
            "convention partner",
            PartnerId::parse(&row.get::<String, _>("partner_id")),
        )?,
        services: from_json("convention services", &row.get::<String, _>("services"))?,
        starts_on: date("starts_on", &row.get::<String, _>("starts_on"))?,
        terminated_on: row
            .get::<Option<String>, _>("terminated_on")
            .map(|d| date("terminated_on", &d))
            .transpose()?,
        mode: HabilitationMode::parse(&row.get::<String, _>("mode"))
            .ok_or_else(|| corrupt("convention mode"))?,
        contacts: from_json("convention contacts", &row.get::<String, _>("contacts"))?,
    })
}

fn habilitation_from_row(row: &DbRow) -> StoreResult<Habilitation> {
    let account: Option<String> = row.get("account_id");
    let group: Option<String> = row.get("group_id");
    let holder = match (account, group) {
        (Some(a), None) => Holder::Account(AccountId::from_stored(a)),
        (None, Some(g)) => Holder::Group(parsed("group id", GroupId::parse(&g))?),
        _ => return Err(corrupt("habilitation holder")),
    };
    Ok(Habilitation {
        id: parsed(
            "habilitation id",
            HabilitationId::parse(&row.get::<String, _>("id")),
        )?,
        partner: parsed(
            "partner id",
            PartnerId::parse(&row.get::<String, _>("partner_id")),
        )?,
        convention: parsed(
            "convention id",
            ConventionId::parse(&row.get::<String, _>("convention_id")),
        )?,
        client_id: parsed(
            "client id",
            ClientId::parse(&row.get::<String, _>("client_id")),
        )?,
        role: parsed("role", RoleCode::parse(&row.get::<String, _>("role")))?,
        scope: from_json("habilitation scope", &row.get::<String, _>("scope"))?,
        holder,
        valid_from: row.get("valid_from"),
        valid_until: row.get("valid_until"),
        status: HabilitationStatus::parse(&row.get::<String, _>("status"))
            .ok_or_else(|| corrupt("habilitation status"))?,
        granted_by: row.get("granted_by"),
        granted_at: row.get("granted_at"),
        status_changed_at: row.get("status_changed_at"),
        status_changed_by: row.get("status_changed_by"),
        status_reason: row.get("status_reason"),
        closed_at: row.get("closed_at"),
        reviewed_at: row.get("reviewed_at"),
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
        let rows = sqlx::query(&format!(
            "SELECT * FROM habilitations WHERE {clause} ORDER BY client_id, role, granted_at"
        ))
        .bind(value)
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(habilitation_from_row).collect()
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
                terminated_on, mode, contacts, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (id) DO UPDATE SET number = excluded.number, kind = excluded.kind,
                caf_code = excluded.caf_code, partner_id = excluded.partner_id,
                services = excluded.services, starts_on = excluded.starts_on,
                terminated_on = excluded.terminated_on, mode = excluded.mode,
                contacts = excluded.contacts, updated_at = excluded.updated_at",
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
        row.as_ref().map(convention_from_row).transpose()
    }

    async fn find_convention_by_number(&self, number: &str) -> StoreResult<Option<Convention>> {
        let row = sqlx::query("SELECT * FROM conventions WHERE number = $1")
            .bind(number)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(convention_from_row).transpose()
    }

    async fn conventions_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Convention>> {
        let rows = sqlx::query(
            "SELECT * FROM conventions WHERE partner_id = $1 ORDER BY starts_on, number",
        )
        .bind(partner.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(convention_from_row).collect()
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

#[async_trait]
impl GrantStore for Store {
    async fn insert_habilitation(
        &self,
        h: &Habilitation,
        quotas: &QuotaTable,
    ) -> StoreResult<Result<(), GrantRefusal>> {
        let mut tx = self.serialized().await?;
        let (account, group) = match &h.holder {
            Holder::Account(a) => (Some(a.as_str()), None),
            Holder::Group(g) => (None, Some(g.as_str())),
        };
        let held: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM habilitations
             WHERE client_id = $1 AND role = $2 AND status <> 'closed'
               AND (account_id = $3 OR group_id = $4)",
        )
        .bind(h.client_id.as_str())
        .bind(h.role.as_str())
        .bind(account)
        .bind(group)
        .fetch_one(&mut *tx)
        .await
        .map_err(backend)?;
        if held > 0 {
            return Ok(Err(GrantRefusal::AlreadyHeld));
        }
        let newcomers: Vec<String> = match &h.holder {
            Holder::Account(a) => vec![a.to_string()],
            Holder::Group(g) => sqlx::query_scalar(
                "SELECT m.account_id FROM group_members m JOIN groups g ON g.id = m.group_id
                 WHERE m.group_id = $1 AND g.closed_at IS NULL",
            )
            .bind(g.as_str())
            .fetch_all(&mut *tx)
            .await
            .map_err(backend)?,
        };
        if h.status != HabilitationStatus::Closed
            && let Err(refusal) = check_quota(
                &mut tx,
                &h.partner,
                &h.client_id,
                &h.role,
                &newcomers,
                quotas,
            )
            .await?
        {
            return Ok(Err(refusal));
        }
        sqlx::query(
            "INSERT INTO habilitations (id, partner_id, convention_id, client_id, role, scope,
                account_id, group_id, valid_from, valid_until, status, granted_by, granted_at,
                status_changed_at, status_changed_by, status_reason, closed_at, reviewed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
        )
        .bind(h.id.as_str())
        .bind(h.partner.as_str())
        .bind(h.convention.as_str())
        .bind(h.client_id.as_str())
        .bind(h.role.as_str())
        .bind(json(&h.scope))
        .bind(account)
        .bind(group)
        .bind(h.valid_from)
        .bind(h.valid_until)
        .bind(h.status.as_str())
        .bind(&h.granted_by)
        .bind(h.granted_at)
        .bind(h.status_changed_at)
        .bind(&h.status_changed_by)
        .bind(&h.status_reason)
        .bind(h.closed_at)
        .bind(h.reviewed_at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Ok(()))
    }

    async fn get_habilitation(&self, id: &HabilitationId) -> StoreResult<Option<Habilitation>> {
        Ok(self
            .habilitations_where("id = $1", id.as_str())
            .await?
            .pop())
    }

    async fn habilitations_of_partner(
        &self,
        partner: &PartnerId,
    ) -> StoreResult<Vec<Habilitation>> {
        self.habilitations_where("partner_id = $1", partner.as_str())
            .await
    }

    async fn habilitations_of_account(
        &self,
        account: &AccountId,
    ) -> StoreResult<Vec<Habilitation>> {
        self.habilitations_where(
            "account_id = $1 OR group_id IN (
                SELECT m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id
                 WHERE m.account_id = $1 AND g.closed_at IS NULL)",
            account.as_str(),
        )
        .await
    }

    async fn habilitations_of_group(&self, group: &GroupId) -> StoreResult<Vec<Habilitation>> {
        self.habilitations_where("group_id = $1", group.as_str())
            .await
    }

    async fn set_habilitation_status(
        &self,
        id: &HabilitationId,
        status: HabilitationStatus,
        by: &str,
        reason: Option<&str>,
        at: i64,
    ) -> StoreResult<bool> {
        let closed_at = (status == HabilitationStatus::Closed).then_some(at);
        let done = sqlx::query(
            "UPDATE habilitations SET status = $1, status_changed_at = $2, status_changed_by = $3,
                status_reason = $4, closed_at = $5 WHERE id = $6 AND status <> 'closed'",
        )
        .bind(status.as_str())
        .bind(at)
        .bind(by)
        .bind(reason)
        .bind(closed_at)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_reviewed(&self, ids: &[HabilitationId], at: i64) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for id in ids {
            sqlx::query("UPDATE habilitations SET reviewed_at = $1 WHERE id = $2")
                .bind(at)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn delete_closed_habilitations(
        &self,
        kind: ConventionKind,
        before: i64,
    ) -> StoreResult<u64> {
        let done = sqlx::query(
            "DELETE FROM habilitations
             WHERE status = 'closed' AND closed_at < $1
               AND convention_id IN (SELECT id FROM conventions WHERE kind = $2)",
        )
        .bind(before)
        .bind(kind.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected())
    }
}

#[async_trait]
impl GroupStore for Store {
    async fn insert_group(&self, group: &Group) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO groups (id, partner_id, name, created_at, closed_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(group.id.as_str())
        .bind(group.partner.as_str())
        .bind(&group.name)
        .bind(group.created_at)
        .bind(group.closed_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_group(&self, id: &GroupId) -> StoreResult<Option<Group>> {
        let row = sqlx::query("SELECT * FROM groups WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(group_from_row).transpose()
    }

    async fn groups_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Group>> {
        let rows = sqlx::query("SELECT * FROM groups WHERE partner_id = $1 ORDER BY name")
            .bind(partner.as_str())
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter().map(group_from_row).collect()
    }

    async fn rename_group(&self, id: &GroupId, name: &str) -> StoreResult<()> {
        sqlx::query("UPDATE groups SET name = $1 WHERE id = $2")
            .bind(name)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn close_group(&self, id: &GroupId, at: i64) -> StoreResult<()> {
        sqlx::query("UPDATE groups SET closed_at = $1 WHERE id = $2 AND closed_at IS NULL")
            .bind(at)
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn group_members(&self, id: &GroupId) -> StoreResult<Vec<AccountId>> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT m.account_id FROM group_members m JOIN accounts a ON a.id = m.account_id
             WHERE m.group_id = $1 ORDER BY a.family_name, a.given_name",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        Ok(ids.into_iter().map(AccountId::from_stored).collect())
    }

    async fn groups_of_account(&self, account: &AccountId) -> StoreResult<Vec<Group>> {
        let rows = sqlx::query(
            "SELECT g.* FROM groups g JOIN group_members m ON m.group_id = g.id
             WHERE m.account_id = $1 ORDER BY g.name",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(group_from_row).collect()
    }

    async fn add_group_member(
        &self,
        group: &GroupId,
        account: &AccountId,
        quotas: &QuotaTable,
        at: i64,
    ) -> StoreResult<Result<(), GrantRefusal>> {
        let mut tx = self.serialized().await?;
        let open: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT partner_id, client_id, role FROM habilitations
             WHERE group_id = $1 AND status <> 'closed'",
        )
        .bind(group.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(backend)?;
        let newcomer = [account.to_string()];
        for (partner, client_id, role) in open {
            let partner = parsed("partner id", PartnerId::parse(&partner))?;
            let client_id = parsed("client id", ClientId::parse(&client_id))?;
            let role = parsed("role", RoleCode::parse(&role))?;
            if let Err(refusal) =
                check_quota(&mut tx, &partner, &client_id, &role, &newcomer, quotas).await?
            {
                return Ok(Err(refusal));
            }
        }
        sqlx::query(
            "INSERT INTO group_members (group_id, account_id, added_at) VALUES ($1, $2, $3)
             ON CONFLICT DO NOTHING",
        )
        .bind(group.as_str())
        .bind(account.as_str())
        .bind(at)
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(Ok(()))
    }

    async fn remove_group_member(&self, group: &GroupId, account: &AccountId) -> StoreResult<()> {
        sqlx::query("DELETE FROM group_members WHERE group_id = $1 AND account_id = $2")
            .bind(group.as_str())
            .bind(account.as_str())
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl DelegationStore for Store {
    async fn delegations_of(&self, account: &AccountId) -> StoreResult<Vec<Delegation>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT client_id, role FROM delegations WHERE account_id = $1 ORDER BY client_id, role",
        )
        .bind(account.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.into_iter()
            .map(|(client_id, role)| {
                Ok(Delegation {
                    client_id: parsed("delegation client", ClientId::parse(&client_id))?,
                    role: match role.as_str() {
                        "*" => None,
                        other => Some(parsed("delegation role", RoleCode::parse(other))?),
                    },
                })
            })
            .collect()
    }

    async fn set_delegations(
        &self,
        account: &AccountId,
        delegations: &[Delegation],
        by: &str,
        at: i64,
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        sqlx::query("DELETE FROM delegations WHERE account_id = $1")
            .bind(account.as_str())
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        for d in delegations {
            sqlx::query(
                "INSERT INTO delegations (account_id, client_id, role, granted_by, granted_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(account.as_str())
            .bind(d.client_id.as_str())
            .bind(d.role.as_ref().map(|r| r.as_str()).unwrap_or("*"))
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await
            .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }
}

#[async_trait]
impl ReviewStore for Store {
    async fn insert_review(&self, review: &Review) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO reviews (id, partner_id, started_at, started_by, decisions)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(review.id.as_str())
        .bind(review.partner.as_str())
        .bind(review.started_at)
        .bind(review.started_by.as_str())
        .bind(json(&review.decisions))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_review(&self, id: &ReviewId) -> StoreResult<Option<Review>> {
        let row = sqlx::query("SELECT * FROM reviews WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(review_from_row).transpose()
    }

    async fn reviews_of_partner(&self, partner: &PartnerId) -> StoreResult<Vec<Review>> {
        let rows =
            sqlx::query("SELECT * FROM reviews WHERE partner_id = $1 ORDER BY started_at DESC")
                .bind(partner.as_str())
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        rows.iter().map(review_from_row).collect()
    }

    async fn save_review(&self, review: &Review) -> StoreResult<()> {
        sqlx::query(
            "UPDATE reviews SET decisions = $1, completed_at = $2, completed_by = $3, report = $4
             WHERE id = $5 AND completed_at IS NULL",
        )
        .bind(json(&review.decisions))
        .bind(review.completed_at)
        .bind(review.completed_by.as_ref().map(|a| a.as_str()))
        .bind(&review.report)
        .bind(review.id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[async_trait]
impl ChangeLog for Store {
    async fn record_change(&self, change: &ChangeRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO changes (at, actor, partner_id, action, target, reason, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(change.at)
        .bind(&change.actor)
        .bind(change.partner.as_ref().map(|p| p.as_str()))
        .bind(&change.action)
        .bind(&change.target)
        .bind(&change.reason)
        .bind(change.detail.to_string())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_changes_before(&self, before: i64) -> StoreResult<u64> {
        let done = sqlx::query("DELETE FROM changes WHERE at < $1")
            .bind(before)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(done.rows_affected())
    }

    async fn changes_of_partner(
        &self,
        partner: &PartnerId,
        limit: u32,
    ) -> StoreResult<Vec<ChangeRecord>> {
        let rows =
            sqlx::query("SELECT * FROM changes WHERE partner_id = $1 ORDER BY seq DESC LIMIT $2")
                .bind(partner.as_str())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await
                .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(ChangeRecord {
                    at: row.get("at"),
                    actor: row.get("actor"),
                    partner: Some(partner.clone()),
                    action: row.get("action"),
                    target: row.get("target"),
                    reason: row.get("reason"),
                    detail: from_json("change detail", &row.get::<String, _>("detail"))?,
                })
            })
            .collect()
    }
}
