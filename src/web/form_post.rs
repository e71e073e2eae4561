//! Delivering an authorization response to the client: a redirect whose query carries it, or
//! (`response_mode=form_post`) a page whose form the browser POSTs to the redirect URI, by a
//! script at once or by the person's click without script.

use crate::flow::AuthorizationResponse;
use crate::store::ResponseMode;
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::html;

pub const SCRIPT: &str = include_str!("form_post.js");

/// The response in the browser's hands, as the request's response mode says.
pub fn deliver(response: &AuthorizationResponse) -> Response {
    match response.mode {
        ResponseMode::Query => Redirect::to(&response.url()).into_response(),
        ResponseMode::FormPost => {
            let body = html! {
                p { "Votre navigateur transmet la réponse à l'application." }
                form id="reponse" method="post" action=(response.redirect_uri.as_str()) {
                    @for (name, value) in &response.params {
                        input type="hidden" name=(name) value=(value);
                    }
                    button type="submit" { "Continuer vers l'application" }
                }
                script src="/static/form-post.js" {}
            };
            (
                // The page carries a code: never stored, never shown again by Back.
                [(header::CACHE_CONTROL, "no-store")],
                Html(super::page("Retour à l'application", body).into_string()),
            )
                .into_response()
        }
    }
}
