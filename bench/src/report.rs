//! The results: a table on the terminal, a JSON file and an SVG chart of latency against load.

use crate::load::Sample;
use serde::Serialize;
use std::fmt::Write as _;

/// One line of the table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub setup: String,
    pub measure: String,
    /// What one operation is ("login", "grant", "event", …).
    pub unit: String,
    /// Concurrent connections the load generator kept (at most one request each).
    pub connections: usize,
    pub operations: u64,
    pub failed: u64,
    pub seconds: f64,
    pub per_second: f64,
    /// per_second divided by the machine's cores, the way per-vCPU sizing guides count.
    pub per_second_per_core: f64,
    /// Operations per second of Passerelle's own CPU time (what one fully busy core gives,
    /// when the load generator is not sharing it).
    pub per_server_cpu_second: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub cpu_seconds_per_1000: f64,
    pub peak_rss_mib: f64,
    /// Per cent of the machine's CPU time stolen by the hypervisor during the measure.
    pub steal_percent: f64,
    /// per_second as a fraction of the HTTP floor's (a trivial endpoint at the same
    /// connections, in the same run), for the rows measured at the floor's connections.
    pub of_floor: Option<f64>,
}

impl Row {
    /// A row from a sample whose unit count is the operation count.
    pub fn new(
        setup: &str,
        measure: &str,
        unit: &str,
        connections: usize,
        s: &Sample,
        cores: usize,
    ) -> Self {
        Self::counting(setup, measure, unit, connections, s, s.units, cores)
    }

    /// A row counting `operations` (for instance requests rather than the traces they found).
    pub fn counting(
        setup: &str,
        measure: &str,
        unit: &str,
        connections: usize,
        s: &Sample,
        operations: u64,
        cores: usize,
    ) -> Self {
        let per_second = if s.seconds > 0.0 {
            operations as f64 / s.seconds
        } else {
            0.0
        };
        let cpu_per_op = if operations > 0 {
            s.cpu_seconds / operations as f64
        } else {
            0.0
        };
        Self {
            setup: setup.to_owned(),
            measure: measure.to_owned(),
            unit: unit.to_owned(),
            connections,
            operations,
            failed: s.failed,
            seconds: s.seconds,
            per_second,
            per_second_per_core: per_second / cores.max(1) as f64,
            per_server_cpu_second: if cpu_per_op > 0.0 {
                1.0 / cpu_per_op
            } else {
                0.0
            },
            p50_ms: s.percentile_ms(0.50),
            p95_ms: s.percentile_ms(0.95),
            p99_ms: s.percentile_ms(0.99),
            cpu_seconds_per_1000: cpu_per_op * 1000.0,
            peak_rss_mib: s.peak_memory as f64 / (1024.0 * 1024.0),
            steal_percent: s.steal * 100.0,
            of_floor: None,
        }
    }
}

/// One point of a latency-against-load curve.
#[derive(Debug, Clone, Serialize)]
pub struct Point {
    pub connections: usize,
    pub per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Curve {
    pub setup: String,
    pub measure: String,
    pub points: Vec<Point>,
}

/// The machine the run was made on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn read() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let memory_kib: f64 = meminfo
            .lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0.0);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        Self {
            cpu,
            cores: cores(),
            memory_gib: memory_kib / (1024.0 * 1024.0),
            kernel,
        }
    }
}

pub fn cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

/// Everything a run measured, as written to results.json.
#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub passerelle_version: String,
    pub started_at: String,
    pub machine: Machine,
    pub settings: serde_json::Value,
    pub rows: Vec<Row>,
    /// Login throughput against the Argon2id-only bound, per setup.
    pub login_bound: Vec<LoginBound>,
    pub traces: Vec<TraceFacts>,
    pub enumeration: Vec<Enumeration>,
    pub curves: Vec<Curve>,
    pub memory: Vec<Memory>,
    /// Per cent of the machine's CPU time stolen by the hypervisor over the whole run.
    pub steal_percent: f64,
}

