//! Requests of partners in centralized mode (MCP agreement §9.2): the partner's
//! administrators file them, the Caf's habilitation officer accepts (the change is carried out
//! through the same checked command) or refuses with a reason — as in the console.

use super::*;
use crate::habilitations::Record;
use crate::store::request::{Request, RequestedChange};
use crate::types::{Email, RequestId};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(OpenApi)]
#[openapi(paths(
    partner_requests,
    file_request,
    request_queue,
    get_request,
    decide,
    cancel
))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/partners/{id}/requests",
            get(partner_requests).post(file_request),
        )
        .route("/api/v1/requests", get(request_queue))
        .route("/api/v1/requests/{id}", get(get_request))
        .route("/api/v1/requests/{id}/decision", post(decide))
        .route("/api/v1/requests/{id}/cancel", post(cancel))
}

/// A request, with what it asks and who filed and decided it in words.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestView {
    pub id: String,
    pub partner: String,
    /// `create_person`, `grant`, `suspend`, `reactivate`, `withdraw` or `close_account`.
    pub kind: &'static str,
    /// What is asked, in French: « créer le compte de … ».
    pub description: String,
    /// The change as stored (`kind` and its fields).
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
    pub reason: Option<String>,
    /// Account id of the requester.
    pub requested_by: String,
    pub requested_by_name: String,
    pub requested_at: String,
    /// `pending`, `approved`, `refused` or `cancelled`.
    pub status: &'static str,
    pub status_label: &'static str,
    pub decided_by: Option<String>,
    pub decided_by_name: Option<String>,
    pub decided_at: Option<String>,
    pub decision_reason: Option<String>,
}

async fn view(state: &AppState, r: Request) -> ApiResult<RequestView> {
    let decided_by_name = match &r.decided_by {
        Some(d) => Some(manage::author_words(state, d).await?),
        None => None,
    };
    Ok(RequestView {
        id: r.id.to_string(),
        partner: r.partner.to_string(),
        kind: r.change.code(),
        description: manage::describe(state, &r.change).await?,
        change: serde_json::to_value(&r.change).unwrap_or_default(),
        requested_by_name: manage::author_words(state, &r.requested_by).await?,
        requested_by: r.requested_by,
        requested_at: rfc3339(r.requested_at),
        status: r.status.into(),
        status_label: r.status.label(),
        decided_by: r.decided_by,
        decided_by_name,
        decided_at: r.decided_at.map(rfc3339),
        decision_reason: r.decision_reason,
        reason: r.reason,
    })
}

async fn views(state: &AppState, requests: Vec<Request>) -> ApiResult<Vec<RequestView>> {
    let mut out = Vec::with_capacity(requests.len());
    for r in requests {
        out.push(view(state, r).await?);
    }
    Ok(out)
}

/// What a partner asks its Caf: `kind` and the fields that kind needs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    /// `create_person`, `grant`, `suspend`, `reactivate`, `withdraw`, `close_account`,
    /// `suspend_account` or `reactivate_account`.
    pub kind: String,
    /// create_person: the new person (`email`, `given_name` and `family_name` required).
    pub email: Option<String>,
    pub civility: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub function: Option<String>,
    /// create_person: confirms that an address which looks shared is read by this person only.
    #[serde(default)]
    pub named_person: bool,
    /// grant: the holder, an account id (or `group`); close_account, suspend_account,
    /// reactivate_account: the account.
    pub account: Option<String>,
    /// grant: a group id as holder.
    pub group: Option<String>,
    /// grant: service and role.
    pub service: Option<String>,
    pub role: Option<String>,
    #[serde(default)]
    pub scope: Vec<String>,
    /// grant: last day included (ISO date).
    pub valid_until: Option<String>,
    /// suspend, reactivate, withdraw: the habilitation id.
    pub habilitation: Option<String>,
    /// Why the partner asks.
    pub reason: Option<String>,
}

fn required<'a>(what: &str, value: &'a Option<String>) -> ApiResult<&'a str> {
    value
        .as_deref()
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "{what} : champ obligatoire pour ce type de demande"
            ))
        })
}

