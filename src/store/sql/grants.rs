//! Habilitations over SQL, granted within quotas (part of `habilitations.rs`, see `store::sql`).

use super::*;

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
        let mut tx = self.pool.begin().await.map_err(backend)?;
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
        .execute(&mut *tx)
        .await
        .map_err(backend)?;
        let changed = done.rows_affected() == 1;
        if changed && closed_at.is_some() {
            sqlx::query(&crate::store::sql::record_holders("h.id = $2"))
                .bind(at)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(changed)
    }

    async fn closed_holders_of_partner(
        &self,
        partner: &PartnerId,
    ) -> StoreResult<Vec<HolderRecord>> {
        let rows = sqlx::query(
            "SELECT r.* FROM habilitation_holders r
             JOIN habilitations h ON h.id = r.habilitation_id
             WHERE h.partner_id = $1 AND h.status = 'closed'
             ORDER BY r.family_name, r.given_name, r.email",
        )
        .bind(partner.as_str())
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter()
            .map(|r| {
                Ok(HolderRecord {
                    habilitation: parsed(
                        "habilitation id",
                        HabilitationId::parse(&r.get::<String, _>("habilitation_id")),
                    )?,
                    account: AccountId::from_stored(r.try_get("account_id").map_err(backend)?),
                    civility: r.try_get("civility").map_err(backend)?,
                    given_name: r.try_get("given_name").map_err(backend)?,
                    family_name: r.try_get("family_name").map_err(backend)?,
                    email: r.try_get("email").map_err(backend)?,
                    function: r.try_get("function").map_err(backend)?,
                    recorded_at: r.try_get("recorded_at").map_err(backend)?,
                })
            })
            .collect()
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