/// Password logins against the Argon2id-only bound, measured in alternated phases (bound,
/// logins, bound, logins, …) and reported as the median phase of each side.
#[derive(Debug, Clone, Serialize)]
pub struct LoginBound {
    pub setup: String,
    pub argon2: String,
    pub rounds: usize,
    pub hash_ms: f64,
    pub bound_per_second: f64,
    pub logins_per_second: f64,
    pub ratio: f64,
    /// CPU seconds of one verification (this process's CPU during a bound phase, per
    /// verification), in milliseconds.
    pub cpu_ms_per_verification: f64,
    /// The server's CPU per login (its CPU during a login phase, per login), in milliseconds.
    pub server_cpu_ms_per_login: f64,
    /// server_cpu_ms_per_login - cpu_ms_per_verification: what a login costs beyond its hash.
    pub cpu_ms_beyond_hash: f64,
    /// The largest steal seen in any of the phases, per cent.
    pub steal_percent: f64,
}

/// The server's resident memory.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub setup: String,
    /// Right after start-up and provisioning, before any request.
    pub idle_rss_mib: f64,
    /// After every measure, once the load stopped.
    pub rss_after_mib: f64,
    /// The largest peak of any measure.
    pub peak_rss_mib: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TraceFacts {
    pub setup: String,
    pub store_size: u64,
    pub generated_per_second: f64,
    pub traces_per_first_page: f64,
}

/// The failed-login time for existing and unknown identifiers: it must not tell them apart.
#[derive(Debug, Clone, Serialize)]
pub struct Enumeration {
    pub setup: String,
    pub samples: usize,
    pub existing_mean_ms: f64,
    pub unknown_mean_ms: f64,
    pub difference_ms: f64,
    pub standard_error_ms: f64,
}

fn number(v: f64) -> String {
    if v >= 100.0 {
        let whole = format!("{:.0}", v);
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                out.push(',');
            }
            out.push(c);
        }
        out
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table, as printed and as pasted into docs/benchmarks.md (Markdown).
pub fn table(results: &Results) -> String {
    let mut out = String::new();
    let setups: Vec<&str> = {
        let mut s: Vec<&str> = results.rows.iter().map(|r| r.setup.as_str()).collect();
        s.dedup();
        s
    };
    for setup in setups {
        let _ = writeln!(out, "\n### {setup}\n");
        out.push_str("| measure | conns | per second | of floor | p50 ms | p95 ms | p99 ms | server CPU s / 1000 | peak RSS MiB | steal % | failed |\n");
        out.push_str("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        for r in results.rows.iter().filter(|r| r.setup == setup) {
            let _ = writeln!(
                out,
                "| {} | {} | {} {}/s | {} | {} | {} | {} | {} | {:.0} | {:.1} | {} |",
                r.measure,
                r.connections,
                number(r.per_second),
                r.unit,
                r.of_floor
                    .map_or_else(|| "—".to_owned(), |f| format!("{:.0} %", f * 100.0)),
                number(r.p50_ms),
                number(r.p95_ms),
                number(r.p99_ms),
                number(r.cpu_seconds_per_1000),
                r.peak_rss_mib,
                r.steal_percent,
                r.failed
            );
        }
        for b in results.login_bound.iter().filter(|b| b.setup == setup) {
            let _ = writeln!(
                out,
                "\nPassword logins: {} /s against the Argon2id-only bound of {} /s ({}, {:.1} ms per hash, every core busy; medians of {} alternated phases of each, steal at most {:.1} %): {:.0} %.\n\
                 Server CPU per login {:.2} ms, of which one verification {:.2} ms: {:.2} ms beyond the hash.",
                number(b.logins_per_second),
                number(b.bound_per_second),
                b.argon2,
                b.hash_ms,
                b.rounds,
                b.steal_percent,
                b.ratio * 100.0,
                b.server_cpu_ms_per_login,
                b.cpu_ms_per_verification,
                b.cpu_ms_beyond_hash,
            );
        }
        for m in results.memory.iter().filter(|m| m.setup == setup) {
            let _ = writeln!(
                out,
                "Server memory: {:.1} MiB resident when idle after provisioning, {:.1} MiB after the measures, {:.0} MiB at the highest peak.",
                m.idle_rss_mib, m.rss_after_mib, m.peak_rss_mib
            );
        }
        for t in results.traces.iter().filter(|t| t.setup == setup) {
            let _ = writeln!(
                out,
                "Trace store: {} traces generated through the chained append ({} traces/s); a first page held {:.1} traces on average.",
                number(t.store_size as f64),
                number(t.generated_per_second),
                t.traces_per_first_page
            );
        }
        for e in results.enumeration.iter().filter(|e| e.setup == setup) {
            let _ = writeln!(
                out,
                "Failed login, existing vs unknown identifier ({} each): {:.2} ms vs {:.2} ms, difference {:+.2} ms (standard error {:.2} ms).",
                e.samples,
                e.existing_mean_ms,
                e.unknown_mean_ms,
                e.difference_ms,
                e.standard_error_ms
            );
        }
    }
    let _ = writeln!(
        out,
        "\nSteal time over the whole run: {:.1} % of the machine's CPU time{}.",
        results.steal_percent,
        if results.steal_percent > 5.0 {
            " — other virtual machines took the cores: these figures are not to be trusted"
        } else {
            ""
        }
    );
    out
}

