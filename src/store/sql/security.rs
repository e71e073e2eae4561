//! Alerts and trace requests over SQL (part of `durable.rs`, see `store::sql`).

use super::*;
use crate::store::security::*;

fn alert_from_row(row: &DbRow) -> StoreResult<Alert> {
    Ok(Alert {
        id: row.get("id"),
        rule: row.get("rule"),
        subject: row.get("subject"),
        partner: row
            .get::<Option<String>, _>("partner_id")
            .map(|p| PartnerId::parse(&p).map_err(|e| StoreError::Corrupt(e.0)))
            .transpose()?,
        caf: row
            .get::<Option<String>, _>("caf_code")
            .map(|c| CafCode::parse(&c).map_err(|e| StoreError::Corrupt(e.0)))
            .transpose()?,
        first_at: row.get("first_at"),
        last_at: row.get("last_at"),
        events: row.get("events"),
        evidence: from_json("alert evidence", &row.get::<String, _>("evidence"))?,
        acknowledged_by: row
            .get::<Option<String>, _>("acknowledged_by")
            .map(AccountId::from_stored),
        acknowledged_at: row.get("acknowledged_at"),
        acknowledgement: row.get("acknowledgement"),
    })
}

fn request_from_row(row: &DbRow) -> StoreResult<TraceRequest> {
    Ok(TraceRequest {
        id: row.get("id"),
        partner: PartnerId::parse(&row.get::<String, _>("partner_id"))
            .map_err(|e| StoreError::Corrupt(e.0))?,
        caf: CafCode::parse(&row.get::<String, _>("caf_code"))
            .map_err(|e| StoreError::Corrupt(e.0))?,
        requested_by: AccountId::from_stored(row.get("requested_by")),
        requested_at: row.get("requested_at"),
        purpose: row.get("purpose"),
        filter: from_json("trace request filter", &row.get::<String, _>("filter"))?,
        status: row
            .get::<String, _>("status")
            .parse()
            .map_err(|_| corrupt("trace request status"))?,
        answered_by: row
            .get::<Option<String>, _>("answered_by")
            .map(AccountId::from_stored),
        answered_at: row.get("answered_at"),
        answer: row.get("answer"),
        export_csv: row.get("export_csv"),
        export_count: row.get("export_count"),
    })
}

/// `partner_id IN (…) OR partner_id IS NULL AND caf_code IN (…)` for a reach.
fn push_security_reach(
    sql: &mut sqlx::QueryBuilder<'_, Db>,
    reach: &SecurityReach,
    staff_too: bool,
) {
    if reach.everything {
        return;
    }
    sql.push(" AND (partner_id IN (");
    let mut list = sql.separated(", ");
    list.push_bind("-");
    for p in &reach.partners {
        list.push_bind(p.clone());
    }
    sql.push(")");
    if staff_too {
        sql.push(" OR partner_id IS NULL AND caf_code IN (");
        let mut list = sql.separated(", ");
        list.push_bind("-");
        for c in &reach.cafs {
            list.push_bind(c.clone());
        }
        sql.push(")");
    }
    sql.push(")");
}

