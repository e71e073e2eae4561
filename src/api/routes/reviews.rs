//! The yearly reverse review and its signed report.

use super::*;
use crate::habilitations::Record;

#[derive(OpenApi)]
#[openapi(paths(
    start_review,
    partner_reviews,
    get_review,
    decide_review,
    complete_review,
    review_report,
    overdue_reviews
))]
pub(super) struct Doc;

pub(super) fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/partners/{id}/reviews",
            get(partner_reviews).post(start_review),
        )
        .route("/api/v1/reviews/overdue", get(overdue_reviews))
        .route("/api/v1/reviews/{id}", get(get_review))
        .route(
            "/api/v1/reviews/{id}/decisions/{habilitation}",
            put(decide_review),
        )
        .route("/api/v1/reviews/{id}/complete", post(complete_review))
        .route("/api/v1/reviews/{id}/report", get(review_report))
}

async fn review_view(state: &AppState, review: &crate::store::Review) -> ApiResult<ReviewView> {
    let items = if review.completed_at.is_none() {
        review::items(state, review).await?
    } else {
        Vec::new()
    };
    Ok(ReviewView::of(review, items))
}

/// Principal administrator or substitute: starts the yearly review (or returns the open one).
#[utoipa::path(post, path = "/api/v1/partners/{id}/reviews", tag = "revues",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = ReviewView), (status = 403, body = Problem), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn start_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let review = review::start(&state, &actor, &id).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// The partner's reviews, newest first.
#[utoipa::path(get, path = "/api/v1/partners/{id}/reviews", tag = "revues",
    params(("id" = String, Path, description = "Partner id")),
    responses((status = 200, body = [ReviewView]), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn partner_reviews(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<ReviewView>>> {
    let id = id_or_not_found(&id, PartnerId::parse, Record::Partner)?;
    let reviews = review::of_partner(&state, &actor, &id).await?;
    Ok(Json(
        reviews
            .iter()
            .map(|r| ReviewView::of(r, Vec::new()))
            .collect(),
    ))
}

/// A review, with the habilitations still to decide on while it is open.
#[utoipa::path(get, path = "/api/v1/reviews/{id}", tag = "revues",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ReviewView), (status = 404, body = Problem)),
    security(("personal_token" = [])))]
async fn get_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, ReviewId::parse, Record::Review)?;
    let (review, _) = review::get(&state, &actor, &id).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// Confirms or withdraws one habilitation in an open review.
#[utoipa::path(put, path = "/api/v1/reviews/{id}/decisions/{habilitation}", tag = "revues",
    params(("id" = String, Path, description = "Review id"),
        ("habilitation" = String, Path, description = "Habilitation id")),
    request_body = DecisionRequest,
    responses((status = 200, body = ReviewView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn decide_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path((id, habilitation)): Path<(String, String)>,
    ApiJson(body): ApiJson<DecisionRequest>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, ReviewId::parse, Record::Review)?;
    let habilitation = id_or_not_found(&habilitation, HabilitationId::parse, Record::Habilitation)?;
    let decision = match body.decision.as_str() {
        "confirm" => ReviewDecision::Confirm,
        "withdraw" => ReviewDecision::Withdraw,
        _ => {
            return Err(ApiError::bad_request(
                "decision : « confirm » ou « withdraw »",
            ));
        }
    };
    let review = review::decide(&state, &actor, &id, &habilitation, decision).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// Completes the review: withdrawn habilitations are closed and the report is signed.
#[utoipa::path(post, path = "/api/v1/reviews/{id}/complete", tag = "revues",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, body = ReviewView), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("personal_token" = [])))]
async fn complete_review(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Json<ReviewView>> {
    let id = id_or_not_found(&id, ReviewId::parse, Record::Review)?;
    let review = review::complete(&state, &actor, &id).await?;
    Ok(Json(review_view(&state, &review).await?))
}

/// The signed report of a completed review (`application/jose`), verifiable with the JWKS.
#[utoipa::path(get, path = "/api/v1/reviews/{id}/report", tag = "revues",
    params(("id" = String, Path, description = "Review id")),
    responses((status = 200, content_type = "application/jose", body = String),
        (status = 404, body = Problem), (status = 409, body = Problem)),
    security(("personal_token" = [])))]
async fn review_report(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = id_or_not_found(&id, ReviewId::parse, Record::Review)?;
    let (review, _) = review::get(&state, &actor, &id).await?;
    let report = review.report.ok_or_else(|| {
        ApiError::from(crate::habilitations::HabilitationError::Conflict(
            "Cette revue n'est pas terminée : son rapport n'existe pas encore.".into(),
        ))
    })?;
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/jose"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"revue-inverse.jws\"",
            ),
        ],
        report,
    )
        .into_response())
}

/// The partners in the caller's reach whose yearly review is overdue.
#[utoipa::path(get, path = "/api/v1/reviews/overdue", tag = "revues",
    responses((status = 200, body = [OverdueView]), (status = 401, body = Problem)),
    security(("personal_token" = [])))]
async fn overdue_reviews(
    State(state): State<AppState>,
    ApiActor(actor): ApiActor,
) -> ApiResult<Json<Vec<OverdueView>>> {
    let late = review::overdue(&state, &actor).await?;
    Ok(Json(
        late.iter()
            .map(|o| OverdueView {
                partner: PartnerView::from(&o.partner),
                last_completed_at: o.last_completed_at.map(rfc3339),
                due_since: rfc3339(o.due_since),
            })
            .collect(),
    ))
}
