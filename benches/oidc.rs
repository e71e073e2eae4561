//! Benchmark: full authorization-code logins per second against the Argon2id bound,
//! client_credentials grants per second, the response-time difference of a failed login for an
//! existing and an unknown identifier, and the latency of a cheap request (JWKS) while logins
//! saturate the Argon2id pool.
//!
//! `cargo bench --bench oidc` starts the release binary (`passerelle demo` on a free loopback
//! port, real Argon2id parameters from config/passerelle.toml defaults) in its own process and
//! drives it from this one, so the numbers include the load generator sharing the machine.
//! Every phase runs for a bounded time. Environment knobs: BENCH_SECONDS (default 10),
//! BENCH_LOGIN_WORKERS (default 8), BENCH_GRANT_CONNECTIONS (default 32), and
//! BENCH_POSTGRES_URL + BENCH_REDIS_URL to run Passerelle on PostgreSQL and Redis instead of
//! the embedded stores (`benches/postgres-redis.sh` starts both and runs the two setups).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CLIENT: &str = "bench-rp";
const SECRET: &str = "bench-rp-secret-0123456789-0123456789-abcdef";
const REDIRECT: &str = "http://127.0.0.1:9000/bench";
const PASSWORD: &str = "Bench-Passerelle-2026!";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const ACCOUNTS: usize = 100;

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn provisioning() -> String {
    let mut text = format!(
        "[[service]]\nclient_id = \"{CLIENT}\"\nname = \"Bench\"\ntype = \"confidential\"\nsecret = \"{SECRET}\"\n\
         redirect_uris = [\"{REDIRECT}\"]\ngrant_types = [\"authorization_code\", \"client_credentials\", \"refresh_token\"]\n\
         client_scopes = [\"traces:write\"]\nroles = [{{ code = \"agent\", label = \"Agent\" }}]\n\
         [[convention]]\nid = \"bench\"\nnumber = \"BENCH\"\nkind = \"cooperation\"\n\
         partner = \"ville-de-niort\"\nservices = [\"{CLIENT}\"]\nstarts_on = \"2024-01-01\"\n"
    );
    for i in 0..ACCOUNTS {
        text.push_str(&format!(
            "[[account]]\nemail = \"bench{i}@bench.example\"\ngiven_name = \"Bench\"\nfamily_name = \"N{i}\"\n\
             partner = \"ville-de-niort\"\npassword = \"{PASSWORD}\"\n\
             habilitations = [{{ service = \"{CLIENT}\", role = \"agent\" }}]\n"
        ));
    }
    text
}

