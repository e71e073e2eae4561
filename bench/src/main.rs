//! `cargo run --release -p passerelle-bench`: Passerelle's capacity benchmark.
//!
//! Starts Passerelle (the same code as the `passerelle` binary) in a process of its own on a
//! free loopback port, on the embedded stores and, when `--postgres` and `--redis` are given,
//! again on PostgreSQL + Redis; provisions a client and accounts; drives each measure from this
//! process with a bounded number of connections for a bounded time; prints a table and writes
//! results.json, table.md and latency.svg under bench-results/. See docs/benchmarks.md.

mod flows;
mod load;
mod logins;
mod report;
mod server;
mod tokens;
mod traces;

use anyhow::Context;
use clap::Parser;
use flows::Flows;
use load::{Process, Sample};
use logins::{Hashing, logins_against_bound};
use report::{Curve, Enumeration, Memory, Point, Results, Row, TraceFacts};
use server::{PASSERELLE, Setup};
use std::path::PathBuf;
use std::process::ExitCode;

use std::time::{Duration, Instant};

#[derive(Parser, Debug, serde::Serialize)]
#[command(
    name = "passerelle-bench",
    version,
    about = "Measures Passerelle like a capacity-planning guide (loopback only, bounded time)"
)]
pub(crate) struct Args {
    /// Seconds each measure lasts
    #[arg(long, default_value_t = 5.0)]
    seconds: f64,
    /// Seconds each point of the latency-against-load curves lasts
    #[arg(long, default_value_t = 1.5)]
    curve_seconds: f64,
    /// Concurrent browsers for the password logins (default: 4 per core)
    #[arg(long)]
    login_connections: Option<usize>,
    /// Phases of Argon2id-only hashing and of password logins, alternated (median of each)
    #[arg(long, default_value_t = 3)]
    login_rounds: usize,
    /// Concurrent connections for the grants, introspection, userinfo and JWKS
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Accounts provisioned (each hashed with the real Argon2id cost at start-up)
    #[arg(long, default_value_t = 100)]
    accounts: usize,
    /// Size of the generated trace store the searches run on
    #[arg(long, default_value_t = 200_000)]
    traces: u64,
    /// Events per trace submission
    #[arg(long, default_value_t = 1000)]
    trace_batch: usize,
    /// Concurrent trace submissions
    #[arg(long, default_value_t = 4)]
    ingest_connections: usize,
    /// Phases of trace ingestion with the SIEM feed off and of it on, alternated (median of each)
    #[arg(long, default_value_t = 3)]
    feed_rounds: usize,
    /// Security officer searches timed, one after the other
    #[arg(long, default_value_t = 200)]
    queries: usize,
    /// Failed logins timed per kind of identifier (existing, unknown)
    #[arg(long, default_value_t = 50)]
    enumeration_samples: usize,
    /// Also run on PostgreSQL: a role allowed to create a database (one is created for the run
    /// and dropped at the end), e.g. postgres://postgres@127.0.0.1:5432/postgres
    #[arg(long, value_name = "URL", requires = "redis")]
    postgres: Option<String>,
    /// Redis for the PostgreSQL run (keys under a prefix of the run, deleted at the end)
    #[arg(long, value_name = "URL", requires = "postgres")]
    redis: Option<String>,
    /// Only the PostgreSQL + Redis run
    #[arg(long, requires = "postgres")]
    skip_embedded: bool,
    /// Folder for results.json, table.md and latency.svg (default bench-results/<date-time>)
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
}

fn main() -> ExitCode {
    // `passerelle-bench passerelle …` is Passerelle itself, for the server process.
    if std::env::args_os().nth(1).is_some_and(|a| a == PASSERELLE) {
        return passerelle::cli::run_from(
            std::iter::once(PASSERELLE.into()).chain(std::env::args_os().skip(2)),
        );
    }
    let args = Args::parse();
    // reqwest carries rustls without a default provider, as Passerelle does.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("an async runtime");
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(1)
        }
    }
}

