//! Groups of people sharing habilitations.

use super::*;
use crate::habilitations::Record;

#[derive(OpenApi)]
#[openapi(paths(partner_groups, create_group, add_member, remove_member, close_group))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/partners/{id}/groups",
            get(partner_groups).post(create_group),
        )
        .route("/api/v1/groups/{id}/members", post(add_member))
        .route(
            "/api/v1/groups/{id}/members/{account}",
            delete(remove_member),
        )
        .route("/api/v1/groups/{id}/close", post(close_group))
}

/// The partner's groups and their members.
#[utoipa::path(get, path = "/api/v1/partners/{id}/groups", tag = "groupes",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [GroupView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_groups(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<GroupView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    manage::partner(&state, &actor, &id).await?;
    let mut views = Vec::new();
    for group in state.stores.habilitations.groups_of_partner(&id).await? {
        let members = state.stores.habilitations.group_members(&group.id).await?;
        views.push(GroupView::of(
            &group,
            members.iter().map(|m| m.to_string()).collect(),
        ));
    }
    Ok(Json(views))
}

/// Creates a group of the partner.
#[utoipa::path(post, path = "/api/v1/partners/{id}/groups", tag = "groupes",
    params(("id" = String, Path, description = "Partner id")), request_body = NewGroup,
    responses((status = 201, body = GroupView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn create_group(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<NewGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let group = manage::create_group(&state, &actor, &id, &body.name).await?;
    Ok((StatusCode::CREATED, Json(GroupView::of(&group, Vec::new()))))
}

/// Adds a person to a group (counted in the quotas of the group's habilitations).
#[utoipa::path(post, path = "/api/v1/groups/{id}/members", tag = "groupes",
    params(("id" = String, Path, description = "Group id")), request_body = MemberRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn add_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MemberRequest>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, GroupId::parse, Record::Group)?;
    manage::add_member(&state, &actor, &id, &account_id(&body.account)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Removes a person from a group; their sessions end.
#[utoipa::path(delete, path = "/api/v1/groups/{id}/members/{account}", tag = "groupes",
    params(("id" = String, Path, description = "Group id"), ("account" = String, Path, description = "Account id")),
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn remove_member(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, account)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, GroupId::parse, Record::Group)?;
    manage::remove_member(&state, &actor, &id, &account_id(&account)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Closes a group and every habilitation it holds.
#[utoipa::path(post, path = "/api/v1/groups/{id}/close", tag = "groupes",
    params(("id" = String, Path, description = "Group id")), request_body = Reason,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn close_group(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Reason>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, GroupId::parse, Record::Group)?;
    manage::close_group(&state, &actor, &id, body.reason.as_deref()).await?;
    Ok(StatusCode::NO_CONTENT)
}
