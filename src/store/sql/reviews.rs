//! Yearly reviews and the change log over SQL (part of `habilitations.rs`, see `store::sql`).

use super::*;

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
