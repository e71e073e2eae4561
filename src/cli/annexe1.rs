//! `passerelle annexe1`: export and import a service's annexe 1 from the command line.

use super::*;

#[derive(Subcommand)]
pub(super) enum Annexe1Command {
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
        /// The new addresses that look shared (accueil@, service.*@…) each name one person
        #[arg(long)]
        named_people: bool,
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

pub(super) async fn annexe1(
    state: crate::state::AppState,
    command: Annexe1Command,
) -> Result<(), Failure> {
    use crate::habilitations::annexe1;
    use crate::types::{ClientId, PartnerId, RoleCode};
    match command {
        Annexe1Command::Import {
            actor: email,
            partner,
            service,
            role,
            scope,
            apply,
            named_people,
            file,
        } => {
            let actor = actor_named(&state, &email).await?;
            let text = std::fs::read_to_string(&file)
                .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?;
            let target = annexe1::ImportTarget {
                partner: PartnerId::parse(&partner).map_err(usage)?,
                client_id: ClientId::parse(&service).map_err(usage)?,
                role: RoleCode::parse(&role).map_err(usage)?,
                scope,
                named_people,
            };
            let plan = annexe1::plan(&state, &actor, &target, &text)
                .await
                .map_err(refused)?;
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
                    .map_err(refused)?;
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
            let actor = actor_named(&state, &email).await?;
            let export = annexe1::export(
                &state,
                &actor,
                &PartnerId::parse(&partner).map_err(usage)?,
                &ClientId::parse(&service).map_err(usage)?,
            )
            .await
            .map_err(refused)?;
            print!("{}", annexe1::to_csv(&export));
        }
    }
    Ok(())
}
