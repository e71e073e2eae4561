//! `passerelle traces` and `passerelle retention`: search, export, verify and destroy traces.

use super::*;

/// The filters of a trace search (the same as the console and the API).
#[derive(clap::Args)]
pub(super) struct TraceFilterArgs {
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
    /// A failure's reason code (wrong_password, throttled…)
    #[arg(long)]
    reason: Option<String>,
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
pub(super) enum TracesCommand {
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
        /// Seals kept outside the trace store (`traces seals`, or a backup's seals.jws): a
        /// restored store older than one of them has lost its tail, and verify says so
        #[arg(long, value_name = "FILE")]
        seals: Option<PathBuf>,
    },
    /// Seal every stream's head now, then print each stream's last seal (a compact JWS per
    /// line), to keep apart from the trace store
    Seals,
}

pub(super) fn trace_time(value: &Option<String>, upper: bool) -> Result<Option<i64>, Failure> {
    value
        .as_deref()
        .map(|v| {
            crate::traces::query::parse_bound(v, upper)
                .ok_or_else(|| usage(format!("`{v}` is not a date (YYYY-MM-DD or RFC 3339)")))
        })
        .transpose()
}

pub(super) async fn traces(config: &Config, command: TracesCommand) -> Result<(), Failure> {
    use crate::traces::{Origin, query, verify};
    let state = offline_state(config).await?;
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
            reason: args.reason.clone(),
            target: None,
            ip: args.ip.clone(),
            from_us: trace_time(&args.from, false)?,
            to_us: trace_time(&args.to, true)?,
            after: None,
            limit,
        })
    };
    let origin = Origin {
        user_agent: Some("passerelle command line".into()),
        ..Origin::default()
    };
    let result = match command {
        TracesCommand::Query { filter, limit } => {
            let actor = actor_named(&state, &filter.actor).await?;
            let page = query::search(&state, &actor, &filter_of(&filter, limit)?, &origin)
                .await
                .map_err(refused)?;
            print!("{}", query::to_json_lines(&page.records));
            Ok(())
        }
        TracesCommand::Export { filter, format } => {
            let actor = actor_named(&state, &filter.actor).await?;
            let records = query::export(&state, &actor, &filter_of(&filter, 1000)?, &origin)
                .await
                .map_err(refused)?;
            match format.as_str() {
                "csv" => print!(
                    "{}",
                    query::to_csv(
                        &records,
                        &crate::traces::names::Names::of(&state, &records)
                            .await
                            .map_err(runtime)?
                    )
                ),
                "jsonl" => print!("{}", query::to_json_lines(&records)),
                other => return Err(usage(format!("--format is csv or jsonl, not {other}"))),
            }
            Ok(())
        }
        TracesCommand::Verify { stream, seals } => {
            let kept: Vec<String> = match &seals {
                Some(file) => std::fs::read_to_string(file)
                    .map_err(|e| usage(format!("cannot read {}: {e}", file.display())))?
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => Vec::new(),
            };
            let mut streams = match stream {
                Some(s) => vec![s],
                None => state.tracer.store().streams().await.map_err(runtime)?,
            };
            // A stream whose every record was lost is known from its kept seals only.
            for jws in &kept {
                let named = state.keys.verify_document(jws).ok_or_else(|| {
                    runtime(format!(
                        "a seal in {} is not signed by Passerelle's keys",
                        seals.as_deref().unwrap_or_else(|| Path::new("")).display()
                    ))
                })?["stream"]
                    .as_str()
                    .map(str::to_owned);
                if let Some(name) = named
                    && !streams.contains(&name)
                {
                    streams.push(name);
                }
            }
            let mut broken = false;
            for stream in streams {
                let witnesses = verify::witnesses(&state, &kept, &stream);
                let v = verify::against(&state, &stream, &witnesses)
                    .await
                    .map_err(runtime)?;
                match &v.first_break {
                    None => println!(
                        "{}: {} record(s), {} seal(s) ({} signed by keys no longer published): intact",
                        v.stream, v.records, v.seals, v.seals_with_retired_keys
                    ),
                    Some(verify::Break::Tail { head, sealed }) => {
                        broken = true;
                        println!(
                            "{}: BROKEN: the stream ends at record {head} but a seal covers record {sealed}: its tail was lost",
                            v.stream
                        );
                    }
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
        TracesCommand::Seals => {
            for jws in last_seals(&state).await? {
                println!("{jws}");
            }
            Ok(())
        }
    };
    // Queued traces (the search's own) reach the disk before the process ends.
    state.tracer.flush().await.map_err(runtime)?;
    result
}

/// Seals every stream's head, then returns each stream's last seal.
pub(super) async fn last_seals(state: &crate::state::AppState) -> Result<Vec<String>, Failure> {
    crate::traces::seal::seal_all(state)
        .await
        .map_err(runtime)?;
    let store = state.tracer.store();
    let mut seals = Vec::new();
    for stream in store.streams().await.map_err(runtime)? {
        if let Some(seal) = store.seals(&stream).await.map_err(runtime)?.pop() {
            seals.push(seal.signature);
        }
    }
    Ok(seals)
}
