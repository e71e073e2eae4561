//! `GET /api/v1/traces/dashboard`: the security dashboard's figures as JSON, for the tools
//! security teams use (the console's `/console/securite` shows the same, `traces::dashboard`).

use super::{ApiActor, ApiError};
use crate::state::AppState;
use crate::traces::actions::{action_label, reason_label};
use crate::traces::dashboard::{self, Bucket, Request};
use axum::Json;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;

fn instant(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn buckets(list: &[Bucket]) -> Value {
    list.iter()
        .map(|b| {
            json!({ "from": instant(b.start_us), "to": instant(b.end_us), "label": b.label,
                    "logins": b.logins, "failures": b.failures })
        })
        .collect()
}

/// The dashboard of a period (`from`, `to`: days in Europe/Paris, included; default the last
/// seven days), its hours for `day`, accounts silent for `dormant_months`.
#[utoipa::path(get, path = "/api/v1/traces/dashboard", tag = "traces",
    params(("from" = Option<String>, Query, description = "First day (YYYY-MM-DD, Paris)"),
        ("to" = Option<String>, Query, description = "Last day, included"),
        ("day" = Option<String>, Query, description = "The day detailed hour by hour (default: the one with the most failures)"),
        ("dormant_months" = Option<u32>, Query, description = "Months without a login (1 to 12, default 3)")),
    responses((status = 200, description = "The figures", body = Object), (status = 403, body = super::Problem)),
    security(("personal_token" = [])))]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let get = |n: &str| q.get(n).map(String::as_str);
    let request = Request::from_params(
        dashboard::today(&state),
        get("from"),
        get("to"),
        get("day"),
        get("dormant_months"),
    )
    .map_err(ApiError::bad_request)?;
    let origin = crate::web::origin(&headers, Some(peer));
    let b = dashboard::build(&state, &actor, request, &origin).await?;
    Ok(Json(json!({
        "from": b.request.from.to_string(),
        "to": b.request.to.to_string(),
        "days": buckets(&b.days),
        "day": b.day.to_string(),
        "hours": buckets(&b.hours),
        "failures_by_reason": b.reasons.iter().map(|r| json!({
            "action": r.action, "action_label": action_label(&r.action),
            "reason": r.reason, "reason_label": r.reason.as_deref().and_then(reason_label),
            "count": r.count,
        })).collect::<Vec<_>>(),
        "locked": b.locked.iter().map(|l| json!({
            "account": l.account.id, "email": l.account.profile.email,
            "until": instant(l.until * 1_000_000), "lock": l.lock,
        })).collect::<Vec<_>>(),
        "dormant": {
            "months": b.request.dormant_months,
            "total": b.dormant_total,
            "capped": b.dormant_capped,
            "accounts": b.dormant.iter().map(|d| json!({
                "account": d.account.id, "email": d.account.profile.email,
                "last_login": d.last_login_us.map(instant),
            })).collect::<Vec<_>>(),
        },
        "open_alerts": b.open_alerts,
    })))
}