/// A small SVG chart: one panel per curve, throughput across, p50 and p99 latency up.
pub fn chart(results: &Results) -> String {
    const W: f64 = 460.0;
    const H: f64 = 300.0;
    const M: f64 = 56.0;
    let curves = &results.curves;
    let columns = 2usize;
    let rows = curves.len().div_ceil(columns).max(1);
    let (width, height) = (W * columns as f64, H * rows as f64 + 40.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"11\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"12\" y=\"22\" font-size=\"14\">Passerelle {}: latency against load ({} cores, {}) — p50 solid, p99 dashed</text>\n",
        results.passerelle_version,
        results.machine.cores,
        escape(&results.machine.cpu)
    );
    for (n, curve) in curves.iter().enumerate() {
        let (ox, oy) = ((n % columns) as f64 * W, 40.0 + (n / columns) as f64 * H);
        let (pw, ph) = (W - M - 16.0, H - M - 24.0);
        let max_x = curve
            .points
            .iter()
            .map(|p| p.per_second)
            .fold(0.0, f64::max)
            .max(1e-9)
            * 1.05;
        // Latency on a logarithmic scale: p99 may be a hundred times p50.
        let latencies = || curve.points.iter().flat_map(|p| [p.p50_ms, p.p99_ms]);
        let low = latencies()
            .fold(f64::MAX, f64::min)
            .max(1e-3)
            .log10()
            .floor();
        let high = latencies()
            .fold(0.0, f64::max)
            .max(1e-3)
            .log10()
            .ceil()
            .max(low + 1.0);
        let x = |v: f64| ox + M + v / max_x * pw;
        let y = |v: f64| oy + 16.0 + ph - (v.max(1e-3).log10() - low) / (high - low) * ph;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{}\" font-size=\"12\">{} — {}</text>",
            ox + M,
            oy + 10.0,
            escape(&curve.measure),
            escape(&curve.setup)
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#999\"/>",
            ox + M,
            oy + 16.0
        );
        for i in 0..=4 {
            let vx = max_x * i as f64 / 4.0;
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
                x(vx),
                oy + 16.0 + ph + 14.0,
                number(vx),
            );
        }
        let mut decade = low;
        while decade <= high {
            let vy = 10f64.powf(decade);
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
                 <line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#ddd\"/>",
                ox + M - 4.0,
                y(vy) + 4.0,
                number(vy),
                ox + M,
                ox + M + pw,
                y(vy),
                y(vy)
            );
            decade += 1.0;
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">per second (labels: connections)</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" transform=\"rotate(-90 {:.1} {:.1})\" text-anchor=\"middle\">ms (log)</text>",
            ox + M + pw / 2.0,
            oy + 16.0 + ph + 30.0,
            ox + 14.0,
            oy + 16.0 + ph / 2.0,
            ox + 14.0,
            oy + 16.0 + ph / 2.0
        );
        for (latency, dash) in [(0usize, ""), (1, " stroke-dasharray=\"5 3\"")] {
            let points: Vec<String> = curve
                .points
                .iter()
                .map(|p| {
                    let v = if latency == 0 { p.p50_ms } else { p.p99_ms };
                    format!("{:.1},{:.1}", x(p.per_second), y(v))
                })
                .collect();
            let _ = writeln!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"#1f5fa8\" stroke-width=\"1.5\"{dash}/>",
                points.join(" ")
            );
        }
        for p in &curve.points {
            let _ = writeln!(
                svg,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"2.5\" fill=\"#1f5fa8\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#555\">{}</text>",
                x(p.per_second),
                y(p.p50_ms),
                x(p.per_second) + 3.0,
                y(p.p50_ms) - 4.0,
                p.connections
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(number(35906.4), "35,906");
        assert_eq!(number(121.06), "121");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(0.432), "0.43");
        assert_eq!(number(1_000_000.0), "1,000,000");
    }
}
