//! A bounded load: a fixed number of workers, each with at most one request in flight (so at
//! most that many connections), for a fixed time; and what it cost the server's process, read
//! from Linux's /proc.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Passerelle's process, seen from outside.
#[derive(Clone, Copy)]
pub struct Process {
    pub pid: u32,
}

impl Process {
    /// CPU seconds (user + system) the process has used so far.
    pub fn cpu_seconds(self) -> f64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)).unwrap_or_default();
        // The command name may hold spaces: the fields are counted after its closing parenthesis.
        let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| -> f64 { fields.get(i).and_then(|v| v.parse().ok()).unwrap_or(0.0) };
        // utime and stime, in clock ticks of 1/100 s (USER_HZ on Linux).
        (ticks(11) + ticks(12)) / 100.0
    }

    /// Starts a new peak-memory window: Linux resets the peak resident set size (VmHWM) when
    /// "5" is written to clear_refs.
    pub fn reset_peak_memory(self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid), "5");
    }

    /// The peak resident set size since the last reset, in bytes.
    pub fn peak_memory(self) -> u64 {
        self.status_kib("VmHWM:") * 1024
    }

    /// The resident set size now, in bytes.
    pub fn memory(self) -> u64 {
        self.status_kib("VmRSS:") * 1024
    }

    fn status_kib(self, field: &str) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    }
}

/// The whole machine's CPU time so far, from the first line of /proc/stat: (all, stolen), in
/// clock ticks. Steal is the time the hypervisor gave this virtual machine's CPUs to others:
/// when it is more than a few per cent, the figures measured meanwhile are not to be trusted.
#[derive(Debug, Clone, Copy, Default)]
pub struct MachineCpu {
    pub total: u64,
    pub steal: u64,
}

impl MachineCpu {
    pub fn read() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        Self::parse(&stat)
    }

    fn parse(stat: &str) -> Self {
        let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
            return Self::default();
        };
        // user nice system idle iowait irq softirq steal (guest times are inside user).
        let fields: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().unwrap_or(0))
            .collect();
        Self {
            total: fields.iter().sum(),
            steal: fields.get(7).copied().unwrap_or(0),
        }
    }

    /// The fraction of the machine's CPU time stolen since `earlier`.
    pub fn steal_since(self, earlier: Self) -> f64 {
        let total = self.total.saturating_sub(earlier.total);
        if total == 0 {
            return 0.0;
        }
        self.steal.saturating_sub(earlier.steal) as f64 / total as f64
    }
}

/// What one bounded load did.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Operations that succeeded, counted in the unit of the measure (a trace batch counts
    /// its events).
    pub units: u64,
    /// Requests that succeeded.
    pub requests: u64,
    pub failed: u64,
    pub seconds: f64,
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
    /// Server CPU seconds spent during the load.
    pub cpu_seconds: f64,
    /// Server peak resident memory during the load, in bytes.
    pub peak_memory: u64,
    /// The fraction of the machine's CPU time stolen by the hypervisor during the load.
    pub steal: f64,
}

impl Sample {
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.units as f64 / self.seconds
        } else {
            0.0
        }
    }

    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1e3
    }
}

/// The value at quantile `p` (0 to 1) of sorted durations (nearest rank).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `op(worker, iteration)` in `workers` concurrent loops until `duration` has passed.
/// `op` answers the units done, or `None` when the request failed.
pub async fn drive<F, Fut>(workers: usize, duration: Duration, server: Process, op: F) -> Sample
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Option<u64>> + Send,
{
    let op = Arc::new(op);
    server.reset_peak_memory();
    let cpu_before = server.cpu_seconds();
    let machine_before = MachineCpu::read();
    let started = Instant::now();
    let deadline = started + duration;
    let loops: Vec<_> = (0..workers)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let mut s = Sample::default();
                let mut i = 0;
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match op(w, i).await {
                        Some(units) => {
                            s.units += units;
                            s.requests += 1;
                            s.latencies.push(t.elapsed());
                        }
                        None => s.failed += 1,
                    }
                    i += 1;
                }
                s
            })
        })
        .collect();
    let mut total = Sample::default();
    for l in loops {
        let s = l.await.expect("a load worker does not panic");
        total.units += s.units;
        total.requests += s.requests;
        total.failed += s.failed;
        total.latencies.extend(s.latencies);
    }
    total.seconds = started.elapsed().as_secs_f64();
    total.cpu_seconds = server.cpu_seconds() - cpu_before;
    total.peak_memory = server.peak_memory();
    total.steal = MachineCpu::read().steal_since(machine_before);
    total.latencies.sort();
    total
}

/// Runs `op` `count` times one after the other (a person waiting for each answer).
pub async fn sequence<F, Fut>(count: usize, server: Process, op: F) -> Sample
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Option<u64>>,
{
    server.reset_peak_memory();
    let cpu_before = server.cpu_seconds();
    let machine_before = MachineCpu::read();
    let started = Instant::now();
    let mut s = Sample::default();
    for i in 0..count as u64 {
        let t = Instant::now();
        match op(i).await {
            Some(units) => {
                s.units += units;
                s.requests += 1;
                s.latencies.push(t.elapsed());
            }
            None => s.failed += 1,
        }
    }
    s.seconds = started.elapsed().as_secs_f64();
    s.cpu_seconds = server.cpu_seconds() - cpu_before;
    s.peak_memory = server.peak_memory();
    s.steal = MachineCpu::read().steal_since(machine_before);
    s.latencies.sort();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let d: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&d, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&d, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&d, 0.0), Duration::from_millis(1));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[test]
    fn steal_is_read_from_the_eighth_field_of_the_cpu_line() {
        let before = MachineCpu::parse("cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 1 2 3\n");
        let after = MachineCpu::parse("cpu  200 0 100 1550 10 0 0 140 0 0\n");
        assert_eq!((before.total, before.steal), (1000, 40));
        assert!((after.steal_since(before) - 0.1).abs() < 1e-9);
        assert_eq!(
            MachineCpu::parse("").steal_since(MachineCpu::default()),
            0.0
        );
    }

    #[test]
    fn this_process_reports_cpu_and_memory() {
        let me = Process {
            pid: std::process::id(),
        };
        // Spin until /proc says this process used 0.1 s more of CPU: the condition itself, not
        // a wall-clock guess of how much CPU a loaded machine grants (bounded at one minute).
        let before = me.cpu_seconds();
        let spin = Instant::now();
        let mut x = 0u64;
        while me.cpu_seconds() < before + 0.1 && spin.elapsed() < Duration::from_secs(60) {
            for _ in 0..100_000 {
                x = x.wrapping_add(std::hint::black_box(1));
            }
        }
        assert!(x > 0);
        assert!(
            me.cpu_seconds() >= before + 0.1,
            "{before} then {}",
            me.cpu_seconds()
        );
        assert!(me.peak_memory() > 1024 * 1024);
        assert!(me.memory() > 1024 * 1024 && me.memory() <= me.peak_memory());
    }
}
