//! Password logins against the Argon2id-only bound, in alternated phases.

use crate::flows::{self, Flows};
use crate::load::{self, Process, Sample};
use crate::report::{self, LoginBound};
use crate::server::Setup;
use crate::{Args, drive_logins};
use std::time::Duration;

/// Argon2id verifications at Passerelle's own parameters and through its own hasher, with
/// every core busy, in this process: the ceiling for password logins.
pub struct Hashing {
    hasher: passerelle::accounts::password::PasswordHasher,
    stored: String,
    label: String,
}

impl Hashing {
    pub async fn new() -> anyhow::Result<Self> {
        let config = passerelle::config::Config::default().password_hashing;
        let label = format!(
            "m={} KiB, t={}, p={}",
            config.memory_kib, config.iterations, config.parallelism
        );
        let hasher = passerelle::accounts::password::PasswordHasher::new(&config)?;
        let stored = hasher.hash(Self::password()).await?;
        Ok(Self {
            hasher,
            stored,
            label,
        })
    }

    fn password() -> passerelle::accounts::password::Password {
        passerelle::accounts::password::Password::new(flows::PASSWORD.into())
    }

    /// One phase of verifications on every core; its CPU is this process's own.
    async fn phase(&self, duration: Duration) -> anyhow::Result<Sample> {
        let me = Process {
            pid: std::process::id(),
        };
        let (hasher, stored) = (self.hasher.clone(), self.stored.clone());
        let sample = load::drive(report::cores(), duration, me, move |_, _| {
            let (hasher, stored) = (hasher.clone(), stored.clone());
            async move {
                let ok = hasher.verify(Self::password(), Some(stored)).await;
                ok.then_some(1)
            }
        })
        .await;
        anyhow::ensure!(sample.failed == 0, "Argon2id verification failed");
        Ok(sample)
    }
}

/// The sample of median rate, and the median CPU seconds per unit, of alternated phases.
fn median(mut samples: Vec<Sample>) -> (Sample, f64) {
    let per_unit = |s: &Sample| s.cpu_seconds / s.units.max(1) as f64;
    let mut cpu: Vec<f64> = samples.iter().map(per_unit).collect();
    cpu.sort_by(f64::total_cmp);
    samples.sort_by(|a, b| a.rate().total_cmp(&b.rate()));
    let middle = samples.len() / 2;
    (samples.swap_remove(middle), cpu[middle])
}

/// Password logins against the Argon2id-only bound: phases of each alternated, so that both
/// sides see the same machine, and their CPU read from /proc rather than from wall time.
pub async fn logins_against_bound(
    args: &Args,
    setup: &Setup,
    flows: &Flows,
    process: Process,
    hashing: &Hashing,
) -> anyhow::Result<(Sample, LoginBound)> {
    let seconds = Duration::from_secs_f64(args.seconds);
    let connections = args.login_connections.unwrap_or(4 * report::cores());
    let (mut bounds, mut logins) = (Vec::new(), Vec::new());
    for _ in 0..args.login_rounds {
        bounds.push(hashing.phase(seconds).await?);
        logins.push(drive_logins(flows, connections, seconds, process, args.accounts).await);
    }
    let steal = bounds
        .iter()
        .chain(&logins)
        .map(|s| s.steal)
        .fold(0.0, f64::max);
    let (bound, verification_cpu) = median(bounds);
    let (login, login_cpu) = median(logins);
    let facts = LoginBound {
        setup: setup.name.into(),
        argon2: hashing.label.clone(),
        rounds: args.login_rounds,
        hash_ms: bound.percentile_ms(0.5),
        bound_per_second: bound.rate(),
        logins_per_second: login.rate(),
        ratio: login.rate() / bound.rate().max(1e-9),
        cpu_ms_per_verification: verification_cpu * 1e3,
        server_cpu_ms_per_login: login_cpu * 1e3,
        cpu_ms_beyond_hash: (login_cpu - verification_cpu) * 1e3,
        steal_percent: steal * 100.0,
    };
    println!(
        "Argon2id-only bound {:.1} /s, logins {:.1} /s ({:.0} %); server CPU per login {:.2} ms, one verification {:.2} ms: {:.2} ms beyond the hash (medians of {} alternated phases, steal at most {:.1} %)",
        facts.bound_per_second,
        facts.logins_per_second,
        facts.ratio * 100.0,
        facts.server_cpu_ms_per_login,
        facts.cpu_ms_per_verification,
        facts.cpu_ms_beyond_hash,
        facts.rounds,
        facts.steal_percent
    );
    Ok((login, facts))
}
