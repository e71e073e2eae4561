//! `passerelle user`: accounts created, suspended and sent links by an operator, through `habilitations::manage` as `Author::System("cli")`.

use super::*;

#[derive(Subcommand)]
pub(super) enum UserCommand {
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

pub(super) async fn user(
    state: crate::state::AppState,
    command: UserCommand,
) -> Result<(), Failure> {
    use crate::accounts::lifecycle::{self, LifecycleError};
    use crate::habilitations::manage;
    use crate::types::{CafCode, ClientId, Email, PartnerId};
    let failure = |e: LifecycleError| match e {
        LifecycleError::Invalid(m) => usage(m),
        other => runtime(other),
    };
    // What the command line changes is recorded like any other change, by the author `cli`.
    let author = manage::Author::System("cli");
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
            let account = account_named(&state, &email).await?;
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
            let account = account_named(&state, &email).await?;
            manage::suspend_person_as(&state, author, &account, true, Some(&reason))
                .await
                .map_err(refused)?;
            println!("{} is suspended", account.profile.email);
        }
        UserCommand::SendReset { email } => {
            let account = account_named(&state, &email).await?;
            if lifecycle::send_reset(&state, account.profile.email.as_str())
                .await
                .map_err(failure)?
                .is_some()
            {
                return Err(usage(format!(
                    "{} is suspended: no reset link sent (lift the suspension first)",
                    account.profile.email
                )));
            }
            println!(
                "reset link sent to {} ({})",
                account.profile.email,
                state.mailer.describe()
            );
        }
        UserCommand::ForcePasswordChange { email, reason } => {
            let account = account_named(&state, &email).await?;
            manage::force_password_change_as(&state, author, &account, Some(&reason))
                .await
                .map_err(refused)?;
            println!(
                "{} must choose a new password at the next login",
                account.profile.email
            );
        }
        UserCommand::Unsuspend { email, reason } => {
            let account = account_named(&state, &email).await?;
            manage::suspend_person_as(&state, author, &account, false, Some(&reason))
                .await
                .map_err(refused)?;
            println!("{} is no longer suspended", account.profile.email);
        }
    }
    Ok(())
}

pub(super) fn parse_admin_role(value: &str) -> Result<crate::store::AdminRole, String> {
    value.replace('-', "_").parse().map_err(|_| {
        "expected caf-habilitation-officer, partner-administrator, partner-substitute, delegated-manager, security-officer or national-operator".to_owned()
    })
}
