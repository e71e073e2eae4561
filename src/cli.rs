//! The `passerelle` command line. Operators read its messages: one line per error, a non-zero
//! exit status (2 for bad configuration or input, 1 for a failure while running).

use crate::app::{Application, open_durable};
use crate::config::Config;
use crate::oidc::keys::KeyRing;
use crate::provision;
use crate::store::{Stores, now};
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The demo provisioning file, built into the binary so that `passerelle demo` works anywhere.
pub const DEMO_PROVISIONING: &str = include_str!("../config/demo.toml");

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
}

#[derive(Subcommand)]
enum Annexe1Command {
    /// Show what importing FILE would do; with --apply, do it
    Import {
        /// Email of the administrator the import is attributed to
        #[arg(long = "as", value_name = "EMAIL")]
        actor: String,
        #[arg(long)]
        partner: String,
        /// Client id of the service the annex is for
        #[arg(long)]
        service: String,
        /// Role granted to the people of list 1
        #[arg(long)]
        role: String,
        /// Scope values of the habilitations granted (repeatable)
        #[arg(long = "scope")]
        scope: Vec<String>,
        /// Carry the plan out (without it, nothing is written)
        #[arg(long)]
        apply: bool,
        file: PathBuf,
    },
    /// Print the current annex as CSV
    Export {
        #[arg(long = "as", value_name = "EMAIL")]
        actor: String,
        #[arg(long)]
        partner: String,
        #[arg(long)]
        service: String,
    },
}

/// The filters of a trace search (the same as the console and the API).
#[derive(clap::Args)]
struct TraceFilterArgs {
    /// Email of the security officer (or national operator) the search is attributed to
    #[arg(long = "as", value_name = "EMAIL")]
    actor: String,
    /// An account id or a professional email
    #[arg(long)]
    person: Option<String>,
    #[arg(long)]
    partner: Option<String>,
    /// Client id of a service
    #[arg(long)]
    service: Option<String>,
    #[arg(long)]
    action: Option<String>,
    /// success or failure
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    ip: Option<String>,
    /// From this date (YYYY-MM-DD or RFC 3339), included
    #[arg(long)]
    from: Option<String>,
    /// To this date (YYYY-MM-DD, included) or instant (RFC 3339, excluded)
    #[arg(long)]
    to: Option<String>,
}

