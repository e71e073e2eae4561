//! Annexe 1: export and import (plan, then apply).

use super::*;
use crate::habilitations::Record;

#[derive(OpenApi)]
#[openapi(paths(export_annexe1, import_annexe1))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new().route(
        "/api/v1/partners/{id}/annexe1",
        get(export_annexe1).post(import_annexe1),
    )
}

fn query_value<'a>(query: &'a HashMap<String, String>, name: &str) -> ApiResult<&'a str> {
    query
        .get(name)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request(format!("paramètre « {name} » manquant")))
}

/// The current annexe 1 of a partner for a service: open accesses and accesses closed less
/// than two years ago; `format=csv` for a spreadsheet.
#[utoipa::path(get, path = "/api/v1/partners/{id}/annexe1", tag = "annexe 1",
    params(("id" = String, Path, description = "Partner id"),
        ("service" = String, Query, description = "Client id of the service"),
        ("format" = Option<String>, Query, description = "`json` (default) or `csv`")),
    responses((status = 200, description = "The annex, as JSON or CSV"), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn export_annexe1(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let service = parse("service", query_value(&query, "service")?, ClientId::parse)?;
    let export = annexe1::export(&state, &actor, &id, &service).await?;
    Ok(match query.get("format").map(String::as_str) {
        Some("csv") => (
            [
                (axum::http::header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    axum::http::header::CONTENT_DISPOSITION,
                    "attachment; filename=\"annexe1.csv\"",
                ),
            ],
            annexe1::to_csv(&export),
        )
            .into_response(),
        None | Some("json") => Json(export).into_response(),
        Some(_) => return Err(ApiError::bad_request("format : « json » ou « csv »")),
    })
}

/// Imports an annexe 1 (CSV or the annex's text, as the request body) for one service role:
/// a dry run by default, which returns the plan; `apply=true` carries it out.
#[utoipa::path(post, path = "/api/v1/partners/{id}/annexe1", tag = "annexe 1",
    params(("id" = String, Path, description = "Partner id"),
        ("service" = String, Query, description = "Client id of the service"),
        ("role" = String, Query, description = "Role granted to the people of list 1"),
        ("scope" = Option<String>, Query, description = "Comma-separated scope values"),
        ("apply" = Option<bool>, Query, description = "`true` to apply; otherwise a dry run"),
        ("named_people" = Option<bool>, Query, description = "`true`: the sender confirmed that the new addresses which look shared (`plan.shared_addresses`) each name one person")),
    request_body(content = String, content_type = "text/plain"),
    responses((status = 200, description = "The plan, and what was done when applied"),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn import_annexe1(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: String,
) -> ApiResult<Json<serde_json::Value>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let target = annexe1::ImportTarget {
        partner: id,
        client_id: parse("service", query_value(&query, "service")?, ClientId::parse)?,
        role: parse("role", query_value(&query, "role")?, RoleCode::parse)?,
        scope: query
            .get("scope")
            .map(|s| crate::habilitations::scope_list(s))
            .unwrap_or_default(),
        named_people: query.get("named_people").map(String::as_str) == Some("true"),
    };
    if query.get("apply").map(String::as_str) == Some("true") {
        let (plan, applied) = annexe1::apply(&state, &actor, &target, &body).await?;
        Ok(Json(
            serde_json::json!({ "plan": plan, "applied": applied }),
        ))
    } else {
        let plan = annexe1::plan(&state, &actor, &target, &body).await?;
        Ok(Json(serde_json::json!({ "plan": plan, "applied": null })))
    }
}
