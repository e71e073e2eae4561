//! The benchmark command keeps working: a very short run of the real binary on each setup,
//! checked through the files it writes, and its refusals of bad settings.

use std::path::Path;
use std::process::Command;

const BENCH: &str = env!("CARGO_BIN_EXE_passerelle-bench");

/// Settings small enough for a debug build, large enough that every measure does something.
const SHORT: &[&str] = &[
    "--seconds",
    "0.4",
    "--curve-seconds",
    "0.2",
    "--accounts",
    "4",
    "--login-connections",
    "2",
    "--connections",
    "4",
    "--traces",
    "2000",
    "--trace-batch",
    "50",
    "--ingest-connections",
    "2",
    "--feed-rounds",
    "1",
    "--queries",
    "5",
    "--enumeration-samples",
    "4",
    "--login-rounds",
    "2",
];

fn check_results(out: &Path, setups: &[&str]) {
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 13 * setups.len(), "{rows:#?}");
    for setup in setups {
        let measures: Vec<&str> = rows
            .iter()
            .filter(|r| r["setup"] == *setup)
            .map(|r| r["measure"].as_str().unwrap())
            .collect();
        for expected in [
            "password login",
            "HTTP floor",
            "client_credentials",
            "refresh grant (rotation)",
            "refresh grant (rotation), ES256 ID token",
            "introspection",
            "userinfo",
            "JWKS",
            "trace ingestion",
            "trace search",
            "security dashboard",
            "trace ingestion, SIEM feed off",
            "trace ingestion, SIEM feed on",
        ] {
            assert!(
                measures.iter().any(|m| m.starts_with(expected)),
                "{setup}: {expected} missing from {measures:?}"
            );
        }
    }
    for r in rows {
        assert!(r["operations"].as_u64().unwrap() > 0, "{r}");
        assert_eq!(r["failed"], 0, "{r}");
        assert!(r["p50_ms"].as_f64().unwrap() > 0.0, "{r}");
        assert!(r["p99_ms"].as_f64().unwrap() >= r["p50_ms"].as_f64().unwrap());
        assert!(r["peak_rss_mib"].as_f64().unwrap() > 1.0, "{r}");
        // CPU time counts in ticks of 10 ms: a short measure of cheap requests may read 0.
        let cpu = r["cpu_seconds_per_1000"].as_f64().unwrap();
        assert!(cpu >= 0.0, "{r}");
        if r["unit"] == "login" {
            assert!(cpu > 1.0, "a login costs an Argon2id hash: {r}");
        }
    }
    // The rows measured at the floor's connections are read as a fraction of it.
    for r in rows {
        let against_floor = [
            "client_credentials",
            "refresh grant (rotation)",
            "refresh grant (rotation), ES256 ID token",
            "introspection",
            "userinfo",
            "JWKS",
        ]
        .iter()
        .any(|m| r["measure"].as_str().unwrap().starts_with(m));
        let of_floor = r["of_floor"].as_f64();
        assert_eq!(of_floor.is_some(), against_floor, "{r}");
        assert!(of_floor.is_none_or(|f| f > 0.0), "{r}");
        assert!(r["steal_percent"].as_f64().unwrap() >= 0.0, "{r}");
    }
    for bound in json["login_bound"].as_array().unwrap() {
        assert!(bound["bound_per_second"].as_f64().unwrap() > 0.0);
        assert!(bound["ratio"].as_f64().unwrap() > 0.0);
        assert_eq!(bound["rounds"], 2);
        // The server's CPU per login holds at least one verification's.
        let verification = bound["cpu_ms_per_verification"].as_f64().unwrap();
        let login = bound["server_cpu_ms_per_login"].as_f64().unwrap();
        assert!(verification > 0.0 && login > 0.0, "{bound}");
        let beyond = bound["cpu_ms_beyond_hash"].as_f64().unwrap();
        assert!((login - verification - beyond).abs() < 1e-6, "{bound}");
    }
    for m in json["memory"].as_array().unwrap() {
        assert!(m["idle_rss_mib"].as_f64().unwrap() > 1.0, "{m}");
        assert!(m["peak_rss_mib"].as_f64().unwrap() >= 1.0, "{m}");
    }
    assert_eq!(json["memory"].as_array().unwrap().len(), setups.len());
    assert!(json["steal_percent"].as_f64().unwrap() >= 0.0);
    assert_eq!(json["curves"].as_array().unwrap().len(), 2 * setups.len());
    assert_eq!(json["traces"][0]["store_size"], 2000);
    let svg = std::fs::read_to_string(out.join("latency.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
    let table = std::fs::read_to_string(out.join("table.md")).unwrap();
    assert!(table.contains("| measure | conns | per second | of floor |"));
    assert!(table.contains("beyond the hash"), "{table}");
    assert!(table.contains("Steal time over the whole run"), "{table}");
}

#[test]
fn a_short_run_on_the_embedded_stores_writes_every_measure() {
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(BENCH)
        .args(SHORT)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("Argon2id-only bound"), "{stdout}");
    assert!(stdout.contains("### embedded"), "{stdout}");
    check_results(out.path(), &["embedded"]);
}

#[test]
fn a_short_run_on_postgresql_and_redis_removes_its_database_and_keys() {
    let out = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("postgres-redis.sh");
    let run = Command::new(script)
        .env("BENCH_BIN", BENCH)
        .args(SHORT)
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    check_results(out.path(), &["embedded", "PostgreSQL + Redis"]);
    assert!(
        stdout.contains("removed the benchmark's database passerelle_bench_"),
        "{stdout}"
    );
}

#[test]
fn bad_settings_are_refused_in_one_line() {
    for (args, expected) in [
        (&["--connections", "0"][..], "--connections must be between"),
        (&["--seconds", "0"][..], "--seconds must be between"),
        (&["--feed-rounds", "0"][..], "--feed-rounds must be between"),
        (
            &["--login-rounds", "0"][..],
            "--login-rounds must be between",
        ),
        (
            &["--accounts", "2", "--enumeration-samples", "5"][..],
            "--enumeration-samples must be at most",
        ),
        (
            &[
                "--postgres",
                "postgres://127.0.0.1:1/x",
                "--redis",
                "redis://127.0.0.1:1/",
            ][..],
            "cannot reach PostgreSQL at postgres://127.0.0.1:1/x",
        ),
    ] {
        let out = tempfile::tempdir().unwrap();
        let run = Command::new(BENCH)
            .args(args)
            .arg("--out")
            .arg(out.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(1), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // A PostgreSQL URL without Redis is a usage error (clap's own, status 2).
    let run = Command::new(BENCH)
        .args(["--postgres", "postgres://127.0.0.1:1/x"])
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("--redis"));
}
