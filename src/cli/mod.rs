//! The `passerelle` command line. Operators read its messages: one line per error, a non-zero
//! exit status (2 for bad configuration or input, 1 for a failure while running).

use crate::app::Application;
use crate::config::Config;
use crate::provision;
use crate::store::{Stores, now};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

mod annexe1;
mod backup;
mod demo;
mod keys;
mod tokens;
mod traces;
mod user;
use annexe1::*;
use demo::*;
use keys::*;
use tokens::*;
use traces::*;
use user::*;

/// The demo provisioning file, built into the binary so that `passerelle demo` works anywhere.
pub const DEMO_PROVISIONING: &str = include_str!("../../config/demo.toml");

/// Default location of the configuration file, used when it exists and `--config` is absent.
pub const DEFAULT_CONFIG: &str = "config/passerelle.toml";

#[derive(Parser)]
#[command(
    name = "passerelle",
    version,
    about = "Identity and access gateway (OpenID Connect provider) for Caf partner services"
)]
struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Configuration file (default: config/passerelle.toml when it exists)
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data folder (overrides server.data_dir)
    #[arg(long, global = true, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the provider
    Serve,
    /// Run with the demo organisations, services and accounts (config/demo.toml)
    Demo {
        /// Address to listen on (default 127.0.0.1:8080; port 0 picks a free one, for the
        /// management listener too unless --management-listen says otherwise)
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
        /// The operators' listener: metrics and health (default 127.0.0.1:9090; empty: none)
        #[arg(long, value_name = "ADDR")]
        management_listen: Option<String>,
        /// Further provisioning files applied after the demo data
        #[arg(long, value_name = "FILE")]
        provision: Vec<PathBuf>,
    },
    /// Load and check the configuration, then exit
    CheckConfig,
    /// Apply pending database migrations
    Migrate,
    /// Manage signing keys
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Apply a provisioning file (Cafs, partners, services, accounts); idempotent
    Provision {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Caf-side account actions
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Personal API tokens for scripts acting for a named administrator
    ApiToken {
        #[command(subcommand)]
        command: ApiTokenCommand,
    },
    /// Import or export a partner's annexe 1 (acting for a named administrator)
    Annexe1 {
        #[command(subcommand)]
        command: Annexe1Command,
    },
    /// Search, export and verify the traces
    Traces {
        #[command(subcommand)]
        command: TracesCommand,
    },
    /// Delete the data whose retention period has ended
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// Copy the embedded stores (durable store, then traces) and the streams' last seals into
    /// a new folder, while Passerelle runs
    Backup {
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
    },
    /// Put a backup into a data folder that has no stores yet, check and migrate it
    Restore {
        #[arg(long, value_name = "DIR")]
        from: PathBuf,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Delete closed habilitations past their retention period
    Run,
}

/// A failure with the exit status it deserves.
struct Failure {
    status: u8,
    message: String,
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        status: 2,
        message: message.to_string(),
    }
}

/// The account an operator names by its email, or a one-line usage error.
async fn account_named(
    state: &crate::state::AppState,
    email: &str,
) -> Result<crate::store::Account, Failure> {
    let email = crate::types::Email::parse(email).map_err(usage)?;
    state
        .stores
        .accounts
        .find_account_by_email(&email)
        .await
        .map_err(runtime)?
        .ok_or_else(|| usage(format!("no account for {email}")))
}

/// The named account as an actor: its administrative roles decide what the command may do.
async fn actor_named(
    state: &crate::state::AppState,
    email: &str,
) -> Result<crate::habilitations::Actor, Failure> {
    let account = account_named(state, email).await?;
    crate::habilitations::Actor::of(state, account)
        .await
        .map_err(refused)
}

/// A refused habilitation command: a usage error in the words people read (`labels`), or a
/// runtime failure when a store failed.
fn refused(e: crate::habilitations::HabilitationError) -> Failure {
    match e {
        crate::habilitations::HabilitationError::Store(e) => runtime(e),
        crate::habilitations::HabilitationError::Lifecycle(
            crate::accounts::lifecycle::LifecycleError::Invalid(m),
        ) => usage(m),
        crate::habilitations::HabilitationError::Lifecycle(e) => runtime(e),
        other => usage(crate::labels::refusal(&other)),
    }
}

fn runtime(error: impl std::fmt::Display) -> Failure {
    Failure {
        status: 1,
        message: error.to_string(),
    }
}

pub fn run() -> ExitCode {
    run_from(std::env::args_os())
}

/// Runs the command line given as `args` (the first being the program's name): the benchmark
/// starts Passerelle through it in a process of its own.
pub fn run_from<I, T>(args: I) -> ExitCode
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    crate::allocator::configure();
    let cli = Cli::parse_from(args);
    let runtime_result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let rt = match runtime_result {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(execute(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("error: {}", f.message.replace('\n', " "));
            ExitCode::from(f.status)
        }
    }
}

fn load_config(common: &Common) -> Result<Config, Failure> {
    let file = match &common.config {
        Some(path) => Some(path.clone()),
        None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.is_file()),
    };
    let mut config = Config::load(file.as_deref()).map_err(usage)?;
    if let Some(dir) = &common.data_dir {
        config.server.data_dir = dir.clone();
    }
    Ok(config)
}

async fn durable_stores(config: &Config) -> Result<Stores, Failure> {
    // With Redis, the sessions a command ends (a suspension, a closure) are the servers' own.
    crate::app::open_stores(config, &crate::clock::Clock::default())
        .await
        .map_err(|e| runtime(format!("{e:#}")))
}

