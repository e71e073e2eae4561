//! The trace store under load: a generated store of a given size (six months of a
//! département's activity: 5,000 people in 100 partners), written through the store's own
//! chained append before Passerelle starts; then events submitted through the API and a
//! security officer's searches, measured from outside.

use crate::flows::Flows;
use crate::load::{self, Process, Sample};
use passerelle::store::{NewTrace, Outcome, TraceStore};
use serde_json::json;
use std::time::{Duration, Instant};

pub const PEOPLE: u64 = 5_000;
const PARTNERS: u64 = 100;
/// The partner of the demo's security officer (Hélène Faure, ville-de-niort): the people
/// whose number is a multiple of PARTNERS belong to it.
pub const OFFICER: &str = "helene.faure@niort.example";
const OFFICER_PARTNER: &str = "ville-de-niort";
const DAY_US: i64 = 86_400 * 1_000_000;
const MONTH_US: i64 = 30 * DAY_US;

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

fn partner_of(person: u64) -> String {
    match person % PARTNERS {
        0 => OFFICER_PARTNER.to_owned(),
        p => format!("partenaire-{p}"),
    }
}

fn trace(rng: &mut Rng, n: u64, at_us: i64) -> NewTrace {
    let person = rng.next() % PEOPLE;
    let partner = partner_of(person);
    let stream = ["passerelle", "cooperation", "cdap", "monenfant-extranet"][(n % 4) as usize];
    NewTrace {
        id: format!("g{n}"),
        stream: stream.into(),
        at_us,
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
        received_at_us: None,
    }
}

/// The generated store's time span: the last six months, as retention keeps them.
pub struct Span {
    pub start_us: i64,
    pub end_us: i64,
}

impl Span {
    pub fn last_six_months() -> Self {
        let end_us = chrono::Utc::now().timestamp_micros() - DAY_US;
        Self {
            start_us: end_us - 6 * MONTH_US,
            end_us,
        }
    }
}

/// Appends `total` traces spread evenly over the span, oldest first, in batches as the
/// trace writer makes them; answers the traces per second of the chained append.
pub async fn generate(store: &dyn TraceStore, total: u64, span: &Span) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let width = (span.end_us - span.start_us) as f64;
    let mut n = 0;
    while n < total {
        let size = (total - n).min(10_000);
        let batch: Vec<NewTrace> = (n..n + size)
            .map(|i| {
                let at = span.start_us + (width * i as f64 / total as f64) as i64;
                trace(&mut rng, i, at)
            })
            .collect();
        store.append(&batch).await?;
        n += size;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64().max(1e-9))
}

/// Batches of `batch` events for `sub` from `workers` connections.
pub async fn ingest(
    flows: &Flows,
    token: &str,
    sub: &str,
    workers: usize,
    batch: usize,
    duration: Duration,
    server: Process,
) -> Sample {
    let (flows, token, sub) = (flows.clone(), token.to_owned(), sub.to_owned());
    load::drive(workers, duration, server, move |w, i| {
        let (flows, token) = (flows.clone(), token.clone());
        let events = json!({ "events": (0..batch).map(|e| json!({
            "id": format!("bench-{w}-{i}-{e}"),
            "sub": sub,
            "action": "dossier.consultation",
            "target": format!("dossier:{e}"),
            "ip": "192.0.2.1",
        })).collect::<Vec<_>>() });
        async move { flows.submit_traces(&token, &events).await }
    })
    .await
}

/// A security officer's question, `count` times, one after the other: one person of their
/// partner, one month, the first page of 50. Answers the sample (units: traces found).
pub async fn queries(
    flows: &Flows,
    token: &str,
    span: &Span,
    count: usize,
    server: Process,
) -> Sample {
    let months = ((span.end_us - span.start_us) / MONTH_US).max(1);
    load::sequence(count, server, |i| {
        let mut rng = Rng(42 + i);
        let person = (rng.next() % (PEOPLE / PARTNERS)) * PARTNERS;
        let from = span.start_us + (rng.next() % months as u64) as i64 * MONTH_US;
        let instant = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us)
                .unwrap_or_default()
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        };
        let query = vec![
            ("person", format!("personne-{person}")),
            ("from", instant(from)),
            ("to", instant(from + MONTH_US)),
            ("limit", "50".to_owned()),
        ];
        async move { flows.search_traces(token, &query).await }
    })
    .await
}

/// The national operator's dashboard (the widest reach: every partner's counters), `count`
/// times one after the other, with a personal API token made by Passerelle's CLI.
pub async fn dashboards(
    setup: &crate::server::Setup,
    flows: &Flows,
    count: usize,
    server: Process,
) -> anyhow::Result<Sample> {
    let token = setup.command(&[
        "api-token",
        "create",
        "exploitation@cnaf.example",
        "--name",
        "benchmark",
        "--days",
        "1",
    ])?;
    let token = token.trim();
    Ok(load::sequence(count, server, |_| flows.dashboard(token)).await)
}

/// Trace ingestion with the SIEM feed off and on, measured in alternating phases on fresh
/// servers over the same store (off, on, on, off, … so that a drift of the machine falls on
/// both), `rounds` phases of each: the median phase of each side, and how many events the
/// collector received during the phases with the feed on.
pub async fn ingest_paired(
    setup: &crate::server::Setup,
    provisioning: &str,
    sub: &str,
    (workers, batch): (usize, usize),
    duration: Duration,
    rounds: usize,
) -> anyhow::Result<(Sample, Sample, u64)> {
    let (port, forwarded) = collector().await?;
    let feed = [(
        "PASSERELLE__TRACES__SIEM_URL",
        format!("tcp://127.0.0.1:{port}"),
    )];
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for phase in 0..2 * rounds {
        // ABBA: the side that goes first alternates every two phases.
        let fed = (phase % 4 == 1) || (phase % 4 == 2);
        let server = setup.start_with(provisioning, if fed { &feed[..] } else { &[] })?;
        let flows = Flows::new(server.issuer.clone());
        let writer = flows
            .client_credentials("traces:write")
            .await
            .ok_or_else(|| anyhow::anyhow!("no traces:write token"))?;
        let sample = ingest(
            &flows,
            &writer,
            sub,
            workers,
            batch,
            duration,
            server.process(),
        )
        .await;
        server.stop();
        if fed { &mut on } else { &mut off }.push(sample);
    }
    let forwarded = forwarded.load(std::sync::atomic::Ordering::Relaxed);
    Ok((median(off), median(on), forwarded))
}

/// The sample of median rate.
fn median(mut samples: Vec<Sample>) -> Sample {
    samples.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = samples.len() / 2;
    samples.swap_remove(middle)
}

/// A syslog collector that reads and counts octet-counted frames, for the SIEM feed's cost:
/// its port and the count of messages received.
pub async fn collector() -> anyhow::Result<(u16, std::sync::Arc<std::sync::atomic::AtomicU64>)> {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let received = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = received.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let count = count.clone();
            tokio::spawn(async move {
                let (mut buffer, mut chunk) = (Vec::new(), vec![0u8; 1 << 16]);
                while let Ok(n) = tcp.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buffer.extend_from_slice(&chunk[..n]);
                    let mut at = 0;
                    while let Some(space) = buffer[at..].iter().position(|b| *b == b' ') {
                        let Some(length) = std::str::from_utf8(&buffer[at..at + space])
                            .ok()
                            .and_then(|l| l.parse::<usize>().ok())
                        else {
                            return;
                        };
                        if buffer.len() < at + space + 1 + length {
                            break;
                        }
                        at += space + 1 + length;
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                    buffer.drain(..at);
                }
            });
        }
    });
    Ok((port, received))
}
