//! The SIEM feed against a real syslog collector: rsyslog (Debian's, installed by
//! tests/run.sh), started here on a free loopback port with its own configuration, writing
//! each message's JSON to a file.

use crate::helpers::*;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const RSYSLOGD: &str = "/usr/sbin/rsyslogd";

struct Collector {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Collector {
    fn new(dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let conf = format!(
            "global(workDirectory=\"{d}\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imtcp\" port=\"{port}\" address=\"127.0.0.1\")\n\
             template(name=\"json\" type=\"string\" string=\"%msg%\\n\")\n\
             action(type=\"omfile\" file=\"{d}/received.log\" template=\"json\")\n",
            d = dir.display()
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        Self {
            dir: dir.to_path_buf(),
            port,
            child: None,
        }
    }

    async fn start(&mut self) {
        assert!(
            Path::new(RSYSLOGD).exists(),
            "rsyslog is missing: run ./tests/run.sh, which installs it"
        );
        let child = Command::new(RSYSLOGD)
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslog.pid"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("rsyslogd starts");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("rsyslogd does not listen");
    }

    /// Stops it as an operator would (SIGTERM), and waits for it to exit.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    /// The traces received so far, in order of arrival.
    fn received(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("received.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l.trim()).expect("one JSON trace per message"))
            .collect()
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Every stored trace of every stream, in chain order: (stream, id).
async fn stored(app: &TestApp) -> Vec<(String, String)> {
    app.state.tracer.flush().await.unwrap();
    let store = app.state.tracer.store();
    let mut all = Vec::new();
    for stream in store.streams().await.unwrap() {
        for r in store.stream_records(&stream, 0, 100_000).await.unwrap() {
            all.push((r.trace.stream, r.trace.id));
        }
    }
    all
}

fn key(t: &serde_json::Value) -> (String, String) {
    (
        t["stream"].as_str().unwrap().to_owned(),
        t["id"].as_str().unwrap().to_owned(),
    )
}

/// Waits until the collector holds every one of `expected` (bounded).
async fn wait_for(collector: &Collector, expected: &[(String, String)]) {
    for _ in 0..600 {
        let got: HashSet<_> = collector.received().iter().map(key).collect();
        if expected.iter().all(|k| got.contains(k)) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let got: HashSet<_> = collector.received().iter().map(key).collect();
    let missing: Vec<_> = expected.iter().filter(|k| !got.contains(*k)).collect();
    panic!("the collector lacks {} traces: {missing:?}", missing.len());
}

async fn burst(app: &TestApp, token: &str, round: &str) {
    for i in 0..4 {
        app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await;
        app.assert_logs_in(CLAIRE, PASSWORD).await;
        let sub = app.account(CLAIRE).await.id.to_string();
        let events = serde_json::json!([{ "id": format!("{round}-{i}"), "sub": sub,
            "action": "dossier.consultation", "target": format!("dossier:{round}-{i}") }]);
        let (status, body) = crate::traces::submit(app, token, events).await;
        assert_eq!(status, 200, "{body}");
    }
}

#[tokio::test]
async fn traces_reach_the_collector_once_and_in_order_across_its_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut collector = Collector::new(dir.path());
    collector.start().await;
    let url = format!("tcp://127.0.0.1:{}", collector.port);
    let app = TestApp::spawn_with(move |c| c.traces.siem_url = url).await;
    let token = crate::traces::rp_token(&app).await;
    // What was stored before the feed started (the demo's provisioning) is not expected.
    let before: HashSet<_> = stored(&app).await.into_iter().collect();

    burst(&app, &token, "up").await;
    let first = stored(&app).await;
    let expected: Vec<_> = first
        .iter()
        .filter(|k| !before.contains(*k))
        .cloned()
        .collect();
    wait_for(&collector, &expected).await;

    // The collector stops; logins and submissions go on, and the feed queues.
    collector.stop();
    burst(&app, &token, "down").await;
    for _ in 0..200 {
        if app.state.metrics.siem_queued.get() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(
        app.state.metrics.siem_queued.get() > 0,
        "traces wait while the collector is down"
    );
    collector.start().await;
    burst(&app, &token, "again").await;
    let all = stored(&app).await;
    let expected: Vec<_> = all
        .iter()
        .filter(|k| !before.contains(*k))
        .cloned()
        .collect();
    wait_for(&collector, &expected).await;

    // Once each, and in the order of its stream's chain.
    let received: Vec<_> = collector.received().iter().map(key).collect();
    let mut seen = HashSet::new();
    for k in &received {
        assert!(seen.insert(k.clone()), "received twice: {k:?}");
    }
    let position: HashMap<_, _> = all
        .iter()
        .enumerate()
        .map(|(i, k)| (k.clone(), i))
        .collect();
    let mut last: HashMap<String, usize> = HashMap::new();
    for k in &received {
        let at = position[k];
        if let Some(previous) = last.insert(k.0.clone(), at) {
            assert!(previous < at, "{k:?} arrived out of its stream's order");
        }
    }
    assert!(
        received.iter().any(|(s, _)| s == "demo-app")
            && received.iter().any(|(s, _)| s == "passerelle"),
        "both streams are forwarded"
    );
    assert_eq!(app.state.metrics.siem_dropped.get(), 0);
    for _ in 0..200 {
        if app.state.metrics.siem_queued.get() == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        app.state.metrics.siem_queued.get(),
        0,
        "nothing left behind"
    );
}

#[tokio::test]
async fn a_full_backlog_drops_the_oldest_from_the_feed_never_from_the_store() {
    // No collector listens on this port: everything waits, up to a backlog of 3.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = TestApp::spawn_with(move |c| {
        c.traces.siem_url = format!("tcp://127.0.0.1:{port}");
        c.traces.siem_backlog = 3;
    })
    .await;
    let before = stored(&app).await.len();
    for _ in 0..3 {
        app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await;
        app.assert_logs_in(SOPHIE, PASSWORD).await;
    }
    for _ in 0..200 {
        if app.state.metrics.siem_dropped.get() > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(app.state.metrics.siem_dropped.get() > 0);
    assert!(app.state.metrics.siem_queued.get() <= 3);
    assert!(
        stored(&app).await.len() >= before + 6,
        "the store keeps every trace"
    );
}

#[tokio::test]
async fn the_feed_speaks_tls_to_a_collector_it_verifies() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::AsyncReadExt;
    install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    // A self-signed collector certificate for 127.0.0.1, given to Passerelle as its CA.
    let generated = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let ca = dir.path().join("collector-ca.pem");
    std::fs::write(&ca, generated.cert.pem()).unwrap();
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(generated.cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(generated.key_pair.serialize_der())),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(tcp).await.unwrap();
        let mut buffer = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = tls.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            buffer.extend_from_slice(&chunk[..n]);
            // Octet-counted frames: "LENGTH SP MESSAGE".
            while let Some(space) = buffer.iter().position(|b| *b == b' ') {
                let length: usize = std::str::from_utf8(&buffer[..space])
                    .unwrap()
                    .parse()
                    .unwrap();
                if buffer.len() < space + 1 + length {
                    break;
                }
                let message =
                    String::from_utf8(buffer[space + 1..space + 1 + length].to_vec()).unwrap();
                buffer.drain(..space + 1 + length);
                let _ = tx.send(message);
            }
        }
    });
    let (url, ca_file) = (format!("tls://127.0.0.1:{port}"), ca.display().to_string());
    let app = TestApp::spawn_with(move |c| {
        c.traces.siem_url = url;
        c.traces.siem_ca_file = ca_file;
    })
    .await;
    app.login_fresh(SOPHIE, "Pas-Le-Bon-1!").await;
    let message = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        loop {
            let m = rx.recv().await.expect("the collector reads");
            if m.contains(" auth.login ") {
                return m;
            }
        }
    })
    .await
    .expect("a login failure reaches the collector over TLS");
    assert!(
        message.starts_with("<108>1 "),
        "a warning of facility 13: {message}"
    );
    let json: serde_json::Value =
        serde_json::from_str(message.split_once(" - ").unwrap().1).unwrap();
    assert_eq!(json["reason"], "wrong_password");
}
