//! Passerelle: the identity and access gateway of the Caf partner services.
//!
//! The binary (`src/main.rs`) only calls [`cli::run`]; everything else lives here so that
//! integration tests can build the application exactly as production does.

pub mod accounts;
pub mod allocator;
pub mod api;
pub mod app;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod csv_out;
pub mod flow;
pub mod french;
pub mod habilitations;
pub mod labels;
pub mod mail;
pub mod metrics;
pub mod oidc;
pub mod provision;
pub mod proxy;
pub mod retention;
pub mod session;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod traces;
pub mod types;
pub mod web;
