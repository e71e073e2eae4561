//! Real PostgreSQL and Redis servers for the tests: each started from the Debian packages that
//! `tests/run.sh` installs, in its own temporary folder, on a free loopback port, and stopped
//! when the guard is dropped. Nothing is shared between tests, so a test may stop and restart
//! its servers (the fault tests do).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for<F: FnMut() -> bool>(what: &str, mut ready: F) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ready() {
        assert!(Instant::now() < deadline, "{what} did not start in 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn is_root() -> bool {
    std::env::var("USER").as_deref() == Ok("root")
        || Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

pub struct Redis {
    pub port: u16,
    dir: TempDir,
    child: Option<Child>,
    /// Serving TLS only, with the certificate and key in `dir`.
    tls: bool,
}

impl Redis {
    pub fn start() -> Self {
        let mut redis = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
            tls: false,
        };
        redis.resume();
        redis
    }

    /// A server that speaks TLS only, with a certificate for 127.0.0.1 and localhost; returns
    /// it with the certificate's PEM (the client's trust anchor).
    pub fn start_tls() -> (Self, String) {
        let dir = tempfile::tempdir().unwrap();
        let generated = rcgen::generate_simple_self_signed(vec![
            "127.0.0.1".to_owned(),
            "localhost".to_owned(),
        ])
        .unwrap();
        std::fs::write(dir.path().join("cert.pem"), generated.cert.pem()).unwrap();
        std::fs::write(
            dir.path().join("key.pem"),
            generated.key_pair.serialize_pem(),
        )
        .unwrap();
        let mut redis = Self {
            port: free_port(),
            dir,
            child: None,
            tls: true,
        };
        redis.resume();
        (redis, generated.cert.pem())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server again on the same port (after `stop`).
    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "Redis is already running");
        let mut command = Command::new("redis-server");
        if self.tls {
            let (cert, key) = (
                self.dir.path().join("cert.pem"),
                self.dir.path().join("key.pem"),
            );
            command
                .args(["--port", "0", "--tls-port", &self.port.to_string()])
                .arg("--tls-cert-file")
                .arg(&cert)
                .arg("--tls-key-file")
                .arg(&key)
                .arg("--tls-ca-cert-file")
                .arg(&cert)
                .args(["--tls-auth-clients", "no"]);
        } else {
            command.args(["--port", &self.port.to_string()]);
        }
        let child = command
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) is needed: run tests/run.sh");
        self.child = Some(child);
        let port = self.port;
        if self.tls {
            wait_for("redis-server (TLS)", || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            return;
        }
        wait_for("redis-server", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
                use std::io::{Read, Write};
                let mut reply = [0u8; 7];
                s.write_all(b"PING\r\n").is_ok()
                    && s.read_exact(&mut reply).is_ok()
                    && &reply == b"+PONG\r\n"
            })
        });
    }

    /// Kills the server: every key is gone (no persistence), as after a crash.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The folder of the PostgreSQL server programs (Debian keeps them out of PATH).
fn pg_bin(program: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .map(|bin| bin.join(program))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(program))
}

/// PostgreSQL refuses to run as root: as root, its programs run as the `postgres` user the
/// Debian package creates.
fn pg_command(program: &str) -> Command {
    let path = pg_bin(program);
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(path);
        c
    } else {
        Command::new(path)
    }
}

fn redis_answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|mut s| {
        use std::io::{Read, Write};
        let mut reply = [0u8; 7];
        s.write_all(b"PING\r\n").is_ok()
            && s.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    })
}

/// A Redis primary, its two replicas and three sentinels monitoring it as `caf` (quorum 2, a
/// server silent for one second is down), as a production deployment runs them.
pub struct RedisHa {
    dir: TempDir,
    pub primary: u16,
    pub replicas: Vec<u16>,
    pub sentinels: Vec<u16>,
    children: Vec<(u16, Child)>,
}