fn check(args: &Args) -> anyhow::Result<()> {
    let positive = [
        ("--seconds", args.seconds),
        ("--curve-seconds", args.curve_seconds),
    ];
    for (name, v) in positive {
        anyhow::ensure!(
            v > 0.0 && v <= 600.0,
            "{name} must be between 0 and 600 seconds"
        );
    }
    anyhow::ensure!(
        (1..=1024).contains(&args.connections),
        "--connections must be between 1 and 1024"
    );
    anyhow::ensure!(
        args.login_connections
            .is_none_or(|c| (1..=1024).contains(&c)),
        "--login-connections must be between 1 and 1024"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&args.accounts),
        "--accounts must be between 1 and 10000"
    );
    anyhow::ensure!(
        (1..=10_000).contains(&args.trace_batch),
        "--trace-batch must be between 1 and 10000 (Passerelle's largest batch)"
    );
    anyhow::ensure!(
        (1..=256).contains(&args.ingest_connections),
        "--ingest-connections must be between 1 and 256"
    );
    anyhow::ensure!(
        (1..=20).contains(&args.feed_rounds),
        "--feed-rounds must be between 1 and 20"
    );
    anyhow::ensure!(
        (1..=20).contains(&args.login_rounds),
        "--login-rounds must be between 1 and 20"
    );
    anyhow::ensure!(
        args.enumeration_samples <= 2 * args.accounts,
        "--enumeration-samples must be at most twice --accounts (two failures per identifier stay under the CAPTCHA)"
    );
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    check(&args)?;
    let started_at = chrono::Utc::now();
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("bench-results").join(started_at.format("%Y%m%d-%H%M%S").to_string())
    });
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the results folder {}", out.display()))?;
    let machine = report::Machine::read();
    println!(
        "Passerelle {} benchmark: {} ({} cores, {:.0} GiB), {} s per measure, loopback only\n",
        env!("CARGO_PKG_VERSION"),
        machine.cpu,
        machine.cores,
        machine.memory_gib,
        args.seconds
    );
    let mut results = Results {
        passerelle_version: env!("CARGO_PKG_VERSION").into(),
        started_at: started_at.to_rfc3339(),
        machine,
        settings: serde_json::to_value(&args)?,
        rows: Vec::new(),
        login_bound: Vec::new(),
        traces: Vec::new(),
        enumeration: Vec::new(),
        curves: Vec::new(),
        memory: Vec::new(),
        steal_percent: 0.0,
    };
    // The settings keep the PostgreSQL and Redis addresses without their passwords.
    for key in ["postgres", "redis"] {
        if let Some(url) = results.settings[key].as_str() {
            results.settings[key] = server::redacted(url).into();
        }
    }

    let mut setups = Vec::new();
    if !args.skip_embedded {
        setups.push(Setup::embedded()?);
    }
    if let (Some(pg), Some(redis)) = (&args.postgres, &args.redis) {
        setups.push(Setup::production(pg, redis).await?);
    }

    // Whatever happens from here on (a failure, Ctrl-C), what the run created in the given
    // servers is removed before it ends; Passerelle's process ends with its `Server`.
    let machine_before = load::MachineCpu::read();
    let measured = tokio::select! {
        r = measure_all(&args, &setups, &mut results) => r,
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("interrupted")),
    };
    results.steal_percent = load::MachineCpu::read().steal_since(machine_before) * 100.0;
    for setup in &setups {
        if let Err(e) = setup.clean_up().await {
            eprintln!("warning: {}", format!("{e:#}").replace('\n', " "));
        }
    }
    measured?;

    let table = report::table(&results);
    println!("{table}");
    std::fs::write(out.join("table.md"), &table)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    std::fs::write(out.join("latency.svg"), report::chart(&results))?;
    println!(
        "\nwritten: {0}/results.json, {0}/table.md, {0}/latency.svg ({1:.0} s in all)",
        out.display(),
        (chrono::Utc::now() - started_at).as_seconds_f64()
    );
    let failed: u64 = results.rows.iter().map(|r| r.failed).sum();
    anyhow::ensure!(
        failed == 0,
        "{failed} requests failed during the run (see the table)"
    );
    Ok(())
}

async fn measure_all(args: &Args, setups: &[Setup], results: &mut Results) -> anyhow::Result<()> {
    let hashing = Hashing::new().await?;
    for setup in setups {
        measure(args, setup, &hashing, results).await?;
    }
    Ok(())
}