/// The application state for commands that run beside the server (provisioning, account
/// actions): durable stores, the mailer, and links built on the configured issuer.
/// Runs a command over the offline state, then writes the traces it queued before the process
/// ends (a command line has no shutdown to flush them).
async fn with_state<F, Fut>(config: &Config, command: F) -> Result<(), Failure>
where
    F: FnOnce(crate::state::AppState) -> Fut,
    Fut: std::future::Future<Output = Result<(), Failure>>,
{
    let state = offline_state(config).await?;
    let result = command(state.clone()).await;
    state.tracer.flush().await.map_err(runtime)?;
    result
}

async fn offline_state(config: &Config) -> Result<crate::state::AppState, Failure> {
    let stores = durable_stores(config).await?;
    let listen = config
        .listen_addr()
        .ok_or_else(|| usage("server.listen is not an address"))?;
    crate::app::build_state(
        config,
        &config.issuer_for(listen),
        stores,
        crate::clock::Clock::default(),
    )
    .await
    .map_err(|e| runtime(format!("{e:#}")))
}

async fn execute(cli: Cli) -> Result<(), Failure> {
    let config = load_config(&cli.common)?;
    match cli.command {
        Command::CheckConfig => {
            for w in config.warnings() {
                eprintln!("warning: {w}");
            }
            println!(
                "configuration OK: listen {}, issuer {}, data in {}",
                config.server.listen,
                if config.server.issuer.is_empty() {
                    "http://<listen>"
                } else {
                    &config.server.issuer
                },
                config.server.data_dir.display()
            );
            let keys = crate::store::sealed::kek::describe(&config)
                .map_err(|e| usage(format!("{e:#}")))?;
            println!("{keys}");
            Ok(())
        }
        Command::Migrate => {
            let failed = |e: anyhow::Error| runtime(format!("{e:#}"));
            if crate::config::is_postgres(&config.store.url) {
                crate::app::migrate_postgres(&config)
                    .await
                    .map_err(failed)?;
                println!("PostgreSQL durable store is up to date");
            } else {
                let store = crate::store::sqlite::SqliteStore::open(&config.sqlite_path(), 1)
                    .await
                    .map_err(failed)?;
                store.migrate().await.map_err(failed)?;
                println!("database {} is up to date", config.sqlite_path().display());
            }
            // The trace store migrates when it opens.
            crate::app::open_traces(&config).await.map_err(failed)?;
            println!("trace store is up to date");
            Ok(())
        }
        Command::Keys { command } => keys::run(&config, command).await,
        Command::Provision { file } => {
            let parsed = provision::read(&file).map_err(usage)?;
            let state = offline_state(&config).await?;
            let report = provision::apply(&state, &parsed, false)
                .await
                .map_err(provision_failure)?;
            println!("{}: {report}", file.display());
            state.tracer.flush().await.map_err(runtime)
        }
        Command::Serve => {
            crate::telemetry::init(&config.log);
            for w in config.warnings() {
                tracing::warn!("{w}");
            }
            let app = Application::build(&config)
                .await
                .map_err(|e| runtime(format!("{e:#}")))?;
            app.run_until_stopped()
                .await
                .map_err(|e| runtime(format!("{e:#}")))
        }
        Command::Demo {
            listen,
            management_listen,
            provision: extra,
        } => demo(config, listen, management_listen, extra).await,
        Command::User { command } => with_state(&config, |s| user(s, command)).await,
        Command::ApiToken { command } => with_state(&config, |s| api_token(s, command)).await,
        Command::Annexe1 { command } => with_state(&config, |s| annexe1(s, command)).await,
        Command::Traces { command } => traces(&config, command).await,
        Command::Backup { to } => backup::backup(&config, &to).await,
        Command::Restore { from } => backup::restore(&config, &from).await,
        Command::Retention {
            command: RetentionCommand::Run,
        } => {
            let state = offline_state(&config).await?;
            let report = crate::retention::run_all(
                &state,
                &config.retention,
                config.traces.retention_months,
                crate::store::now(),
            )
            .await
            .map_err(runtime)?;
            for a in &report.attestations {
                println!(
                    "traces of stream {}: {} destroyed (attestation {})",
                    a.stream, a.count, a.id
                );
            }
            println!(
                "{} change record(s) older than {} months deleted",
                report.changes, config.traces.retention_months
            );
            println!(
                "personal data erased for {} account(s) whose habilitations ended more than {} months ago",
                report.erased_accounts,
                crate::retention::ACCOUNT_MONTHS
            );
            if let Some(e) = &report.erasure {
                println!("erasure attested and signed (attestation {})", e.id);
            }
            state.tracer.flush().await.map_err(runtime)?;
            for d in report.habilitations {
                println!(
                    "{}: {} closed habilitation(s) deleted (closed before {})",
                    d.kind.as_str(),
                    d.habilitations,
                    chrono::DateTime::from_timestamp(d.closed_before, 0)
                        .map(|t| t.date_naive().to_string())
                        .unwrap_or_default()
                );
            }
            Ok(())
        }
    }
}

fn provision_failure(e: provision::ProvisionError) -> Failure {
    match e {
        provision::ProvisionError::Invalid(m) => usage(m),
        other => runtime(other),
    }
}

fn fmt_time(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| ts.to_string())
}
