//! Partners, conventions, quotas, modes and the history of changes.

use super::*;
use crate::habilitations::Record;
use crate::habilitations::directory::ListParams;

#[derive(OpenApi)]
#[openapi(paths(
    list_partners,
    get_partner,
    set_quota,
    set_mode,
    partner_changes,
    create_partner,
    create_convention,
    update_convention
))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/partners", get(list_partners).post(create_partner))
        .route("/api/v1/partners/{id}/conventions", post(create_convention))
        .route("/api/v1/conventions/{id}", put(update_convention))
        .route("/api/v1/partners/{id}", get(get_partner))
        .route("/api/v1/partners/{id}/changes", get(partner_changes))
        .route("/api/v1/conventions/{id}/quotas", put(set_quota))
        .route("/api/v1/conventions/{id}/mode", put(set_mode))
}

/// The partners the caller may see — all (national operator), their Caf's, or their own —
/// found by `q` (name, commune, SIRET), filtered by `caf`, sorted by `name`, `commune` or
/// `siret`, a page at a time: when more follow, the `Link` header (`rel="next"`) and
/// `X-Next-Cursor` give the next page.
#[utoipa::path(get, path = "/api/v1/partners", tag = "partenaires",
    params(ListParams),
    responses((status = 200, body = [PartnerView],
            headers(("link" = String, description = "RFC 8288 link to the next page, when there is one"),
                ("x-next-cursor" = String, description = "The cursor to pass as `after`"))),
        (status = 401, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn list_partners(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult<Response> {
    let params = ListParams::from_query(&query)?;
    let page = crate::habilitations::directory::partners(&state, &actor, &params).await?;
    let items = page.items.iter().map(PartnerView::from).collect();
    Ok(paged("/api/v1/partners", &query, items, page.next))
}

/// A partner with its conventions and the use of its quotas.
#[utoipa::path(get, path = "/api/v1/partners/{id}", tag = "partenaires",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = PartnerDetail), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn get_partner(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<PartnerDetail>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let context = manage::partner(&state, &actor, &id).await?;
    let quotas = manage::quota_uses(&state, &context).await?;
    Ok(Json(PartnerDetail {
        partner: PartnerView::from(&context.partner),
        conventions: context
            .conventions
            .iter()
            .map(|c| ConventionView::of(c, context.today))
            .collect(),
        quotas: quotas.iter().map(QuotaView::from).collect(),
    }))
}

/// Caf only: sets or removes the quota of a service role under a convention.
#[utoipa::path(put, path = "/api/v1/conventions/{id}/quotas", tag = "partenaires",
    params(("id" = String, Path, description = "Convention id")), request_body = QuotaRequest,
    responses((status = 204), (status = 403, body = Problem), (status = 404, body = Problem),
        (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn set_quota(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<QuotaRequest>,
) -> ApiResult<StatusCode> {
    let id = id_or_not_found(&id, ConventionId::parse, Record::Convention)?;
    manage::set_quota(
        &state,
        &actor,
        &id,
        &parse("service", &body.service, ClientId::parse)?,
        &parse("role", &body.role, RoleCode::parse)?,
        body.maximum,
        body.reason.as_deref(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Caf only: withdraws the delegation (`centralise`) or restores it (`delegue`).
#[utoipa::path(put, path = "/api/v1/conventions/{id}/mode", tag = "partenaires",
    params(("id" = String, Path, description = "Convention id")), request_body = ModeRequest,
    responses((status = 200, body = ConventionView), (status = 403, body = Problem),
        (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn set_mode(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ModeRequest>,
) -> ApiResult<Json<ConventionView>> {
    let id = id_or_not_found(&id, ConventionId::parse, Record::Convention)?;
    let mode = HabilitationMode::parse(&body.mode)
        .ok_or_else(|| ApiError::bad_request("mode : « delegue » ou « centralise »"))?;
    let convention = manage::switch_mode(&state, &actor, &id, mode, body.reason.as_deref()).await?;
    Ok(Json(ConventionView::of(
        &convention,
        crate::habilitations::today(),
    )))
}

/// The latest changes to the partner's data: who, when, what, why.
#[utoipa::path(get, path = "/api/v1/partners/{id}/changes", tag = "partenaires",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [ChangeView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_changes(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ChangeView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    manage::partner(&state, &actor, &id).await?;
    let changes = state
        .stores
        .habilitations
        .changes_of_partner(&id, 200)
        .await?;
    Ok(Json(changes.iter().map(ChangeView::from).collect()))
}

/// Caf side: registers a partner of the caller's Caf.
#[utoipa::path(post, path = "/api/v1/partners", tag = "partenaires", request_body = NewPartner,
    responses((status = 201, body = PartnerView), (status = 403, body = Problem),
        (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn create_partner(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    ApiJson(body): ApiJson<NewPartner>,
) -> ApiResult<(StatusCode, Json<PartnerView>)> {
    let partner = crate::store::Partner {
        id: parse("id", &body.id, PartnerId::parse)?,
        caf: parse("caf", &body.caf, crate::types::CafCode::parse)?,
        name: body.name.trim().to_owned(),
        siret: body
            .siret
            .as_deref()
            .map(|s| parse("siret", s, crate::types::Siret::parse))
            .transpose()?,
        commune: crate::store::Partner::commune_of(body.commune.as_deref()),
    };
    let partner = manage::create_partner(&state, &actor, partner).await?;
    Ok((StatusCode::CREATED, Json(PartnerView::from(&partner))))
}

fn convention_from(
    id: ConventionId,
    partner: &crate::store::Partner,
    body: ConventionRequest,
) -> ApiResult<crate::store::Convention> {
    use crate::store::{Contact, ContactRole, ContactSide, ConventionKind};
    let date = |what: &str, v: &str| {
        chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").map_err(|_| {
            ApiError::bad_request(format!("{what} : date attendue au format AAAA-MM-JJ"))
        })
    };
    let contacts = body
        .contacts
        .into_iter()
        .map(|c| {
            Ok(Contact {
                side: match c.side.as_str() {
                    "partner" => ContactSide::Partner,
                    "caf" => ContactSide::Caf,
                    _ => return Err(ApiError::bad_request("side : « partner » ou « caf »")),
                },
                role: match c.role.as_str() {
                    "habilitation_officer" => ContactRole::HabilitationOfficer,
                    "security_officer" => ContactRole::SecurityOfficer,
                    "technical_referent" => ContactRole::TechnicalReferent,
                    _ => return Err(ApiError::bad_request(
                        "role : « habilitation_officer », « security_officer » ou « technical_referent »",
                    )),
                },
                name: c.name,
                email: c
                    .email
                    .as_deref()
                    .map(|e| parse("email", e, crate::types::Email::parse))
                    .transpose()?,
                phone: c.phone,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(crate::store::Convention {
        id,
        number: body.number,
        kind: ConventionKind::parse(&body.kind).ok_or_else(|| {
            ApiError::bad_request(
                "kind : « cooperation », « monenfant » ou « mon_compte_partenaire »",
            )
        })?,
        caf: partner.caf.clone(),
        partner: partner.id.clone(),
        services: body
            .services
            .iter()
            .map(|s| parse("services", s, ClientId::parse))
            .collect::<ApiResult<Vec<_>>>()?,
        starts_on: date("starts_on", &body.starts_on)?,
        terminated_on: body
            .terminated_on
            .as_deref()
            .map(|d| date("terminated_on", d))
            .transpose()?,
        mode: match body.mode.as_deref() {
            None => HabilitationMode::Delegated,
            Some(m) => HabilitationMode::parse(m)
                .ok_or_else(|| ApiError::bad_request("mode : « delegue » ou « centralise »"))?,
        },
        contacts,
        roles: body
            .roles
            .iter()
            .map(|r| {
                Ok(crate::store::SubscribedRole {
                    service: parse("roles.service", &r.service, ClientId::parse)?,
                    role: parse("roles.role", &r.role, crate::types::RoleCode::parse)?,
                })
            })
            .collect::<ApiResult<Vec<_>>>()?,
    })
}

/// Caf side: records a new convention of the partner.
#[utoipa::path(post, path = "/api/v1/partners/{id}/conventions", tag = "partenaires",
    params(("id" = String, Path, description = "Partner id")), request_body = ConventionRequest,
    responses((status = 201, body = ConventionView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn create_convention(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConventionRequest>,
) -> ApiResult<(StatusCode, Json<ConventionView>)> {
    let partner = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let context = manage::partner(&state, &actor, &partner).await?;
    let convention = convention_from(ConventionId::generate(), &context.partner, body)?;
    let saved = manage::save_convention(&state, &actor, convention).await?;
    Ok((
        StatusCode::CREATED,
        Json(ConventionView::of(&saved, crate::habilitations::today())),
    ))
}

/// Caf side: corrects a convention or records its termination (`terminated_on`).
#[utoipa::path(put, path = "/api/v1/conventions/{id}", tag = "partenaires",
    params(("id" = String, Path, description = "Convention id")), request_body = ConventionRequest,
    responses((status = 200, body = ConventionView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn update_convention(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ConventionRequest>,
) -> ApiResult<Json<ConventionView>> {
    let id = id_or_not_found(&id, ConventionId::parse, Record::Convention)?;
    let (_, context) = manage::convention(&state, &actor, &id).await?;
    let convention = convention_from(id, &context.partner, body)?;
    let saved = manage::save_convention(&state, &actor, convention).await?;
    Ok(Json(ConventionView::of(
        &saved,
        crate::habilitations::today(),
    )))
}
