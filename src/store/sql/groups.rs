//! Groups, their members and delegations over SQL (part of `habilitations.rs`, see `store::sql`).

use super::*;

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