async fn measure(
    args: &Args,
    setup: &Setup,
    hashing: &Hashing,
    results: &mut Results,
) -> anyhow::Result<()> {
    let cores = report::cores();
    let name = setup.name;
    let seconds = Duration::from_secs_f64(args.seconds);
    let login_connections = args.login_connections.unwrap_or(4 * cores);
    println!("== {name} ==");

    // The trace store is generated before Passerelle starts: the running server owns the
    // chains' heads.
    setup.command(&["migrate"])?;
    let span = traces::Span::last_six_months();
    let generated = {
        let store = passerelle::app::open_traces(&setup.config()).await?;
        traces::generate(store.as_ref(), args.traces, &span).await?
    };
    println!(
        "generated {} traces ({generated:.0} traces/s through the chained append)",
        args.traces
    );

    let t = Instant::now();
    let server = setup.start(&flows::provisioning(args.accounts))?;
    let process = server.process();
    // Idle: what Passerelle keeps once its start-up tasks have run (a second after the banner).
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss = process.memory();
    println!(
        "Passerelle started at {} with {} accounts in {:.1} s; {:.1} MiB resident",
        server.issuer,
        args.accounts,
        t.elapsed().as_secs_f64(),
        mib(idle_rss)
    );
    let flows = Flows::new(server.issuer.clone());
    let row = |measure: &str, unit: &str, conns: usize, s: &Sample| {
        let r = Row::new(name, measure, unit, conns, s, cores);
        println!(
            "{measure:<44} {:>10.1} {unit}/s  p50 {:>7.2} ms  p99 {:>7.2} ms  failed {}  steal {:.1} %",
            r.per_second, r.p50_ms, r.p99_ms, r.failed, r.steal_percent
        );
        r
    };

    let accounts = args.accounts;
    let (logins, bound) = logins_against_bound(args, setup, &flows, process, hashing).await?;
    results.rows.push(row(
        "password login (authorize, form, POST, code)",
        "login",
        login_connections,
        &logins,
    ));
    results.login_bound.push(bound);

    let (rows, people) = tokens::rows(&flows, args, seconds, process, &row).await?;
    results.rows.extend(rows);

    // Trace ingestion: a relying application's client_credentials token with traces:write.
    let writer = flows
        .client_credentials("traces:write")
        .await
        .context("no token with the traces:write scope")?;
    let ingestion = traces::ingest(
        &flows,
        &writer,
        &people.sub,
        args.ingest_connections,
        args.trace_batch,
        seconds,
        process,
    )
    .await;
    let ingestion_row = row(
        &format!("trace ingestion (batches of {})", args.trace_batch),
        "event",
        args.ingest_connections,
        &ingestion,
    );
    results.rows.push(ingestion_row);

    // A security officer's searches, with a personal API token made by Passerelle's CLI.
    let officer_token = setup
        .command(&[
            "api-token",
            "create",
            traces::OFFICER,
            "--name",
            "benchmark",
            "--days",
            "1",
        ])?
        .trim()
        .to_owned();
    // Measures one request at a time, counted per request, with their 95th percentile.
    let counted = |measure: String, unit: &str, sample: &Sample| {
        let row = Row::counting(name, &measure, unit, 1, sample, sample.requests, cores);
        print_counted(&row, unit);
        row
    };
    let searches = traces::queries(&flows, &officer_token, &span, args.queries, process).await;
    results.rows.push(counted(
        format!("trace search ({} traces in store)", args.traces),
        "query",
        &searches,
    ));
    let views = traces::dashboards(setup, &flows, args.queries, process).await?;
    results.rows.push(counted(
        format!("security dashboard, 7 days ({} traces)", args.traces),
        "view",
        &views,
    ));
    results.traces.push(TraceFacts {
        setup: name.into(),
        store_size: args.traces,
        generated_per_second: generated,
        traces_per_first_page: searches.units as f64 / searches.requests.max(1) as f64,
    });

    // Latency against load.
    let curve_time = Duration::from_secs_f64(args.curve_seconds);
    let mut login_curve = Vec::new();
    for conns in levels(1, 4 * cores) {
        let s = drive_logins(&flows, conns, curve_time, process, accounts).await;
        login_curve.push(point(conns, &s));
    }
    results.curves.push(Curve {
        setup: name.into(),
        measure: "password login".into(),
        points: login_curve,
    });
    let mut grant_curve = Vec::new();
    for conns in levels(1, 64) {
        let s = tokens::drive_grants(&flows, conns, curve_time, process).await;
        grant_curve.push(point(conns, &s));
    }
    results.curves.push(Curve {
        setup: name.into(),
        measure: "client_credentials grant".into(),
        points: grant_curve,
    });

    // Last, as it spends two failed attempts of some identifiers.
    if args.enumeration_samples > 0 {
        results
            .enumeration
            .push(enumeration(&flows, name, args.enumeration_samples).await?);
    }
    let memory = Memory {
        setup: name.into(),
        idle_rss_mib: mib(idle_rss),
        rss_after_mib: mib(process.memory()),
        peak_rss_mib: results
            .rows
            .iter()
            .filter(|r| r.setup == name)
            .map(|r| r.peak_rss_mib)
            .fold(0.0, f64::max),
    };
    println!(
        "server memory: {:.1} MiB idle after provisioning, {:.1} MiB after the measures, peak {:.0} MiB",
        memory.idle_rss_mib, memory.rss_after_mib, memory.peak_rss_mib
    );
    results.memory.push(memory);
    server.stop();

    // Trace ingestion with the SIEM feed off and on, alternated on fresh servers.
    let provisioning = flows::provisioning(args.accounts);
    let (unfed, fed, forwarded) = traces::ingest_paired(
        setup,
        &provisioning,
        &people.sub,
        (args.ingest_connections, args.trace_batch),
        seconds,
        args.feed_rounds,
    )
    .await?;
    let paired = |side: &str, sample: &Sample| {
        row(
            &format!("trace ingestion, SIEM feed {side} (paired)"),
            "event",
            args.ingest_connections,
            sample,
        )
    };
    let (unfed_row, fed_row) = (paired("off", &unfed), paired("on", &fed));
    println!(
        "SIEM feed: {forwarded} events forwarded during its {} phases; ingestion with the feed at {:.0} % of without (medians of alternated phases)",
        args.feed_rounds,
        100.0 * fed_row.per_second / unfed_row.per_second.max(1e-9)
    );
    results.rows.extend([unfed_row, fed_row]);
    println!();
    Ok(())
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A measure counted in its own unit, with its 95th percentile.
fn print_counted(row: &Row, unit: &str) {
    println!(
        "{:<44} {:>10.1} {unit}/s  p50 {:>7.2} ms  p95 {:>7.2} ms  failed {}",
        row.measure, row.per_second, row.p50_ms, row.p95_ms, row.failed
    );
}

/// Password logins from `connections` new browsers at a time, spread over the accounts.
async fn drive_logins(
    flows: &Flows,
    connections: usize,
    duration: Duration,
    process: Process,
    accounts: usize,
) -> Sample {
    let f = flows.clone();
    load::drive(connections, duration, process, move |w, i| {
        let f = f.clone();
        async move { f.login((w * 1000 + i as usize) % accounts).await.map(|_| 1) }
    })
    .await
}

/// client_credentials grants on `connections` connections.
/// 1, 2, 4, … up to `max` (included).
fn levels(from: usize, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut n = from.max(1);
    while n < max {
        out.push(n);
        n *= 2;
    }
    out.push(max);
    out
}

fn point(connections: usize, s: &Sample) -> Point {
    Point {
        connections,
        per_second: s.rate(),
        p50_ms: s.percentile_ms(0.5),
        p99_ms: s.percentile_ms(0.99),
    }
}

/// Failed logins for existing and unknown identifiers, interleaved; two per identifier (the
/// third would bring the CAPTCHA).
async fn enumeration(flows: &Flows, setup: &str, samples: usize) -> anyhow::Result<Enumeration> {
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for n in 0..samples {
        let existing = flows::email(n / 2);
        let nobody = format!("nobody{n}@bench.example");
        known.push(
            flows
                .failed_login(&existing)
                .await
                .context("a failed login was not refused with 401")?,
        );
        unknown.push(
            flows
                .failed_login(&nobody)
                .await
                .context("a failed login was not refused with 401")?,
        );
    }
    let stats = |xs: &[Duration]| {
        let v: Vec<f64> = xs.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        let n = v.len() as f64;
        let mean = v.iter().sum::<f64>() / n;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        (mean, (var / n).sqrt())
    };
    let (mk, ek) = stats(&known);
    let (mu, eu) = stats(&unknown);
    println!(
        "failed login, existing vs unknown identifier: {mk:.2} ms vs {mu:.2} ms ({:+.2} ± {:.2})",
        mk - mu,
        (ek * ek + eu * eu).sqrt()
    );
    Ok(Enumeration {
        setup: setup.into(),
        samples,
        existing_mean_ms: mk,
        unknown_mean_ms: mu,
        difference_ms: mk - mu,
        standard_error_ms: (ek * ek + eu * eu).sqrt(),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn load_levels_double_up_to_the_maximum() {
        assert_eq!(super::levels(1, 8), vec![1, 2, 4, 8]);
        assert_eq!(super::levels(1, 6), vec![1, 2, 4, 6]);
        assert_eq!(super::levels(1, 1), vec![1]);
    }
}
