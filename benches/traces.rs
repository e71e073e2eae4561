//! Benchmark of the trace store on the embedded default (SQLite):
//!
//! 1. builds a store of BENCH_TRACES traces (default 10,000,000) over six months, 5,000
//!    people in 100 partners, through the store's own chained `append`;
//! 2. times a security officer's query (one person, one month, first page of 50) 200 times;
//! 3. starts Passerelle (in this process) on that store and drives `POST /api/v1/traces` with batches
//!    of 1,000 events from BENCH_INGEST_WORKERS workers (default 8) for BENCH_SECONDS
//!    (default 10): events acknowledged per second, each acknowledged only once on disk;
//! 4. runs the same ingestion while the retention job destroys the oldest month, and reports
//!    the longest an ingestion request waited.
//!
//! `cargo bench --bench traces`. Everything runs on loopback and ends by itself.

use passerelle::store::sqlite::traces::SqliteTraceStore;
use passerelle::store::{NewTrace, Outcome, TraceQuery, TraceStore};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const PEOPLE: u64 = 5_000;
const PARTNERS: u64 = 100;
const MONTH_US: i64 = 30 * 86_400 * 1_000_000;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small deterministic generator (xorshift), so that runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn trace(rng: &mut Rng, n: u64, start_us: i64, span_us: i64) -> NewTrace {
    let person = rng.next() % PEOPLE;
    let partner = format!("partenaire-{}", person % PARTNERS);
    let stream = ["passerelle", "cooperation", "cdap", "monenfant-extranet"][(n % 4) as usize];
    NewTrace {
        id: format!("g{n}"),
        stream: stream.into(),
        // Set by the caller.
        at_us: start_us + (n as i64 % span_us.max(1)),
        actor_account: Some(format!("personne-{person}")),
        actor_partner: Some(partner.clone()),
        actor_caf: None,
        partner: Some(partner),
        session: Some(format!("{:064x}", rng.next())),
        client_id: (stream != "passerelle").then(|| stream.to_owned()),
        action: ["dossier.consultation", "auth.login", "token.issue"][(rng.next() % 3) as usize]
            .into(),
        target: Some(format!("dossier:{}", rng.next() % 1_000_000)),
        outcome: if rng.next().is_multiple_of(20) {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        reason: None,
        ip: Some(format!(
            "10.{}.{}.{}",
            rng.next() % 256,
            rng.next() % 256,
            rng.next() % 256
        )),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
        request_id: None,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn generate(store: &SqliteTraceStore, total: u64, start_us: i64, span_us: i64) {
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut n = 0;
    while n < total {
        let size = (total - n).min(20_000);
        let batch: Vec<NewTrace> = (n..n + size)
            .map(|i| {
                let mut t = trace(&mut rng, i, start_us, span_us);
                // Spread evenly over the span, oldest first.
                t.at_us = start_us + (span_us as f64 * i as f64 / total as f64) as i64;
                t
            })
            .collect();
        store.append(&batch).await.unwrap();
        n += size;
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "generated {total} traces in {secs:.1} s ({:.0} traces/s through the chained append)",
        total as f64 / secs
    );
}

async fn query_latencies(store: &SqliteTraceStore, start_us: i64) -> Vec<Duration> {
    let mut rng = Rng(42);
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..200 {
        let person = rng.next() % PEOPLE;
        let month = (rng.next() % 5) as i64;
        let from = start_us + month * MONTH_US;
        let query = TraceQuery {
            reach: Some(vec![format!("partenaire-{}", person % PARTNERS)]),
            account: Some(format!("personne-{person}")),
            from_us: Some(from),
            to_us: Some(from + MONTH_US),
            limit: 51,
            ..Default::default()
        };
        let t = Instant::now();
        let found = store.search(&query).await.unwrap();
        times.push(t.elapsed());
        rows += found.len().min(50);
    }
    times.sort();
    println!(
        "query: {:.1} traces per first page on average",
        rows as f64 / 200.0
    );
    times
}

struct Ingestion {
    events: u64,
    seconds: f64,
    latencies: Vec<Duration>,
}

async fn ingest(
    issuer: &str,
    token: &str,
    sub: &str,
    workers: u64,
    seconds: u64,
    tag: &str,
) -> Ingestion {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let events = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut handles = Vec::new();
    for w in 0..workers {
        let (client, events, issuer, token, sub, tag) = (
            client.clone(),
            events.clone(),
            issuer.to_owned(),
            token.to_owned(),
            sub.to_owned(),
            tag.to_owned(),
        );
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut batch_no = 0u64;
            while Instant::now() < deadline {
                let body = serde_json::json!({ "events": (0..1000).map(|i| serde_json::json!({
                    "id": format!("{tag}-{w}-{batch_no}-{i}"),
                    "sub": sub,
                    "action": "dossier.consultation",
                    "target": format!("dossier:{i}"),
                    "ip": "192.0.2.1",
                })).collect::<Vec<_>>() });
                let t = Instant::now();
                let response = client
                    .post(format!("{issuer}/api/v1/traces"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let ok = response.status().is_success();
                let _ = response.bytes().await;
                latencies.push(t.elapsed());
                if ok {
                    events.fetch_add(1000, Ordering::Relaxed);
                }
                batch_no += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for h in handles {
        latencies.extend(h.await.unwrap());
    }
    latencies.sort();
    Ingestion {
        events: events.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    }
}

fn report(label: &str, r: &Ingestion) {
    println!(
        "{label:<40} {:>9.0} events/s  requests of 1000: p50 {:>7.1} ms  p99 {:>7.1} ms  max {:>7.1} ms",
        r.events as f64 / r.seconds,
        percentile(&r.latencies, 0.5).as_secs_f64() * 1e3,
        percentile(&r.latencies, 0.99).as_secs_f64() * 1e3,
        r.latencies
            .last()
            .copied()
            .unwrap_or_default()
            .as_secs_f64()
            * 1e3,
    );
}

fn main() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let total = env_or("BENCH_TRACES", 10_000_000);
    let seconds = env_or("BENCH_SECONDS", 10);
    let workers = env_or("BENCH_INGEST_WORKERS", 8);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("Passerelle trace benchmark: {cores} cores, SQLite, loopback only\n");
    let data = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let now_us = chrono::Utc::now().timestamp_micros();
    let start_us = now_us - 6 * MONTH_US - 7 * 86_400 * 1_000_000;
    let path = data.path().join("traces.db");
    rt.block_on(async {
        let store = SqliteTraceStore::open(&path).await.unwrap();
        generate(&store, total, start_us, now_us - start_us).await;
        let times = query_latencies(&store, start_us).await;
        println!(
            "query: one person, one month, first page  p50 {:.2} ms  p95 {:.2} ms  max {:.2} ms  (n=200)\n",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            times.last().unwrap().as_secs_f64() * 1e3
        );
    });

    // Passerelle runs in this process here, so that the retention job goes through the
    // server's own trace writer, as it does inside `serve`.
    let (issuer, state) = rt.block_on(async {
        let mut config = passerelle::config::Config::default();
        config.server.listen = "127.0.0.1:0".into();
        config.server.data_dir = data.path().to_path_buf();
        let app = passerelle::app::Application::build(&config).await.unwrap();
        let state = app.state().clone();
        let demo =
            passerelle::provision::parse(passerelle::cli::DEMO_PROVISIONING, "demo").unwrap();
        passerelle::provision::apply(&state, &demo, true)
            .await
            .unwrap();
        let issuer = app.issuer().to_owned();
        tokio::spawn(app.run_until(std::future::pending()));
        (issuer, state)
    });

    rt.block_on(async {
        let http = reqwest::Client::new();
        let token: serde_json::Value = http
            .post(format!("{issuer}/token"))
            .basic_auth("demo-app", Some("demo-app-secret-0123456789-abcdefghijkl"))
            .form(&[("grant_type", "client_credentials"), ("scope", "traces:write")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = token["access_token"].as_str().unwrap().to_owned();
        let accounts = sqlx::SqlitePool::connect(&format!(
            "sqlite://{}",
            data.path().join("passerelle.db").display()
        ))
        .await
        .unwrap();
        let sub: String = sqlx::query_scalar("SELECT id FROM accounts LIMIT 1")
            .fetch_one(&accounts)
            .await
            .unwrap();

        let plain = ingest(&issuer, &token, &sub, workers, seconds, "a").await;
        report("ingestion (durable before the answer)", &plain);
        println!("{:<40} {:>9.0} events/s per core", "", plain.events as f64 / plain.seconds / cores as f64);

        // The retention job destroys the oldest month while ingestion goes on.
        let cutoff = start_us + MONTH_US;
        let retention = state.clone();
        let destroyer = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let t = Instant::now();
            let attestations = passerelle::traces::seal::destroy_before(&retention, cutoff)
                .await
                .unwrap();
            (attestations.iter().map(|a| a.count).sum::<u64>(), t.elapsed())
        });
        let during = ingest(&issuer, &token, &sub, workers, seconds, "b").await;
        let (destroyed, took) = destroyer.await.unwrap();
        report("ingestion while retention runs", &during);
        println!(
            "retention: {destroyed} traces of the oldest month destroyed in {:.1} s, 2,000 per transaction, with signed attestations",
            took.as_secs_f64(),
        );
    });
}
