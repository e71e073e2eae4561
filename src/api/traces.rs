//! `/api/v1/traces`: relying applications submit the business actions of their users (a
//! client_credentials token with the `traces:write` scope; acknowledged once on disk), and
//! security officers search and export (a personal API token).

use super::{ApiActor, ApiError, ApiJson, Problem};
use crate::state::AppState;
use crate::store::{Appended, NewTrace, Outcome};
use crate::traces::query::{self, Filter, TraceLine};
use crate::traces::{actions, session_digest};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::net::SocketAddr;
use utoipa::{OpenApi, ToSchema};

/// The scope a relying application's client_credentials token needs to submit traces.
pub const WRITE_SCOPE: &str = "traces:write";

#[derive(OpenApi)]
#[openapi(
    paths(submit, search, export, list_actions, attestations, erasures, super::dashboard::show),
    tags((name = "traces", description = "Traces: submission by relying applications, search and export by security officers"))
)]
pub struct TracesDoc;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/traces", post(submit).get(search))
        .route("/api/v1/traces/export", get(export))
        .route("/api/v1/traces/actions", get(list_actions))
        .route("/api/v1/traces/dashboard", get(super::dashboard::show))
        .route("/api/v1/traces/attestations", get(attestations))
        .route("/api/v1/retention/erasures", get(erasures))
}

/// One business action of a person, as a relying application submits it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmittedEvent {
    /// Unique within the application's events: resubmitting it changes nothing.
    pub id: String,
    /// When it happened (RFC 3339); the time of submission when absent. Refused when older
    /// than `traces.max_event_age_seconds` (7 days by default) or more than
    /// `traces.max_event_lead_seconds` (5 minutes) ahead; the reception time is kept beside it.
    pub at: Option<String>,
    /// The person (`sub` of their ID token).
    pub sub: String,
    /// The session (`sid` of their ID token); kept as a digest.
    pub sid: Option<String>,
    /// The application's name of the action: `[a-z0-9_.-]`, at most 64 characters.
    pub action: String,
    /// The reference of the record touched (e.g. `dossier:1234567`), never its content.
    pub target: Option<String>,
    /// `success` (default) or `failure`.
    pub outcome: Option<String>,
    pub reason: Option<String>,
    /// The person's IP address as the application saw it.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    pub events: Vec<SubmittedEvent>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SubmissionResult {
    /// Newly stored.
    pub accepted: usize,
    /// Already stored earlier (same id).
    pub duplicates: usize,
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

fn text(what: &str, index: usize, value: &str, max: usize) -> Result<String, ApiError> {
    if value.is_empty() || value.chars().count() > max || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(format!(
            "events[{index}].{what} : 1 à {max} caractères, sans caractère de contrôle"
        )));
    }
    Ok(value.to_owned())
}

/// Submits up to `traces.max_batch` events; answers once they are on disk.
#[utoipa::path(post, path = "/api/v1/traces", tag = "traces", request_body = Submission,
    responses((status = 200, body = SubmissionResult), (status = 400, body = Problem),
        (status = 401, body = Problem), (status = 403, body = Problem), (status = 503, body = Problem)),
    security(("client_credentials" = ["traces:write"])))]
