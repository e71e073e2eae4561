//! Habilitations: grants, suspension, reactivation, withdrawal.

use super::*;
use crate::habilitations::Record;

#[derive(OpenApi)]
#[openapi(paths(partner_habilitations, grant, change_status))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/partners/{id}/habilitations",
            get(partner_habilitations).post(grant),
        )
        .route("/api/v1/habilitations/{id}/status", post(change_status))
}

/// Every habilitation of the partner, any status.
#[utoipa::path(get, path = "/api/v1/partners/{id}/habilitations", tag = "habilitations",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [HabilitationView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_habilitations(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<HabilitationView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    manage::partner(&state, &actor, &id).await?;
    let all = state
        .stores
        .habilitations
        .habilitations_of_partner(&id)
        .await?;
    Ok(Json(all.iter().map(HabilitationView::from).collect()))
}

/// Grants a service role to a person or a group of the partner, within the quota.
#[utoipa::path(post, path = "/api/v1/partners/{id}/habilitations", tag = "habilitations",
    params(("id" = String, Path, description = "Partner id")), request_body = NewHabilitation,
    responses((status = 201, body = HabilitationView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "Quota reached or already held"),
        (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn grant(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewHabilitation>,
) -> ApiResult<(StatusCode, Json<HabilitationView>)> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let holder = match (&body.account, &body.group) {
        (Some(a), None) => Holder::Account(account_id(a)?),
        (None, Some(g)) => Holder::Group(id_or_not_found(g, GroupId::parse, Record::Group)?),
        _ => {
            return Err(ApiError::bad_request(
                "Indiquez soit « account », soit « group ».",
            ));
        }
    };
    let request = GrantRequest {
        holder,
        client_id: parse("service", &body.service, ClientId::parse)?,
        role: parse("role", &body.role, RoleCode::parse)?,
        scope: body.scope,
        valid_from: body
            .valid_from
            .as_deref()
            .map(|d| day_start("valid_from", d, false))
            .transpose()?,
        valid_until: body
            .valid_until
            .as_deref()
            .map(|d| day_start("valid_until", d, true))
            .transpose()?,
    };
    let habilitation = manage::grant(&state, &actor, &id, request, body.reason.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(HabilitationView::from(&habilitation)),
    ))
}

/// Suspends, reactivates or closes (withdraws) a habilitation.
#[utoipa::path(post, path = "/api/v1/habilitations/{id}/status", tag = "habilitations",
    params(("id" = String, Path, description = "Habilitation id")), request_body = StatusRequest,
    responses((status = 200, body = HabilitationView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn change_status(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<StatusRequest>,
) -> ApiResult<Json<HabilitationView>> {
    let id = id_or_not_found(&id, HabilitationId::parse, Record::Habilitation)?;
    let change = StatusChange::parse(&body.change).ok_or_else(|| {
        ApiError::bad_request("change : « suspend », « reactivate » ou « close »")
    })?;
    let habilitation =
        manage::change_status(&state, &actor, &id, change, body.reason.as_deref()).await?;
    Ok(Json(HabilitationView::from(&habilitation)))
}