impl RedisHa {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let primary = free_port();
        let mut ha = Self {
            dir,
            primary,
            replicas: (0..2).map(|_| free_port()).collect(),
            sentinels: (0..3).map(|_| free_port()).collect(),
            children: Vec::new(),
        };
        ha.spawn_server(primary, None);
        for replica in ha.replicas.clone() {
            ha.spawn_server(replica, Some(primary));
            wait_for("the Redis replica's first synchronisation", || {
                ha.cli(replica, &["INFO", "replication"])
                    .contains("master_link_status:up")
            });
        }
        for port in ha.sentinels.clone() {
            let conf = ha.dir.path().join(format!("sentinel-{port}.conf"));
            std::fs::write(
                &conf,
                format!(
                    "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                     sentinel monitor caf 127.0.0.1 {primary} 2\n\
                     sentinel down-after-milliseconds caf 1000\n\
                     sentinel failover-timeout caf 4000\n\
                     sentinel parallel-syncs caf 1\n",
                    dir = ha.dir.path().display()
                ),
            )
            .unwrap();
            let child = Command::new("redis-server")
                .arg(&conf)
                .arg("--sentinel")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server (Debian package redis-server) is needed: run tests/run.sh");
            ha.children.push((port, child));
        }
        for port in ha.sentinels.clone() {
            wait_for("redis-sentinel", || redis_answers(port));
        }
        // Each sentinel has found the replica and the two others before the test goes on.
        wait_for(
            "the sentinels' view of the replica and of each other",
            || {
                ha.sentinels.iter().all(|&port| {
                    let master = ha.cli(port, &["SENTINEL", "MASTER", "caf"]);
                    let mut lines = master.lines();
                    let mut fields = std::collections::HashMap::new();
                    while let (Some(k), Some(v)) = (lines.next(), lines.next()) {
                        fields.insert(k.to_owned(), v.to_owned());
                    }
                    fields.get("num-slaves").map(String::as_str) == Some("2")
                        && fields.get("num-other-sentinels").map(String::as_str) == Some("2")
                })
            },
        );
        ha
    }

    fn spawn_server(&mut self, port: u16, replica_of: Option<u16>) {
        let mut command = Command::new("redis-server");
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--dbfilename", &format!("dump-{port}.rdb")]);
        if let Some(primary) = replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian package redis-server) is needed: run tests/run.sh");
        self.children.push((port, child));
        wait_for("redis-server", || redis_answers(port));
    }

    /// `redis-sentinel://` naming the three sentinels.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        format!("redis-sentinel://{}/caf", hosts.join(","))
    }

    /// redis-cli against the server or sentinel on `port`; its output.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli (Debian package redis-tools) is needed: run tests/run.sh");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// SIGKILL of the server on `port`, as a crash.
    pub fn kill(&mut self, port: u16) {
        if let Some(i) = self.children.iter().position(|(p, _)| *p == port) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisHa {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub struct Postgres {
    pub port: u16,
    dir: TempDir,
    data: PathBuf,
    child: Option<Child>,
    /// Serving TLS only (`ssl = on`, every plain connection rejected).
    tls: bool,
}

/// A certificate authority of the tests, the PostgreSQL server's certificate it signed (for
/// `localhost`), and a client certificate for the role `app`: PEM files in `dir`.
pub struct Pki {
    pub dir: TempDir,
}

impl Pki {
    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
    pub fn client_cert(&self) -> PathBuf {
        self.dir.path().join("app.pem")
    }
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("app.key")
    }

    /// A new authority, with a server certificate for `localhost` and a client one for `app`.
    pub fn generate() -> Self {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Passerelle tests CA");
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca_cert.pem());
        for (name, sans, cn) in [
            ("server", vec!["localhost".to_owned()], "localhost"),
            ("app", Vec::new(), "app"),
        ] {
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        }
        Self { dir }
    }
}