async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Submission>,
) -> Result<Json<SubmissionResult>, ApiError> {
    let token = bearer(&headers)
        .ok_or_else(|| ApiError::unauthenticated("Présentez un jeton client_credentials."))?;
    let record = crate::oidc::tokens::active_access_token(&state, token)
        .await?
        .ok_or_else(|| ApiError::unauthenticated("Jeton inconnu, expiré ou révoqué."))?;
    if record.account.is_some() || !record.scope.contains(WRITE_SCOPE) {
        return Err(ApiError(Problem::new(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "Jeton insuffisant",
            format!(
                "Un jeton client_credentials portant la portée « {WRITE_SCOPE} » est nécessaire."
            ),
        )));
    }
    if body.events.len() > state.settings.traces_max_batch {
        return Err(ApiError::bad_request(format!(
            "{} événements au plus par envoi",
            state.settings.traces_max_batch
        )));
    }
    let stream = record.client_id.to_string();
    let now = crate::traces::now_us();
    let mut actors = HashMap::new();
    let mut traces = Vec::with_capacity(body.events.len());
    for (i, e) in body.events.into_iter().enumerate() {
        let id = text("id", i, &e.id, 64)?;
        if !actions::valid_business_action(&e.action) {
            return Err(ApiError::bad_request(format!(
                "events[{i}].action : lettres minuscules, chiffres, '.', '_' et '-', 64 au plus"
            )));
        }
        let at_us = match &e.at {
            None => now,
            Some(at) => chrono::DateTime::parse_from_rfc3339(at)
                .map(|d| d.timestamp_micros())
                .map_err(|_| {
                    ApiError::bad_request(format!("events[{i}].at : date RFC 3339 attendue"))
                })?,
        };
        if at_us > now + state.settings.trace_max_lead_us {
            return Err(ApiError::bad_request(format!(
                "events[{i}].at est dans le futur (plus de {} s d'avance sur l'horloge de Passerelle)",
                state.settings.trace_max_lead_us / 1_000_000
            )));
        }
        if at_us < now - state.settings.trace_max_age_us {
            return Err(ApiError::bad_request(format!(
                "events[{i}].at est trop ancien : un événement doit être transmis dans les {} heures",
                state.settings.trace_max_age_us / 3_600_000_000
            )));
        }
        let outcome = match e.outcome.as_deref() {
            None => Outcome::Success,
            Some(o) => Outcome::parse(o).ok_or_else(|| {
                ApiError::bad_request(format!("events[{i}].outcome : « success » ou « failure »"))
            })?,
        };
        if let Some(ip) = &e.ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(ApiError::bad_request(format!(
                "events[{i}].ip n'est pas une adresse IP"
            )));
        }
        if !actors.contains_key(&e.sub) {
            let account = state
                .stores
                .accounts
                .get_account(&crate::types::AccountId::from_stored(text(
                    "sub", i, &e.sub, 64,
                )?))
                .await?
                .ok_or_else(|| {
                    ApiError::bad_request(format!("events[{i}].sub : personne inconnue"))
                })?;
            actors.insert(e.sub.clone(), crate::traces::TraceActor::of(&account));
        }
        let actor = actors[&e.sub].clone();
        traces.push(NewTrace {
            id,
            stream: stream.clone(),
            at_us,
            partner: actor.partner.clone(),
            actor_account: actor.account,
            actor_partner: actor.partner,
            actor_caf: actor.caf,
            session: e.sid.as_deref().map(session_digest),
            client_id: Some(stream.clone()),
            action: e.action,
            target: e.target.map(|t| text("target", i, &t, 256)).transpose()?,
            outcome,
            reason: e.reason.map(|r| text("reason", i, &r, 64)).transpose()?,
            ip: e.ip,
            user_agent: e.user_agent.map(|u| u.chars().take(256).collect()),
            request_id: headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
            received_at_us: Some(now),
        });
    }
    let outcomes = state.tracer.append_durable(traces).await.map_err(|e| {
        tracing::error!(error = %e, "traces not stored");
        ApiError(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "Traces non enregistrées",
            "Les traces n'ont pas pu être enregistrées : renvoyez-les (les identifiants évitent les doublons).".into(),
        ))
    })?;
    let accepted = outcomes.iter().filter(|o| **o == Appended::Stored).count();
    state.metrics.traces_ingested.inc_by(accepted as u64);
    Ok(Json(SubmissionResult {
        accepted,
        duplicates: outcomes.len() - accepted,
    }))
}

