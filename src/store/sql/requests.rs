//! Requests of partners in centralized mode (see `store::request`), over SQL.

use super::*;
use crate::store::request::*;
use crate::types::RequestId;

fn request_from_row(row: &DbRow) -> StoreResult<Request> {
    Ok(Request {
        id: parsed("request id", RequestId::parse(&row.get::<String, _>("id")))?,
        partner: parsed(
            "partner id",
            PartnerId::parse(&row.get::<String, _>("partner_id")),
        )?,
        change: from_json("request payload", &row.get::<String, _>("payload"))?,
        reason: row.get("reason"),
        requested_by: row.get("requested_by"),
        requested_at: row.get("requested_at"),
        status: row
            .get::<String, _>("status")
            .parse()
            .map_err(|_| corrupt("request status"))?,
        decided_by: row.get("decided_by"),
        decided_at: row.get("decided_at"),
        decision_reason: row.get("decision_reason"),
    })
}

#[async_trait]
impl RequestStore for Store {
    async fn insert_request(&self, request: &Request) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO requests (id, partner_id, kind, payload, reason, requested_by,
                requested_at, status)
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending')",
        )
        .bind(request.id.as_str())
        .bind(request.partner.as_str())
        .bind(request.change.code())
        .bind(json(&request.change))
        .bind(&request.reason)
        .bind(&request.requested_by)
        .bind(request.requested_at)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn get_request(&self, id: &RequestId) -> StoreResult<Option<Request>> {
        let row = sqlx::query("SELECT * FROM requests WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn requests_of_partner(
        &self,
        partner: &PartnerId,
        limit: u32,
    ) -> StoreResult<Vec<Request>> {
        let rows = sqlx::query(
            "SELECT * FROM requests WHERE partner_id = $1
             ORDER BY requested_at DESC, id DESC LIMIT $2",
        )
        .bind(partner.as_str())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(backend)?;
        rows.iter().map(request_from_row).collect()
    }

    async fn pending_requests(&self, partners: &[PartnerId]) -> StoreResult<Vec<Request>> {
        if partners.is_empty() {
            return Ok(Vec::new());
        }
        let mut sql = sqlx::QueryBuilder::<Db>::new(
            "SELECT * FROM requests WHERE status = 'pending' AND partner_id IN (",
        );
        let mut list = sql.separated(", ");
        for p in partners {
            list.push_bind(p.as_str().to_owned());
        }
        sql.push(") ORDER BY requested_at, id");
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(request_from_row).collect()
    }

    async fn decide_request(&self, id: &RequestId, decision: &Decision<'_>) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE requests SET status = $1, decided_by = $2, decided_at = $3,
                decision_reason = $4
             WHERE id = $5 AND status = 'pending'",
        )
        .bind(<&str>::from(decision.status))
        .bind(decision.by)
        .bind(decision.at)
        .bind(decision.reason)
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn reopen_request(&self, id: &RequestId) -> StoreResult<()> {
        sqlx::query(
            "UPDATE requests SET status = 'pending', decided_by = NULL, decided_at = NULL,
                decision_reason = NULL
             WHERE id = $1 AND status = 'approved'",
        )
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_decided_requests_before(&self, before: i64) -> StoreResult<u64> {
        let done =
            sqlx::query("DELETE FROM requests WHERE status <> 'pending' AND decided_at < $1")
                .bind(before)
                .execute(&self.pool)
                .await
                .map_err(backend)?;
        Ok(done.rows_affected())
    }
}