impl NewRequest {
    fn change(&self) -> ApiResult<RequestedChange> {
        let habilitation = || {
            id_or_not_found(
                required("habilitation", &self.habilitation)?,
                HabilitationId::parse,
                Record::Habilitation,
            )
        };
        Ok(match self.kind.as_str() {
            "create_person" => RequestedChange::CreatePerson {
                email: parse("email", required("email", &self.email)?, Email::parse)?,
                civility: self.civility.clone(),
                given_name: required("given_name", &self.given_name)?.trim().to_owned(),
                family_name: required("family_name", &self.family_name)?
                    .trim()
                    .to_owned(),
                function: self.function.clone(),
                named_person: self.named_person,
            },
            "grant" => RequestedChange::Grant {
                holder: match (&self.account, &self.group) {
                    (Some(a), None) => Holder::Account(account_id(a)?),
                    (None, Some(g)) => {
                        Holder::Group(id_or_not_found(g, GroupId::parse, Record::Group)?)
                    }
                    _ => {
                        return Err(ApiError::bad_request(
                            "Indiquez soit « account », soit « group ».",
                        ));
                    }
                },
                client_id: parse(
                    "service",
                    required("service", &self.service)?,
                    ClientId::parse,
                )?,
                role: parse("role", required("role", &self.role)?, RoleCode::parse)?,
                scope: self.scope.clone(),
                valid_until: self
                    .valid_until
                    .as_deref()
                    .map(|d| day_start("valid_until", d, true))
                    .transpose()?,
            },
            "suspend" => RequestedChange::Suspend {
                habilitation: habilitation()?,
            },
            "reactivate" => RequestedChange::Reactivate {
                habilitation: habilitation()?,
            },
            "withdraw" => RequestedChange::Withdraw {
                habilitation: habilitation()?,
            },
            "close_account" => RequestedChange::CloseAccount {
                account: account_id(required("account", &self.account)?)?,
            },
            "suspend_account" => RequestedChange::SuspendAccount {
                account: account_id(required("account", &self.account)?)?,
            },
            "reactivate_account" => RequestedChange::ReactivateAccount {
                account: account_id(required("account", &self.account)?)?,
            },
            _ => {
                return Err(ApiError::bad_request(
                    "kind : « create_person », « grant », « suspend », « reactivate », « withdraw », « close_account », « suspend_account » ou « reactivate_account »",
                ));
            }
        })
    }
}

/// The partner's requests to its Caf, newest first (the last 200).
#[utoipa::path(get, path = "/api/v1/partners/{id}/requests", tag = "demandes",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [RequestView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_requests(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<RequestView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let requests = manage::partner_requests(&state, &actor, &id, 200).await?;
    Ok(Json(views(&state, requests).await?))
}

/// A partner's administrator or delegated manager, in centralized mode: asks the Caf for a
/// change they may not make themselves. The Caf's habilitation officers are mailed.
#[utoipa::path(post, path = "/api/v1/partners/{id}/requests", tag = "demandes",
    params(("id" = String, Path, description = "Partner id")), request_body = NewRequest,
    responses((status = 201, body = RequestView), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "The same request is already pending"),
        (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn file_request(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewRequest>,
) -> ApiResult<(StatusCode, Json<RequestView>)> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let change = body.change()?;
    let request = manage::file_request(&state, &actor, &id, change, body.reason.as_deref()).await?;
    Ok((StatusCode::CREATED, Json(view(&state, request).await?)))
}

/// The Caf's habilitation officer: the pending requests of the partners they decide for,
/// oldest first.
#[utoipa::path(get, path = "/api/v1/requests", tag = "demandes",
    responses((status = 200, body = [RequestView]), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn request_queue(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<RequestView>>> {
    let queue = manage::request_queue(&state, &actor).await?;
    Ok(Json(
        views(&state, queue.into_iter().map(|(r, _)| r).collect()).await?,
    ))
}

#[utoipa::path(get, path = "/api/v1/requests/{id}", tag = "demandes",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = RequestView), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn get_request(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let id = id_or_not_found(&id, RequestId::parse, Record::Request)?;
    let (request, _) = manage::request(&state, &actor, &id).await?;
    Ok(Json(view(&state, request).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestDecision {
    /// `approve` (the change is carried out) or `refuse`.
    pub decision: String,
    /// Required to refuse; mailed to the requester.
    pub reason: Option<String>,
}

/// The Caf's habilitation officer decides a pending request once: an approval carries the
/// change out as the officer (refused, with the command's own reason, when it no longer
/// applies — the request then stays pending); the requester is mailed either way.
#[utoipa::path(post, path = "/api/v1/requests/{id}/decision", tag = "demandes",
    params(("id" = String, Path, description = "Request id")), request_body = RequestDecision,
    responses((status = 200, body = RequestView), (status = 403, body = Problem),
        (status = 404, body = Problem),
        (status = 409, body = Problem, description = "Already decided, or the change no longer applies"),
        (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn decide(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<RequestDecision>,
) -> ApiResult<Json<RequestView>> {
    let id = id_or_not_found(&id, RequestId::parse, Record::Request)?;
    let approve = match body.decision.as_str() {
        "approve" => true,
        "refuse" => false,
        _ => {
            return Err(ApiError::bad_request(
                "decision : « approve » ou « refuse »",
            ));
        }
    };
    let request =
        manage::decide_request(&state, &actor, &id, approve, body.reason.as_deref()).await?;
    Ok(Json(view(&state, request).await?))
}

/// The requester or the partner's administrators withdraw a pending request.
#[utoipa::path(post, path = "/api/v1/requests/{id}/cancel", tag = "demandes",
    params(("id" = String, Path, description = "Request id")),
    responses((status = 200, body = RequestView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn cancel(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<RequestView>> {
    let id = id_or_not_found(&id, RequestId::parse, Record::Request)?;
    manage::cancel_request(&state, &actor, &id).await?;
    let (request, _) = manage::request(&state, &actor, &id).await?;
    Ok(Json(view(&state, request).await?))
}
