//! Integration tests: each starts its own Passerelle on a free port with its own data folder
//! and talks HTTP to it.

mod accessibility;
mod account;
mod admin_api;
mod annexe1;
mod authorize;
mod backchannel;
mod browser;
pub mod cli;
mod client_secret_jwt;
mod code_flow;
mod console;
mod credentials;
mod fuzz;
mod habilitations;
mod helpers;
mod interop;
mod keys;
mod login;
mod logout;
mod mfa;
mod notifications;
mod operations;
mod provisioning;
mod relying_parties;
mod replicas;
mod requests;
mod review;
mod security;
mod servers;
mod sessions;
mod siem;
mod stores;
pub mod throttling;
mod tls;
mod tokens;
pub mod traces;