fn filter_from(query: &HashMap<String, String>) -> Result<Filter, ApiError> {
    let get = |name: &str| {
        query
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let time = |name: &str, upper: bool| -> Result<Option<i64>, ApiError> {
        get(name)
            .map(|v| {
                query::parse_bound(&v, upper).ok_or_else(|| {
                    ApiError::bad_request(format!("{name} : date RFC 3339 ou AAAA-MM-JJ"))
                })
            })
            .transpose()
    };
    Ok(Filter {
        person: get("person"),
        partner: get("partner"),
        service: get("service"),
        action: get("action"),
        outcome: get("outcome")
            .map(|o| {
                Outcome::parse(&o)
                    .ok_or_else(|| ApiError::bad_request("outcome : « success » ou « failure »"))
            })
            .transpose()?,
        reason: get("reason"),
        target: get("target"),
        ip: get("ip"),
        from_us: time("from", false)?,
        to_us: time("to", true)?,
        after: get("after"),
        limit: match get("limit") {
            None => 100,
            Some(l) => l
                .parse()
                .map_err(|_| ApiError::bad_request("limit : un nombre de 1 à 1000"))?,
        },
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TracePage {
    #[schema(value_type = Vec<Object>)]
    pub traces: Vec<TraceLine>,
    /// Pass it as `after` to get the next page; absent on the last one.
    pub next: Option<String>,
}

/// Searches the traces in the caller's reach, newest first (the search itself is traced).
#[utoipa::path(get, path = "/api/v1/traces", tag = "traces",
    params(("person" = Option<String>, Query, description = "Account id or email"),
        ("partner" = Option<String>, Query, description = "Partner id"),
        ("service" = Option<String>, Query, description = "Client id"),
        ("action" = Option<String>, Query, description = "Action name"),
        ("outcome" = Option<String>, Query, description = "`success` or `failure`"),
        ("reason" = Option<String>, Query, description = "a failure's reason code (`wrong_password`…, see /api/v1/traces/actions)"),
        ("target" = Option<String>, Query, description = "the record an event is about, exactly as traced (`dossier:…`)"),
        ("ip" = Option<String>, Query, description = "Client IP"),
        ("from" = Option<String>, Query, description = "From (RFC 3339 or date), included"),
        ("to" = Option<String>, Query, description = "To: a date (included) or an RFC 3339 instant (excluded)"),
        ("after" = Option<String>, Query, description = "Cursor of the next page"),
        ("limit" = Option<u32>, Query, description = "At most 1000, default 100")),
    responses((status = 200, body = TracePage), (status = 403, body = Problem)),
    security(("personal_token" = [])))]
async fn search(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<TracePage>, ApiError> {
    let filter = filter_from(&params)?;
    let origin = crate::web::origin(&headers, Some(peer));
    let page = query::search(&state, &actor, &filter, &origin).await?;
    Ok(Json(TracePage {
        traces: page.records.iter().map(TraceLine::from).collect(),
        next: page.next,
    }))
}

/// Exports the matching traces (at most 100,000) as CSV (`;`) or JSON lines.
#[utoipa::path(get, path = "/api/v1/traces/export", tag = "traces",
    params(("format" = Option<String>, Query, description = "`csv` (default) or `jsonl`; other filters as for the search")),
    responses((status = 200, description = "The traces, as a file"), (status = 403, body = Problem)),
    security(("personal_token" = [])))]
async fn export(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let filter = filter_from(&params)?;
    let origin = crate::web::origin(&headers, Some(peer));
    let (content_type, name, jsonl) = match params.get("format").map(String::as_str) {
        None | Some("csv") => ("text/csv; charset=utf-8", "traces.csv", false),
        Some("jsonl") => ("application/jsonl", "traces.jsonl", true),
        Some(_) => return Err(ApiError::bad_request("format : « csv » ou « jsonl »")),
    };
    let records = query::export(&state, &actor, &filter, &origin).await?;
    let body = if jsonl {
        query::to_json_lines(&records)
    } else {
        query::to_csv(
            &records,
            &crate::traces::names::Names::of(&state, &records).await?,
        )
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActionView {
    pub name: &'static str,
    /// In French, as the console shows it.
    pub label: &'static str,
    pub description: &'static str,
}

/// The documented list of Passerelle's own actions, with its version.
#[utoipa::path(get, path = "/api/v1/traces/actions", tag = "traces",
    responses((status = 200, description = "`{version, actions: [{name, description}]}`")))]
async fn list_actions() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "version": actions::VERSION,
        "actions": actions::ACTIONS.iter().map(|a| ActionView { name: a.name, label: a.label, description: a.description }).collect::<Vec<_>>(),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttestationView {
    pub id: String,
    pub stream: String,
    pub destroyed_at: String,
    pub from: String,
    pub to: String,
    pub count: u64,
    pub first_hash: String,
    pub last_hash: String,
    /// Compact JWS (`typ` `destruction+jwt`), verifiable with the JWKS.
    pub signature: String,
}

/// The signed attestations of the traces the retention job destroyed (ranges, counts and
/// hashes only), for the Cafs and partners.
#[utoipa::path(get, path = "/api/v1/traces/attestations", tag = "traces",
    responses((status = 200, body = [AttestationView]), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn attestations(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> Result<Json<Vec<AttestationView>>, ApiError> {
    let time = |us: i64| {
        chrono::DateTime::from_timestamp_micros(us)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
            .unwrap_or_default()
    };
    let hex = crate::traces::verify::hex;
    Ok(Json(
        state
            .tracer
            .store()
            .attestations()
            .await?
            .into_iter()
            .map(|a| AttestationView {
                destroyed_at: time(a.destroyed_at_us),
                from: time(a.from_us),
                to: time(a.to_us),
                first_hash: hex(&a.first_hash),
                last_hash: hex(&a.last_hash),
                id: a.id,
                stream: a.stream,
                count: a.count,
                signature: a.signature,
            })
            .collect(),
    ))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErasureView {
    pub id: String,
    pub erased_at: String,
    /// The last habilitation of each account erased had ended before this time.
    pub ended_before: String,
    /// The accounts erased, by their opaque id.
    pub accounts: Vec<String>,
    /// Compact JWS (`typ` `erasure+jwt`), verifiable with the JWKS.
    pub signature: String,
}

/// The signed attestations of the accounts whose personal data the retention job erased, six
/// months after their last habilitation ended (opaque ids only), for the Cafs and partners.
#[utoipa::path(get, path = "/api/v1/retention/erasures", tag = "traces",
    responses((status = 200, body = [ErasureView]), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn erasures(
    State(state): State<AppState>,
    ApiActor(_actor): ApiActor,
) -> Result<Json<Vec<ErasureView>>, ApiError> {
    let time = |s: i64| {
        chrono::DateTime::from_timestamp(s, 0)
            .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    Ok(Json(
        state
            .stores
            .accounts
            .erasure_attestations()
            .await?
            .into_iter()
            .map(|e| ErasureView {
                erased_at: time(e.erased_at),
                ended_before: time(e.ended_before),
                accounts: e.accounts.iter().map(|a| a.to_string()).collect(),
                id: e.id,
                signature: e.signature,
            })
            .collect(),
    ))
}