#[async_trait]
impl SecurityStore for Store {
    async fn raise_alert(&self, alert: &NewAlert, window: i64) -> StoreResult<Raised> {
        let key = format!("{}|{}", alert.rule, alert.subject);
        // A burst whose last event is older than the window is over.
        sqlx::query("UPDATE alerts SET open_key = NULL WHERE open_key = $1 AND last_at < $2")
            .bind(&key)
            .bind(alert.at - window)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        let id = uuid::Uuid::new_v4().to_string();
        let row = sqlx::query(
            "INSERT INTO alerts (id, rule, subject, partner_id, caf_code, first_at, last_at, events,
                evidence, open_key) VALUES ($1, $2, $3, $4, $5, $6, $6, 1, $7, $8)
             ON CONFLICT (open_key) DO UPDATE SET last_at = excluded.last_at,
                events = alerts.events + 1, evidence = excluded.evidence
             RETURNING *",
        )
        .bind(&id)
        .bind(&alert.rule)
        .bind(&alert.subject)
        .bind(alert.partner.as_ref().map(|p| p.as_str()))
        .bind(alert.caf.as_ref().map(|c| c.as_str()))
        .bind(alert.at)
        .bind(json(&alert.evidence))
        .bind(&key)
        .fetch_one(&self.pool)
        .await
        .map_err(backend)?;
        let stored = alert_from_row(&row)?;
        Ok(if stored.id == id {
            Raised::New(stored)
        } else {
            Raised::Continued(stored)
        })
    }

    async fn alerts(&self, reach: &SecurityReach, limit: u32) -> StoreResult<Vec<Alert>> {
        let mut sql = sqlx::QueryBuilder::<Db>::new("SELECT * FROM alerts WHERE 1 = 1");
        push_security_reach(&mut sql, reach, true);
        sql.push(" ORDER BY last_at DESC, id LIMIT ");
        sql.push_bind(i64::from(limit));
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(alert_from_row).collect()
    }

    async fn get_alert(&self, id: &str) -> StoreResult<Option<Alert>> {
        let row = sqlx::query("SELECT * FROM alerts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(alert_from_row).transpose()
    }

    async fn acknowledge_alert(
        &self,
        id: &str,
        by: &AccountId,
        at: i64,
        comment: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE alerts SET acknowledged_by = $1, acknowledged_at = $2, acknowledgement = $3
             WHERE id = $4 AND acknowledged_at IS NULL",
        )
        .bind(by.as_str())
        .bind(at)
        .bind(comment)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn insert_trace_request(&self, r: &TraceRequest) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO trace_requests (id, partner_id, caf_code, requested_by, requested_at,
                purpose, filter, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&r.id)
        .bind(r.partner.as_str())
        .bind(r.caf.as_str())
        .bind(r.requested_by.as_str())
        .bind(r.requested_at)
        .bind(&r.purpose)
        .bind(json(&r.filter))
        .bind(<&str>::from(r.status))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn trace_requests(&self, reach: &SecurityReach) -> StoreResult<Vec<TraceRequest>> {
        let mut sql = sqlx::QueryBuilder::<Db>::new("SELECT * FROM trace_requests WHERE 1 = 1");
        if !reach.everything {
            sql.push(" AND (partner_id IN (");
            let mut list = sql.separated(", ");
            list.push_bind("-");
            for p in &reach.partners {
                list.push_bind(p.clone());
            }
            sql.push(") OR caf_code IN (");
            let mut list = sql.separated(", ");
            list.push_bind("-");
            for c in &reach.cafs {
                list.push_bind(c.clone());
            }
            sql.push("))");
        }
        sql.push(" ORDER BY requested_at DESC, id");
        let rows = sql.build().fetch_all(&self.pool).await.map_err(backend)?;
        rows.iter().map(request_from_row).collect()
    }

    async fn get_trace_request(&self, id: &str) -> StoreResult<Option<TraceRequest>> {
        let row = sqlx::query("SELECT * FROM trace_requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn answer_trace_request(&self, r: &TraceRequest) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE trace_requests SET status = $1, answered_by = $2, answered_at = $3,
                answer = $4, export_csv = $5, export_count = $6
             WHERE id = $7 AND status = 'pending'",
        )
        .bind(<&str>::from(r.status))
        .bind(r.answered_by.as_ref().map(|a| a.as_str()))
        .bind(r.answered_at)
        .bind(&r.answer)
        .bind(&r.export_csv)
        .bind(r.export_count)
        .bind(&r.id)
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(done.rows_affected() == 1)
    }

    async fn purge_security_records(
        &self,
        exports_before: i64,
        records_before: i64,
    ) -> StoreResult<u64> {
        let mut gone = 0;
        for (sql, at) in [
            (
                "UPDATE trace_requests SET export_csv = NULL
                 WHERE export_csv IS NOT NULL AND answered_at < $1",
                exports_before,
            ),
            (
                "DELETE FROM trace_requests WHERE COALESCE(answered_at, requested_at) < $1",
                records_before,
            ),
            ("DELETE FROM alerts WHERE last_at < $1", records_before),
        ] {
            gone += sqlx::query(sql)
                .bind(at)
                .execute(&self.pool)
                .await
                .map_err(backend)?
                .rows_affected();
        }
        Ok(gone)
    }
}
