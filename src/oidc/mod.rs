//! The OpenID Connect provider: discovery, JWKS, authorization (and pushed requests), token, userinfo,
//! introspection, revocation and logout endpoints, and the signing keys.
//!
//! Architecture Invariant: this module reaches storage only through `crate::store` traits and
//! never names a database driver. Protocol errors are built only from `error::ErrorCode`.

pub mod assertion;
pub mod authorize;
pub mod backchannel;
pub mod claims;
pub mod client_auth;
pub mod client_keys;
pub mod clients;
pub mod deliveries;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod id_token;
pub mod introspect;
pub mod keys;
pub mod logout;
pub mod par;
pub mod params;
pub mod request;
pub mod request_object;
pub mod revoke;
pub mod token;
pub mod tokens;
pub mod userinfo;

use crate::state::AppState;
use axum::Router;
use axum::routing::{get, post};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(discovery::openid_configuration),
        )
        .route("/jwks.json", get(discovery::jwks))
        .route("/jwks-retired.json", get(discovery::retired_jwks))
        .route("/token", post(token::token))
        .route(
            "/userinfo",
            get(userinfo::userinfo).post(userinfo::userinfo),
        )
        .route("/introspect", post(introspect::introspect))
        .route("/revoke", post(revoke::revoke))
        .route("/par", post(par::par))
        .route("/logout", get(logout::logout_get).post(logout::logout_post))
        .merge(authorize::router())
}
