//! Three replicas of the real binary behind nginx, losing two of them under load.

use crate::helpers::*;
use crate::servers::{Postgres, free_port, is_root};
use serde_json::Value;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_passerelle");

/// nginx from Debian in front of `upstreams`, as deploy/compose/nginx.conf: a replica that
/// refuses connections is skipped, a request it was serving when it died is not retried.
struct Nginx {
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(port: u16, upstreams: &[u16]) -> Self {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let d = dir.path().display();
        let servers: String = upstreams
            .iter()
            .map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;\n"))
            .collect();
        let user = if is_root() { "user root;\n" } else { "" };
        let conf = format!(
            "{user}worker_processes 1;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
               upstream passerelle {{\n{servers}  }}\n\
               server {{\n    listen 127.0.0.1:{port};\n    location / {{\n\
                   proxy_pass http://passerelle;\n      proxy_set_header Host $http_host;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_connect_timeout 2s;\n      proxy_next_upstream error timeout http_503;\n\
             }}\n  }}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .arg("-p")
            .arg(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nginx (Debian package nginx) is needed: run tests/run.sh");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One replica: the real binary, configured through the environment only.
struct Replica {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Replica {
    fn env(command: &mut Command, pg: &str, dir: &std::path::Path) {
        command
            .current_dir(dir)
            .env("PASSERELLE__SERVER__DATA_DIR", dir)
            .env("PASSERELLE__STORE__URL", pg)
            .env("PASSERELLE__SECRETS__KEK", TEST_KEK)
            .env("RUST_LOG", "warn");
    }

    async fn start(pg: &str, redis: &str, issuer: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut command = Command::new(BIN);
        Self::env(&mut command, pg, dir.path());
        let child = command
            .arg("serve")
            .env("PASSERELLE__SERVER__LISTEN", format!("127.0.0.1:{port}"))
            .env("PASSERELLE__SERVER__MANAGEMENT_LISTEN", "127.0.0.1:0")
            .env("PASSERELLE__SERVER__ISSUER", issuer)
            .env("PASSERELLE__SESSIONS__URL", redis)
            .env("PASSERELLE__TOKENS__KEY_RELOAD_SECONDS", "1")
            .env("PASSERELLE__PASSWORD_HASHING__MEMORY_KIB", "256")
            .env("PASSERELLE__PASSWORD_HASHING__ITERATIONS", "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
            .spawn()
            .unwrap();
        let replica = Self { child, port, dir };
        eventually("a replica's readiness", || async {
            reqwest::get(replica.url("/readyz"))
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await;
        replica
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn signal(&mut self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let _ = self.child.wait();
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A whole login through the load balancer, without panicking: the token response, or the
/// status that stopped it.
async fn try_login(app: &TestApp, browser: &reqwest::Client) -> Result<Value, u16> {
    let step = |r: reqwest::Response, expected: u16| {
        if r.status().as_u16() == expected {
            Ok(r)
        } else {
            Err(r.status().as_u16())
        }
    };
    let sent = |r: Result<reqwest::Response, reqwest::Error>| r.map_err(|_| 0u16);
    let to_login = step(sent(browser.get(app.authorize_url(&[])).send().await)?, 303)?;
    let page = step(
        sent(browser.get(app.url(&location(&to_login))).send().await)?,
        200,
    )?;
    let html = page.text().await.map_err(|_| 0u16)?;
    let mut form = vec![
        ("csrf".to_owned(), hidden(&html, "csrf").ok_or(200u16)?),
        ("email".to_owned(), CLAIRE.to_owned()),
        ("password".to_owned(), PASSWORD.to_owned()),
    ];
    if let Some(request) = hidden(&html, "request") {
        form.push(("request".to_owned(), request));
    }
    let done = step(
        sent(browser.post(app.url("/login")).form(&form).send().await)?,
        303,
    )?;
    let code = redirect_params(&done, DEMO_REDIRECT)
        .get("code")
        .cloned()
        .ok_or(303u16)?;
    let exchanged = step(app.exchange(&code).await, 200)?;
    exchanged.json().await.map_err(|_| 0u16)
}

#[derive(Default)]
struct Tally {
    logins: std::sync::atomic::AtomicU32,
    batches: std::sync::atomic::AtomicU32,
    refreshes: std::sync::atomic::AtomicU32,
    /// Requests that failed, with their status (0: the connection itself failed).
    failures: std::sync::Mutex<Vec<(&'static str, u16)>>,
}

impl Tally {
    fn failed(&self, what: &'static str, status: u16) {
        self.failures.lock().unwrap().push((what, status));
    }
    fn count(&self) -> usize {
        self.failures.lock().unwrap().len()
    }
    fn done(&self) -> u32 {
        use std::sync::atomic::Ordering::Relaxed;
        self.logins.load(Relaxed) + self.batches.load(Relaxed) + self.refreshes.load(Relaxed)
    }
}

/// Three replicas behind nginx under logins, refreshes and trace batches: one is killed
/// (SIGKILL), the signing keys are rotated, another is stopped (SIGTERM). No acknowledged
/// trace is lost, the chains verify, sessions opened before live on, every replica left signs
/// with the new key, and only requests in flight on the replicas that went away failed.
#[tokio::test]
async fn three_replicas_behind_nginx_lose_one_to_sigkill_and_one_to_sigterm_under_load() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
    let redis = crate::servers::Redis::start();
    let pg = Postgres::start();
    let pg_url = pg.database("three");
    let lb_port = free_port();
    let issuer = format!("http://127.0.0.1:{lb_port}");
    // The test's own Passerelle provisions the demo data; it is not behind nginx.
    let (url, redis_url, iss) = (pg_url.clone(), redis.url(), issuer.clone());
    let mut app = TestApp::spawn_with(move |c| {
        c.store.url = url;
        c.secrets.kek = TEST_KEK.into();
        c.sessions.url = redis_url;
        c.server.issuer = iss;
    })
    .await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(Replica::start(&pg_url, &redis.url(), &issuer).await);
    }
    let ports: Vec<u16> = replicas.iter().map(|r| r.port).collect();
    let _nginx = Nginx::start(lb_port, &ports);
    app.address = issuer.clone();
    let app = Arc::new(app);

    // Sessions opened before anything goes away.
    let mut before = Vec::new();
    for _ in 0..3 {
        let b = browser();
        try_login(&app, &b).await.expect("a login through nginx");
        before.push(b);
    }
    let sub = app.account(CLAIRE).await.id.as_str().to_owned();
    let rp = crate::traces::rp_token(&app).await;

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut load = Vec::new();
    const WORKERS: usize = 4;
    for worker in 0..WORKERS {
        let (app, stop, tally, acknowledged) = (
            app.clone(),
            stop.clone(),
            tally.clone(),
            acknowledged.clone(),
        );
        let (sub, rp) = (sub.clone(), rp.clone());
        load.push(tokio::spawn(async move {
            let mut batch = 0u32;
            let mut family: Option<String> = None;
            while !stop.load(Relaxed) {
                match worker {
                    // Logins, each from a new browser.
                    0 => match try_login(&app, &browser()).await {
                        Ok(_) => {
                            tally.logins.fetch_add(1, Relaxed);
                        }
                        Err(status) => tally.failed("login", status),
                    },
                    // Trace batches, each submitted again until acknowledged.
                    1 | 2 => {
                        let ids: Vec<String> =
                            (0..20).map(|i| format!("w{worker}-b{batch}-e{i}")).collect();
                        let events: Vec<Value> = ids
                            .iter()
                            .map(|id| serde_json::json!({ "id": id, "sub": sub, "action": "dossier.consultation" }))
                            .collect();
                        let sent = app
                            .api
                            .post(app.url("/api/v1/traces"))
                            .bearer_auth(&rp)
                            .json(&serde_json::json!({ "events": events }))
                            .send()
                            .await;
                        match sent.map(|r| r.status().as_u16()) {
                            Ok(200) => {
                                acknowledged.lock().unwrap().extend(ids);
                                tally.batches.fetch_add(1, Relaxed);
                                batch += 1;
                            }
                            Ok(status) => tally.failed("trace batch", status),
                            Err(_) => tally.failed("trace batch", 0),
                        }
                    }
                    // Refreshes of one family; a new login when a lost answer cost it.
                    _ => {
                        let Some(token) = family.clone() else {
                            match try_login(&app, &browser()).await {
                                Ok(t) => family = t["refresh_token"].as_str().map(String::from),
                                Err(status) => tally.failed("login", status),
                            }
                            continue;
                        };
                        let r = app
                            .token(&[
                                ("grant_type", "refresh_token"),
                                ("refresh_token", token.as_str()),
                            ])
                            .await;
                        match r.status().as_u16() {
                            200 => {
                                let t: Value = r.json().await.unwrap();
                                family = t["refresh_token"].as_str().map(String::from);
                                tally.refreshes.fetch_add(1, Relaxed);
                            }
                            400 => family = None,
                            status => tally.failed("refresh", status),
                        }
                    }
                }
            }
        }));
    }
    let progress = |more: u32| {
        let tally = tally.clone();
        let goal = tally.done() + more;
        async move {
            eventually("the load to go on", || async { tally.done() >= goal }).await;
        }
    };

    progress(30).await;
    let before_kill = tally.count();
    replicas[0].signal("-KILL");
    progress(30).await;
    let after_kill = tally.count();

    // Key rotation while the load runs; every replica left signs with the new key.
    let mut rotate = Command::new(BIN);
    Replica::env(&mut rotate, &pg_url, replicas[1].dir.path());
    rotate.args(["keys", "rotate"]);
    let out = output_of(rotate).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let new_kids: Vec<String> = printed
        .lines()
        .find_map(|l| l.strip_prefix("new signing keys: "))
        .unwrap()
        .split(", ")
        .map(String::from)
        .collect();
    for replica in &replicas[1..] {
        eventually("a replica publishing the new keys", || async {
            let jwks: Value = reqwest::get(replica.url("/jwks.json"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            new_kids
                .iter()
                .all(|kid| jwks.to_string().contains(kid.as_str()))
        })
        .await;
    }
    progress(20).await;

    let before_term = tally.count();
    replicas[1].signal("-TERM");
    progress(30).await;
    stop.store(true, Relaxed);
    for task in load {
        task.await.unwrap();
    }
    let failures = tally.failures.lock().unwrap().clone();
    eprintln!(
        "three replicas: {} logins, {} trace batches, {} refreshes; failed requests: {} before the kills, {} around SIGKILL, {} around SIGTERM: {failures:?}",
        tally.logins.load(Relaxed),
        tally.batches.load(Relaxed),
        tally.refreshes.load(Relaxed),
        before_kill,
        after_kill - before_kill,
        failures.len() - before_term,
    );
    assert_eq!(before_kill, 0, "nothing fails while every replica runs");
    assert!(
        failures.len() <= 2 * WORKERS,
        "at most the requests in flight on the two replicas that went away: {failures:?}"
    );
    assert!(
        failures
            .iter()
            .all(|(_, s)| matches!(s, 0 | 502 | 503 | 504)),
        "a request fails only as a gateway or an unavailable store would: {failures:?}"
    );

    // Every acknowledged event is stored, once.
    let acknowledged = acknowledged.lock().unwrap().clone();
    let stored = pg.psql(
        "three",
        "SELECT count(*) FROM passerelle_traces.traces WHERE action = 'dossier.consultation'",
    );
    assert_eq!(stored.trim(), acknowledged.len().to_string());
    // The chains verify, with their seals.
    let mut verify = Command::new(BIN);
    Replica::env(&mut verify, &pg_url, replicas[2].dir.path());
    verify.args(["traces", "verify"]);
    let out = output_of(verify).await;
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        report.lines().count() > 0 && report.lines().all(|l| l.ends_with("intact")),
        "{report}"
    );
    // Sessions opened before the kills live on the last replica.
    for b in &before {
        let silent = b
            .get(app.authorize_url(&[("prompt", "none")]))
            .send()
            .await
            .unwrap();
        assert!(redirect_params(&silent, DEMO_REDIRECT).contains_key("code"));
    }
    // And it signs with the new key.
    let tokens = try_login(&app, &browser()).await.unwrap();
    let header = passerelle::crypto::b64url_decode(
        tokens["id_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap(),
    )
    .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
    .unwrap();
    assert!(
        new_kids.iter().any(|k| header["kid"] == k.as_str()),
        "{header} is signed with a new key {new_kids:?}"
    );
}
