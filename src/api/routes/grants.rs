//! Habilitations: grants, suspension, reactivation, withdrawal.

use super::*;
use crate::habilitations::Record;

#[derive(OpenApi)]
#[openapi(paths(list_habilitations, partner_habilitations, grant, change_status))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/habilitations", get(list_habilitations))
        .route(
            "/api/v1/partners/{id}/habilitations",
            get(partner_habilitations).post(grant),
        )
        .route("/api/v1/habilitations/{id}/status", post(change_status))
}

/// The habilitations of every partner the caller may see — active and suspended ones unless
/// `status` asks for another — found by `q` (holder's name or email, group name, role code),
/// filtered by `partner`, `service`, `role`, `status` and `expiring_within` (days), sorted by
/// `holder`, `service`, `valid_until` or `granted`, a page at a time (`Link: rel="next"` and
/// `X-Next-Cursor` when more follow). `effective` says whether it gives access now (a
/// suspended holder's habilitations do not).
#[utoipa::path(get, path = "/api/v1/habilitations", tag = "habilitations",
    params(crate::habilitations::directory::ListParams),
    responses((status = 200, body = [HabilitationListItem],
            headers(("link" = String, description = "RFC 8288 link to the next page, when there is one"),
                ("x-next-cursor" = String, description = "The cursor to pass as `after`"))),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn list_habilitations(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let params = crate::habilitations::directory::ListParams::from_query(&query)?;
    let page = crate::habilitations::directory::habilitations(&state, &actor, &params).await?;
    let now = state.clock.now();
    let items = page
        .items
        .iter()
        .map(|hit| HabilitationListItem {
            habilitation: HabilitationView::from(&hit.habilitation),
            partner_name: hit.partner_name.clone(),
            holder_name: hit.holder_name.clone(),
            holder_email: hit.holder_email.clone(),
            effective: !hit.holder_blocked && hit.habilitation.is_effective(now),
        })
        .collect();
    Ok(paged("/api/v1/habilitations", &query, items, page.next))
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