impl Postgres {
    /// A server that accepts TLS connections only, with a certificate `pki` signed for
    /// `localhost`; the role `app` must log in with its client certificate (`cert`), the
    /// superuser with TLS and nothing else.
    pub fn start_tls(pki: &Pki) -> Self {
        let mut pg = Self::init();
        for name in ["ca.pem", "server.pem", "server.key"] {
            std::fs::copy(pki.dir.path().join(name), pg.data.join(name)).unwrap();
        }
        std::fs::write(
            pg.data.join("pg_hba.conf"),
            "local all all trust\n\
             hostnossl all all 127.0.0.1/32 reject\n\
             hostssl all app 127.0.0.1/32 cert\n\
             hostssl all all 127.0.0.1/32 trust\n",
        )
        .unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&pg.data)
                .status()
                .unwrap();
            assert!(status.success());
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            pg.data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        pg.tls = true;
        pg.resume();
        pg
    }

    pub fn start() -> Self {
        let mut pg = Self::init();
        pg.resume();
        pg
    }

    fn init() -> Self {
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.path().join("data");
        let out = pg_command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"])
            .args(["--locale=C.UTF-8"])
            .output()
            .expect("initdb (Debian package postgresql) is needed: run tests/run.sh");
        assert!(
            out.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Self {
            port: free_port(),
            dir,
            data,
            child: None,
            tls: false,
        }
    }

    /// The superuser's URL for database `db`.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{db}", self.port)
    }

    pub fn resume(&mut self) {
        assert!(self.child.is_none(), "PostgreSQL is already running");
        let child = pg_command("postgres")
            .arg("-D")
            .arg(&self.data)
            .args([
                "-p",
                &self.port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
            ])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off", "-c", "max_connections=200"])
            .args(if self.tls {
                &[
                    "-c",
                    "ssl=on",
                    "-c",
                    "ssl_cert_file=server.pem",
                    "-c",
                    "ssl_key_file=server.key",
                    "-c",
                    "ssl_ca_file=ca.pem",
                ][..]
            } else {
                &[]
            })
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let dir = self.dir.path().to_owned();
        let port = self.port;
        wait_for("postgres", || pg_ready(&dir, port));
    }

    /// Stops the server (fast shutdown: connections are cut, committed data stays).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = pg_command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["stop", "-m", "fast", "-w"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }

    /// Creates an empty database and returns the superuser's URL for it.
    pub fn database(&self, name: &str) -> String {
        self.psql("postgres", &format!("CREATE DATABASE \"{name}\""));
        self.url(name)
    }

    /// Runs SQL as the superuser; panics with psql's message if it fails.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.run_psql(db, sql);
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs SQL as the superuser that must fail; returns psql's message.
    pub fn psql_err(&self, db: &str, sql: &str) -> String {
        let out = self.run_psql(db, sql);
        assert!(!out.status.success(), "psql {sql} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `pg_dump -Fc` of database `db` into `file`, then `pg_restore` of it into the new
    /// database `into`: the backup and restore deploy/README.md describes.
    pub fn dump_and_restore(&self, db: &str, file: &Path, into: &str) {
        let run = |program: &str, args: &[&str]| {
            let out = self.client(program).args(args).arg(file).output().unwrap();
            assert!(
                out.status.success(),
                "{program}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run("pg_dump", &["-Fc", "-d", db, "-f"]);
        self.database(into);
        run("pg_restore", &["-d", into]);
    }

    /// `pg_dump` of database `db`, as a backup would take it.
    pub fn dump(&self, db: &str) -> String {
        let out = self.client("pg_dump").args(["-d", db]).output().unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// One of PostgreSQL's client programs, connecting to this server as the superuser.
    fn client(&self, program: &str) -> Command {
        let mut command = Command::new(pg_bin(program));
        command.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-U",
            "postgres",
        ]);
        command
    }

    fn run_psql(&self, db: &str, sql: &str) -> std::process::Output {
        self.client("psql")
            .args(["-d", db, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .output()
            .unwrap()
    }
}

fn pg_ready(dir: &Path, port: u16) -> bool {
    Command::new(pg_bin("pg_isready"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q"])
        .env("PGCONNECT_TIMEOUT", "1")
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = pg_command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["stop", "-m", "immediate", "-w"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = child.wait();
        }
    }
}