/// CPU seconds (user + system) a process has used, from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Argon2id verifications per second with every core busy: the ceiling for password logins.
fn argon2_bound(seconds: u64) -> (f64, Duration) {
    let params = Params::new(19456, 2, 1, None).unwrap();
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::encode_b64(b"bench-salt-16byt").unwrap();
    let phc = argon
        .hash_password(PASSWORD.as_bytes(), &salt)
        .unwrap()
        .to_string();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..cores)
        .map(|_| {
            let (stop, count, phc, argon) =
                (stop.clone(), count.clone(), phc.clone(), argon.clone());
            std::thread::spawn(move || {
                let hash = PasswordHash::new(&phc).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    argon.verify_password(PASSWORD.as_bytes(), &hash).unwrap();
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().unwrap();
    }
    let elapsed = started.elapsed().as_secs_f64();
    let n = count.load(Ordering::Relaxed) as f64;
    (
        n / elapsed,
        Duration::from_secs_f64(elapsed * cores as f64 / n),
    )
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect("hidden field") + marker.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

/// A person's browser on an already open keep-alive connection: the shared client carries no
/// cookies, each simulated person keeps their own (the browser binding cookie) by hand.
struct Person {
    client: reqwest::Client,
    cookie: String,
}

impl Person {
    fn get(&self, url: String) -> reqwest::RequestBuilder {
        self.client.get(url).header("cookie", &self.cookie)
    }

    fn post(&self, url: String) -> reqwest::RequestBuilder {
        self.client.post(url).header("cookie", &self.cookie)
    }
}

/// Opens the login page as a new person and returns them with the form fields.
async fn login_form(
    issuer: &str,
    client: &reqwest::Client,
) -> Option<(Person, Vec<(&'static str, String)>)> {
    let authorize = format!(
        "{issuer}/authorize?client_id={CLIENT}&redirect_uri={REDIRECT}&response_type=code&scope=openid&state=s&nonce=n&code_challenge={CHALLENGE}&code_challenge_method=S256"
    );
    let r = client.get(&authorize).send().await.ok()?;
    let cookie = r
        .headers()
        .get("set-cookie")?
        .to_str()
        .ok()?
        .split(';')
        .next()?
        .to_owned();
    let login = r.headers().get("location")?.to_str().ok()?.to_owned();
    let person = Person {
        client: client.clone(),
        cookie,
    };
    let html = person
        .get(format!("{issuer}{login}"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let form = vec![
        ("csrf", hidden(&html, "csrf")),
        ("request", hidden(&html, "request")),
    ];
    Some((person, form))
}

/// Time of one failed login POST for `email`.
async fn failed_login(issuer: &str, client: &reqwest::Client, email: &str) -> Option<Duration> {
    let (browser, mut form) = login_form(issuer, client).await?;
    form.push(("email", email.to_owned()));
    form.push(("password", "Not-The-Password-1".to_owned()));
    let t = Instant::now();
    let r = browser
        .post(format!("{issuer}/login"))
        .form(&form)
        .send()
        .await
        .ok()?;
    let elapsed = t.elapsed();
    (r.status() == 401).then_some(elapsed)
}

fn mean_and_error(samples: &[Duration]) -> (f64, f64) {
    let n = samples.len() as f64;
    let xs: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (var / n).sqrt())
}

/// One full login as a new browser: authorize, login page, login POST, code exchange.
async fn one_login(
    issuer: &str,
    client: &reqwest::Client,
    api: &reqwest::Client,
    account: usize,
) -> bool {
    login_tokens(issuer, client, api, account).await.is_some()
}

/// A full login; returns the token response the code was exchanged for.
async fn login_tokens(
    issuer: &str,
    client: &reqwest::Client,
    api: &reqwest::Client,
    account: usize,
) -> Option<serde_json::Value> {
    let (browser, mut form) = login_form(issuer, client).await?;
    form.push(("email", format!("bench{account}@bench.example")));
    form.push(("password", PASSWORD.to_owned()));
    let r = browser
        .post(format!("{issuer}/login"))
        .form(&form)
        .send()
        .await
        .ok()?;
    let target = r.headers().get("location")?.to_str().ok()?;
    let url = url::Url::parse(target).ok()?;
    let code = url
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())?;
    let token = api
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .ok()
        .filter(|r| r.status() == 200)?;
    token.json().await.ok()
}

/// One refresh grant: rotates the worker's refresh token.
async fn one_refresh(
    issuer: &str,
    api: &reqwest::Client,
    token: &std::sync::Mutex<String>,
) -> bool {
    let current = token.lock().unwrap().clone();
    let Ok(r) = api
        .post(format!("{issuer}/token"))
        .basic_auth(CLIENT, Some(SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &current)])
        .send()
        .await
    else {
        return false;
    };
    if r.status() != 200 {
        return false;
    }
    match r.json::<serde_json::Value>().await {
        Ok(body) => match body["refresh_token"].as_str() {
            Some(next) => {
                *token.lock().unwrap() = next.to_owned();
                true
            }
            None => false,
        },
        Err(_) => false,
    }
}

struct Outcome {
    ok: u64,
    failed: u64,
    elapsed: f64,
    latencies: Vec<Duration>,
    cpu: f64,
}

async fn drive<F, Fut>(workers: u64, seconds: u64, pid: u32, op: F) -> Outcome
where
    F: Fn(u64, u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let tasks: Vec<_> = (0..workers)
        .map(|w| {
            let op = op.clone();
            tokio::spawn(async move {
                let (mut ok, mut failed, mut lat, mut i) = (0u64, 0u64, Vec::new(), 0u64);
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if op(w, i).await {
                        ok += 1;
                        lat.push(t.elapsed());
                    } else {
                        failed += 1;
                    }
                    i += 1;
                }
                (ok, failed, lat)
            })
        })
        .collect();
    let mut out = Outcome {
        ok: 0,
        failed: 0,
        elapsed: 0.0,
        latencies: Vec::new(),
        cpu: 0.0,
    };
    for t in tasks {
        let (ok, failed, lat) = t.await.unwrap();
        out.ok += ok;
        out.failed += failed;
        out.latencies.extend(lat);
    }
    out.elapsed = started.elapsed().as_secs_f64();
    out.cpu = cpu_seconds(pid) - cpu_before;
    out.latencies.sort();
    out
}

fn report(name: &str, o: &Outcome) -> f64 {
    let rate = o.ok as f64 / o.elapsed;
    println!(
        "{name:<28} {rate:>10.1}/s  ok {:>8}  failed {:>4}  p50 {:>8.2} ms  p99 {:>8.2} ms  server CPU {:>6.2} s per 1000",
        o.ok,
        o.failed,
        percentile(&o.latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&o.latencies, 0.99).as_secs_f64() * 1e3,
        if o.ok > 0 {
            o.cpu * 1000.0 / o.ok as f64
        } else {
            0.0
        },
    );
    rate
}

fn main() {
    // reqwest carries rustls without a default provider (see Cargo.toml).
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let seconds = env_or("BENCH_SECONDS", 10);
    let login_workers = env_or("BENCH_LOGIN_WORKERS", 8);
    let grant_connections = env_or("BENCH_GRANT_CONNECTIONS", 32);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("Passerelle benchmark: {cores} cores, {seconds} s per phase, loopback only\n");

    let data = tempfile::tempdir().unwrap();
    let file = data.path().join("bench.toml");
    std::fs::File::create(&file)
        .unwrap()
        .write_all(provisioning().as_bytes())
        .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_passerelle"));
    match (
        std::env::var("BENCH_POSTGRES_URL"),
        std::env::var("BENCH_REDIS_URL"),
    ) {
        (Ok(pg), Ok(redis)) => {
            println!(
                "stores: PostgreSQL ({}) + Redis\n",
                pg.split('@').next_back().unwrap_or("")
            );
            command
                .env("PASSERELLE__STORE__URL", pg)
                .env("PASSERELLE__SESSIONS__URL", redis);
        }
        _ => println!("stores: embedded (SQLite + memory)\n"),
    }
    let mut child = command
        .args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .arg("--provision")
        .arg(&file)
        .current_dir(data.path())
        .env("RUST_LOG", "error")
        // The timing phase fails many logins from one address: keep the per-IP gate out of
        // the way (per-identifier counters still apply).
        .env("PASSERELLE__THROTTLING__IP_MULTIPLIER", "100000")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the passerelle binary starts");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let issuer = loop {
        let line = lines.next().expect("banner").unwrap();
        if let Some(rest) = line.trim().strip_prefix("issuer:") {
            break rest.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});

    let (bound, hash_time) = argon2_bound(seconds.min(5));
    println!(
        "Argon2id (m=19456 KiB, t=2, p=1): {:.1} ms per hash, bound with {cores} cores busy: {bound:.1} logins/s\n",
        hash_time.as_secs_f64() * 1e3
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let browsers = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        let api = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .unwrap();
        let issuer = Arc::new(issuer);
        let (i2, b2, a2) = (issuer.clone(), browsers.clone(), api.clone());
        let logins = drive(login_workers, seconds, pid, move |w, i| {
            let (issuer, browsers, api) = (i2.clone(), b2.clone(), a2.clone());
            async move { one_login(&issuer, &browsers, &api, ((w * 1000 + i) as usize) % ACCOUNTS).await }
        })
        .await;
        let login_rate = report("full code-flow logins", &logins);
        println!(
            "{:<28} {:>10.0}% of the Argon2id bound\n",
            "",
            100.0 * login_rate / bound
        );

        let (i2, a2) = (issuer.clone(), api.clone());
        let grants = drive(grant_connections, seconds, pid, move |_, _| {
            let (issuer, api) = (i2.clone(), a2.clone());
            async move {
                let r = api
                    .post(format!("{issuer}/token"))
                    .basic_auth(CLIENT, Some(SECRET))
                    .form(&[("grant_type", "client_credentials")])
                    .send()
                    .await;
                match r {
                    Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
                    _ => false,
                }
            }
        })
        .await;
        let grant_rate = report("client_credentials grants", &grants);
        println!("{:<28} {:>10.0} per core\n", "", grant_rate / cores as f64);

        // Refresh grants: each worker rotates its own refresh token (one login each first).
        let mut chains = Vec::new();
        for w in 0..login_workers {
            let tokens = login_tokens(&issuer, &browsers, &api, w as usize % ACCOUNTS)
                .await
                .expect("a login");
            let token = tokens["refresh_token"]
                .as_str()
                .expect("a refresh token")
                .to_owned();
            chains.push(std::sync::Mutex::new(token));
        }
        let chains = Arc::new(chains);
        let (i2, a2) = (issuer.clone(), api.clone());
        let refreshes = drive(login_workers, seconds, pid, move |w, _| {
            let (issuer, api, chains) = (i2.clone(), a2.clone(), chains.clone());
            async move { one_refresh(&issuer, &api, &chains[w as usize]).await }
        })
        .await;
        let refresh_rate = report("refresh grants", &refreshes);
        println!("{:<28} {:>10.0} per core\n", "", refresh_rate / cores as f64);

        // Enumeration: failed logins for existing and unknown identifiers, interleaved, two per
        // identifier (the third would bring the CAPTCHA).
        let (mut known, mut unknown) = (Vec::new(), Vec::new());
        for i in 0..ACCOUNTS {
            for round in 0..2 {
                if let Some(t) = failed_login(&issuer, &browsers, &format!("bench{i}@bench.example")).await {
                    known.push(t);
                }
                if let Some(t) = failed_login(&issuer, &browsers, &format!("nobody{i}-{round}@bench.example")).await {
                    unknown.push(t);
                }
            }
        }
        let (mk, ek) = mean_and_error(&known);
        let (mu, eu) = mean_and_error(&unknown);
        known.sort();
        unknown.sort();
        println!(
            "failed login, existing      n={:<4} mean {mk:>7.2} ms ± {ek:.2}  p50 {:>7.2}  p95 {:>7.2}",
            known.len(),
            percentile(&known, 0.5).as_secs_f64() * 1e3,
            percentile(&known, 0.95).as_secs_f64() * 1e3
        );
        println!(
            "failed login, unknown       n={:<4} mean {mu:>7.2} ms ± {eu:.2}  p50 {:>7.2}  p95 {:>7.2}",
            unknown.len(),
            percentile(&unknown, 0.5).as_secs_f64() * 1e3,
            percentile(&unknown, 0.95).as_secs_f64() * 1e3
        );
        println!(
            "{:<28} difference of means {:+.2} ms (standard error {:.2} ms)\n",
            "",
            mk - mu,
            (ek * ek + eu * eu).sqrt()
        );

        // A cheap request while logins saturate the Argon2id pool.
        let (i2, a2) = (issuer.clone(), api.clone());
        let jwks_latencies = tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(seconds);
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                if let Ok(r) = a2.get(format!("{i2}/jwks.json")).send().await
                    && r.bytes().await.is_ok()
                {
                    lat.push(t.elapsed());
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            lat.sort();
            lat
        });
        let (i2, b2, a2) = (issuer.clone(), browsers.clone(), api.clone());
        let saturated = drive(login_workers * 2, seconds, pid, move |w, i| {
            let (issuer, browsers, api) = (i2.clone(), b2.clone(), a2.clone());
            async move { one_login(&issuer, &browsers, &api, ((w * 1000 + i) as usize) % ACCOUNTS).await }
        })
        .await;
        let jwks = jwks_latencies.await.unwrap();
        report("logins, pool saturated", &saturated);
        println!(
            "JWKS meanwhile              n={:<5} p50 {:>7.2} ms  p99 {:>7.2} ms",
            jwks.len(),
            percentile(&jwks, 0.5).as_secs_f64() * 1e3,
            percentile(&jwks, 0.99).as_secs_f64() * 1e3
        );
    });
    let _ = child.kill();
    let _ = child.wait();
}