#[derive(Subcommand)]
enum TracesCommand {
    /// Print the newest matching traces (one JSON object per line)
    Query {
        #[command(flatten)]
        filter: TraceFilterArgs,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Print every matching trace (at most 100,000) as CSV or JSON lines
    Export {
        #[command(flatten)]
        filter: TraceFilterArgs,
        /// csv or jsonl
        #[arg(long, default_value = "csv")]
        format: String,
    },
    /// Check the chain and the seals of every stream (or one); exit 1 at the first break
    Verify {
        #[arg(long)]
        stream: Option<String>,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Delete closed habilitations past their retention period
    Run,
}

#[derive(Subcommand)]
enum ApiTokenCommand {
    /// Create a token for an administrator and print it once
    Create {
        /// Email of the administrator the token acts for
        email: String,
        /// What the token is for (e.g. the script's name)
        #[arg(long)]
        name: String,
        /// Validity in days (at most 90)
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
    /// List an administrator's tokens
    List { email: String },
    /// Revoke one token
    Revoke { email: String, id: String },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a nominative account and mail its activation link
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        /// Partner the person works for (exclusive with --caf)
        #[arg(long)]
        partner: Option<String>,
        /// Caf the person works for (exclusive with --partner)
        #[arg(long)]
        caf: Option<String>,
        #[arg(long)]
        civility: Option<String>,
        #[arg(long)]
        function: Option<String>,
        /// Service (client id) the account is for; repeatable
        #[arg(long = "service")]
        services: Vec<String>,
        /// Administrative role (caf-habilitation-officer, partner-administrator,
        /// partner-substitute, delegated-manager, security-officer, national-operator); repeatable
        #[arg(long = "admin-role", value_parser = parse_admin_role)]
        admin_roles: Vec<crate::store::AdminRole>,
    },
    /// Mail a password reset link (the administrator never sees nor chooses the password)
    SendReset { email: String },
    /// Mail a new activation link (earlier links stop working)
    ResendActivation { email: String },
    /// Suspend an account as a precaution: it can no longer log in nor use its tokens
    Suspend {
        email: String,
        /// Why (recorded in the partner's history)
        #[arg(long, default_value = "Suspension depuis la ligne de commande")]
        reason: String,
    },
    /// Lift a suspension
    Unsuspend {
        email: String,
        /// Why (recorded in the partner's history)
        #[arg(long, default_value = "Réactivation depuis la ligne de commande")]
        reason: String,
    },
    /// Make the person choose a new password at their next login
    ForcePasswordChange {
        email: String,
        /// Why (recorded in the partner's history)
        #[arg(long, default_value = "Changement demandé depuis la ligne de commande")]
        reason: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Generate new signing keys; previous ones stay published until their tokens expire
    Rotate,
    /// List signing keys
    List,
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
    let durable = open_durable(config)
        .await
        .map_err(|e| runtime(format!("{e:#}")))?;
    let traces = crate::app::open_traces(config)
        .await
        .map_err(|e| runtime(format!("{e:#}")))?;
    // With Redis, the sessions a command ends (a suspension, a closure) are the servers' own.
    let ephemeral = crate::app::open_ephemeral(config, &crate::clock::Clock::default())
        .await
        .map_err(|e| runtime(format!("{e:#}")))?;
    Ok(Stores::assemble(durable, ephemeral, traces))
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
        Command::Keys { command } => {
            let stores = durable_stores(&config).await?;
            let longest = config.tokens.id_token_lifetime_seconds;
            match command {
                KeysCommand::Rotate => {
                    KeyRing::ensure_keys(stores.keys.as_ref(), now())
                        .await
                        .map_err(runtime)?;
                    let kids = KeyRing::rotate(stores.keys.as_ref(), now(), longest)
                        .await
                        .map_err(runtime)?;
                    println!("new signing keys: {}", kids.join(", "));
                    println!(
                        "previous keys stay published for {} s; running servers switch within {} s",
                        longest as i64 + crate::oidc::keys::RETIREMENT_GRACE_SECONDS,
                        config.tokens.key_reload_seconds
                    );
                }
                KeysCommand::List => {
                    for k in stores.keys.list_signing_keys().await.map_err(runtime)? {
                        let status = match k.retired_at {
                            None => "active".to_owned(),
                            Some(at) => format!("retired at {}", fmt_time(at)),
                        };
                        println!(
                            "{}\t{}\tcreated {}\t{}",
                            k.kid,
                            k.alg.as_str(),
                            fmt_time(k.created_at),
                            status
                        );
                    }
                }
            }
            Ok(())
        }
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

async fn annexe1(state: crate::state::AppState, command: Annexe1Command) -> Result<(), Failure> {
    use crate::habilitations::{Actor, HabilitationError, annexe1};
    use crate::types::{ClientId, Email, PartnerId, RoleCode};
    let failure = |e: HabilitationError| match e {
        HabilitationError::Store(e) => runtime(e),
        other => usage(other),
    };
    let actor = |email: String| {
        let state = state.clone();
        async move {
            let email = Email::parse(&email).map_err(usage)?;
            let account = state
                .stores
                .accounts
                .find_account_by_email(&email)
                .await
                .map_err(runtime)?
                .ok_or_else(|| usage(format!("no account for {email}")))?;
            Actor::of(&state, account).await.map_err(failure)
        }
    };
    match command {
        Annexe1Command::Import {
            actor: email,
            partner,
            service,
            role,
            scope,
            apply,
            file,
        } => {
            let actor = actor(email).await?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let target = annexe1::ImportTarget {
                partner: PartnerId::parse(&partner).map_err(usage)?,
                client_id: ClientId::parse(&service).map_err(usage)?,
                role: RoleCode::parse(&role).map_err(usage)?,
                scope,
            };
            let plan = annexe1::plan(&state, &actor, &target, &text)
                .await
                .map_err(failure)?;
            for (what, people) in [
                ("create", &plan.create),
                ("grant", &plan.grant),
                ("keep", &plan.keep),
            ] {
                for p in people {
                    println!("{what:<6} {} {} <{}>", p.given_name, p.family_name, p.email);
                }
            }
            for c in &plan.close {
                println!(
                    "close  {} {} <{}> ({})",
                    c.given_name, c.family_name, c.email, c.why
                );
            }
            for e in &plan.errors {
                eprintln!("line {}: {}", e.line, e.message);
            }
            if !plan.errors.is_empty() {
                return Err(usage(format!(
                    "{} error(s); nothing was written",
                    plan.errors.len()
                )));
            }
            if apply {
                let (_, done) = annexe1::apply(&state, &actor, &target, &text)
                    .await
                    .map_err(failure)?;
                println!(
                    "applied: {} created, {} granted, {} kept, {} closed",
                    done.created, done.granted, done.kept, done.closed
                );
            } else {
                println!("dry run: nothing was written (add --apply to carry it out)");
            }
        }
        Annexe1Command::Export {
            actor: email,
            partner,
            service,
        } => {
            let actor = actor(email).await?;
            let export = annexe1::export(
                &state,
                &actor,
                &PartnerId::parse(&partner).map_err(usage)?,
                &ClientId::parse(&service).map_err(usage)?,
            )
            .await
            .map_err(failure)?;
            print!("{}", annexe1::to_csv(&export));
        }
    }
    Ok(())
}

async fn api_token(state: crate::state::AppState, command: ApiTokenCommand) -> Result<(), Failure> {
    use crate::accounts::api_token::{self, ApiTokenError};
    use crate::types::Email;
    let find = |email: String| {
        let state = state.clone();
        async move {
            let email = Email::parse(&email).map_err(usage)?;
            state
                .stores
                .accounts
                .find_account_by_email(&email)
                .await
                .map_err(runtime)?
                .ok_or_else(|| usage(format!("no account for {email}")))
        }
    };
    let when = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
            .unwrap_or_default()
    };
    match command {
        ApiTokenCommand::Create { email, name, days } => {
            let account = find(email).await?;
            let (secret, token) = api_token::create(&state, &account, &name, days)
                .await
                .map_err(|e| match e {
                    ApiTokenError::Invalid(m) => usage(m),
                    other => runtime(other),
                })?;
            eprintln!(
                "token {} for {} valid until {}; it is shown once:",
                token.id,
                account.profile.email,
                when(token.expires_at)
            );
            println!("{secret}");
        }
        ApiTokenCommand::List { email } => {
            let account = find(email).await?;
            let now = crate::store::now();
            for t in state
                .stores
                .api_tokens
                .api_tokens_of(&account.id)
                .await
                .map_err(runtime)?
            {
                let status = match (t.revoked_at, t.is_live(now)) {
                    (Some(_), _) => "revoked",
                    (None, true) => "live",
                    (None, false) => "expired",
                };
                println!(
                    "{}  {:<8} until {}  last used {}  {}",
                    t.id,
                    status,
                    when(t.expires_at),
                    t.last_used_at.map(when).unwrap_or_else(|| "never".into()),
                    t.name
                );
            }
        }
        ApiTokenCommand::Revoke { email, id } => {
            let account = find(email).await?;
            if !state
                .stores
                .api_tokens
                .revoke_api_token(&account.id, &id, crate::store::now())
                .await
                .map_err(runtime)?
            {
                return Err(usage(format!(
                    "no live token {id} for {}",
                    account.profile.email
                )));
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

async fn user(state: crate::state::AppState, command: UserCommand) -> Result<(), Failure> {
    use crate::accounts::lifecycle::{self, LifecycleError};
    use crate::habilitations::{HabilitationError, manage};
    use crate::types::{CafCode, ClientId, Email, PartnerId};
    let failure = |e: LifecycleError| match e {
        LifecycleError::Invalid(m) => usage(m),
        other => runtime(other),
    };
    // What the command line changes is recorded like any other change, by the author `cli`.
    let author = manage::Author::System("cli");
    let refused = |e: HabilitationError| match e {
        HabilitationError::Invalid(m) | HabilitationError::Conflict(m) => usage(m),
        other => runtime(other),
    };
    let find = |email: String| {
        let state = state.clone();
        async move {
            let email = Email::parse(&email).map_err(usage)?;
            state
                .stores
                .accounts
                .find_account_by_email(&email)
                .await
                .map_err(runtime)?
                .ok_or_else(|| usage(format!("no account for {email}")))
        }
    };
    match command {
        UserCommand::Create {
            email,
            given_name,
            family_name,
            partner,
            caf,
            civility,
            function,
            services,
            admin_roles,
        } => {
            let profile = crate::store::AccountProfile {
                email: Email::parse(&email).map_err(usage)?,
                civility,
                given_name,
                family_name,
                function,
                partner: partner
                    .as_deref()
                    .map(PartnerId::parse)
                    .transpose()
                    .map_err(usage)?,
                caf: caf
                    .as_deref()
                    .map(CafCode::parse)
                    .transpose()
                    .map_err(usage)?,
                services: services
                    .iter()
                    .map(|s| ClientId::parse(s))
                    .collect::<Result<_, _>>()
                    .map_err(usage)?,
                admin_roles,
            };
            if profile.given_name.trim().is_empty() || profile.family_name.trim().is_empty() {
                return Err(usage("--given-name and --family-name must not be empty"));
            }
            let account = lifecycle::create_account(&state, profile)
                .await
                .map_err(failure)?;
            manage::record(
                &state,
                author,
                account.profile.partner.as_ref(),
                "account.create",
                format!("account:{}", account.id),
                None,
                serde_json::json!({}),
            )
            .await
            .map_err(refused)?;
            println!(
                "account {} created for {}; activation link sent ({})",
                account.id,
                account.profile.email,
                state.mailer.describe()
            );
        }
        UserCommand::ResendActivation { email } => {
            let account = find(email).await?;
            lifecycle::send_activation(&state, &account)
                .await
                .map_err(failure)?;
            println!(
                "new activation link sent to {} ({}); earlier links no longer work",
                account.profile.email,
                state.mailer.describe()
            );
        }
        UserCommand::Suspend { email, reason } => {
            let account = find(email).await?;
            manage::suspend_person_as(&state, author, &account, true, Some(&reason))
                .await
                .map_err(refused)?;
            println!("{} is suspended", account.profile.email);
        }
        UserCommand::SendReset { email } => {
            let account = find(email).await?;
            lifecycle::send_reset(&state, account.profile.email.as_str())
                .await
                .map_err(failure)?;
            println!(
                "reset link sent to {} ({})",
                account.profile.email,
                state.mailer.describe()
            );
        }
        UserCommand::ForcePasswordChange { email, reason } => {
            let account = find(email).await?;
            manage::force_password_change_as(&state, author, &account, Some(&reason))
                .await
                .map_err(refused)?;
            println!(
                "{} must choose a new password at the next login",
                account.profile.email
            );
        }
        UserCommand::Unsuspend { email, reason } => {
            let account = find(email).await?;
            manage::suspend_person_as(&state, author, &account, false, Some(&reason))
                .await
                .map_err(refused)?;
            println!("{} is no longer suspended", account.profile.email);
        }
    }
    Ok(())
}

fn parse_admin_role(value: &str) -> Result<crate::store::AdminRole, String> {
    value.replace('-', "_").parse().map_err(|_| {
        "expected caf-habilitation-officer, partner-administrator, partner-substitute, delegated-manager, security-officer or national-operator".to_owned()
    })
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

async fn demo(
    mut config: Config,
    listen: Option<String>,
    management_listen: Option<String>,
    extra: Vec<PathBuf>,
) -> Result<(), Failure> {
    if let Some(listen) = listen {
        // A demo on a free port (tests, the benchmark, several demos side by side) takes a
        // free management port as well.
        if listen.ends_with(":0") && management_listen.is_none() {
            config.server.management_listen = "127.0.0.1:0".into();
        }
        config.server.listen = listen;
    }
    if let Some(management) = management_listen {
        config.server.management_listen = management;
    }
    config.validate().map_err(usage)?;
    crate::telemetry::init(&config.log);
    let demo_file =
        provision::parse(DEMO_PROVISIONING, "config/demo.toml").map_err(provision_failure)?;
    let extra_files = extra
        .iter()
        .map(|p| provision::read(p).map(|f| (p.clone(), f)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(provision_failure)?;
    let app = Application::build(&config)
        .await
        .map_err(|e| runtime(format!("{e:#}")))?;
    let state = app.state().clone();
    provision::apply(&state, &demo_file, true)
        .await
        .map_err(provision_failure)?;
    for (path, file) in &extra_files {
        let report = provision::apply(&state, file, true)
            .await
            .map_err(provision_failure)?;
        println!("{}: {report}", path.display());
    }
    print_demo_banner(
        app.issuer(),
        app.management_addr(),
        &demo_file,
        &config.server.data_dir,
    );
    app.run_until_stopped()
        .await
        .map_err(|e| runtime(format!("{e:#}")))
}

fn print_demo_banner(
    issuer: &str,
    management: Option<std::net::SocketAddr>,
    demo: &provision::ProvisionFile,
    data_dir: &Path,
) {
    let mut out = String::new();
    out.push_str(&format!("\nPasserelle demo is running at {issuer}\n"));
    out.push_str(&format!("  issuer:    {issuer}\n"));
    out.push_str(&format!(
        "  discovery: {issuer}/.well-known/openid-configuration\n"
    ));
    out.push_str(&format!("  login:     {issuer}/login\n"));
    out.push_str(&format!(
        "  console:   {issuer}/console (administrators; a TOTP second factor is enrolled at the first visit)\n"
    ));
    out.push_str(&format!("  admin API: {issuer}/api/v1/openapi.json\n"));
    if let Some(addr) = management {
        out.push_str(&format!(
            "  metrics:   http://{addr}/metrics (operators only)\n"
        ));
    }
    out.push_str(&format!("  data:      {}\n", data_dir.display()));
    if let Some(rp) = demo.service.iter().find(|s| s.client_id == "demo-app") {
        out.push_str(
            "\nDemo relying application (point any OpenID Connect library at the issuer):\n",
        );
        out.push_str(&format!("  client_id:     {}\n", rp.client_id));
        out.push_str(&format!(
            "  client_secret: {}\n",
            rp.secret.as_deref().unwrap_or("(public client)")
        ));
        for uri in &rp.redirect_uris {
            out.push_str(&format!("  redirect_uri:  {uri}\n"));
        }
        out.push_str("  scopes:        openid profile email habilitations; PKCE S256 required\n");
    }
    out.push_str(
        "\nDemo accounts (fictional people; demo passwords exist only in config/demo.toml):\n",
    );
    for a in &demo.account {
        let org = match (&a.partner, &a.caf) {
            (Some(p), _) => p.clone(),
            (None, Some(c)) => format!("Caf {c}"),
            (None, None) => String::new(),
        };
        let roles = a
            .admin_roles
            .iter()
            .map(|r| {
                serde_json::to_value(r)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            })
            .collect::<Vec<_>>()
            .join(", ");
        let roles = if roles.is_empty() {
            String::new()
        } else {
            format!(" [{roles}]")
        };
        out.push_str(&format!(
            "  {:<40} {} {} ({org}){roles}, password: {}\n",
            a.email,
            a.given_name,
            a.family_name,
            a.password
                .as_deref()
                .unwrap_or("(none: activation pending)")
        ));
    }
    println!("{out}");
}

fn trace_time(value: &Option<String>, upper: bool) -> Result<Option<i64>, Failure> {
    value
        .as_deref()
        .map(|v| {
            crate::traces::query::parse_bound(v, upper)
                .ok_or_else(|| usage(format!("`{v}` is not a date (YYYY-MM-DD or RFC 3339)")))
        })
        .transpose()
}

async fn traces(config: &Config, command: TracesCommand) -> Result<(), Failure> {
    use crate::habilitations::{Actor, HabilitationError};
    use crate::traces::{Origin, query, verify};
    let state = offline_state(config).await?;
    let failure = |e: HabilitationError| match e {
        HabilitationError::Store(e) => runtime(e),
        other => usage(other),
    };
    let filter_of = |args: &TraceFilterArgs, limit: u32| -> Result<query::Filter, Failure> {
        Ok(query::Filter {
            person: args.person.clone(),
            partner: args.partner.clone(),
            service: args.service.clone(),
            action: args.action.clone(),
            outcome: args
                .outcome
                .as_deref()
                .map(|o| {
                    crate::store::Outcome::parse(o)
                        .ok_or_else(|| usage("--outcome is success or failure"))
                })
                .transpose()?,
            ip: args.ip.clone(),
            from_us: trace_time(&args.from, false)?,
            to_us: trace_time(&args.to, true)?,
            after: None,
            limit,
        })
    };
    let actor_of = |email: String| {
        let state = state.clone();
        async move {
            let email = crate::types::Email::parse(&email).map_err(usage)?;
            let account = state
                .stores
                .accounts
                .find_account_by_email(&email)
                .await
                .map_err(runtime)?
                .ok_or_else(|| usage(format!("no account for {email}")))?;
            Actor::of(&state, account).await.map_err(failure)
        }
    };
    let origin = Origin {
        user_agent: Some("passerelle command line".into()),
        ..Origin::default()
    };
    let result = match command {
        TracesCommand::Query { filter, limit } => {
            let actor = actor_of(filter.actor.clone()).await?;
            let page = query::search(&state, &actor, &filter_of(&filter, limit)?, &origin)
                .await
                .map_err(failure)?;
            print!("{}", query::to_json_lines(&page.records));
            Ok(())
        }
        TracesCommand::Export { filter, format } => {
            let actor = actor_of(filter.actor.clone()).await?;
            let records = query::export(&state, &actor, &filter_of(&filter, 1000)?, &origin)
                .await
                .map_err(failure)?;
            match format.as_str() {
                "csv" => print!("{}", query::to_csv(&records)),
                "jsonl" => print!("{}", query::to_json_lines(&records)),
                other => return Err(usage(format!("--format is csv or jsonl, not {other}"))),
            }
            Ok(())
        }
        TracesCommand::Verify { stream } => {
            let streams = match stream {
                Some(s) => vec![s],
                None => state.tracer.store().streams().await.map_err(runtime)?,
            };
            let mut broken = false;
            for stream in streams {
                let v = verify::stream(&state, &stream).await.map_err(runtime)?;
                match &v.first_break {
                    None => println!(
                        "{}: {} record(s), {} seal(s) ({} signed by keys no longer published): intact",
                        v.stream, v.records, v.seals, v.seals_with_retired_keys
                    ),
                    Some(b) => {
                        broken = true;
                        println!(
                            "{}: BROKEN at {b:?} after {} record(s)",
                            v.stream, v.records
                        );
                    }
                }
            }
            if broken {
                Err(runtime("the trace chain is broken"))
            } else {
                Ok(())
            }
        }
    };
    // Queued traces (the search's own) reach the disk before the process ends.
    state.tracer.flush().await.map_err(runtime)?;
    result
}
