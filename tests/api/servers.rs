//! Real PostgreSQL and Redis servers for the tests: each started from the Debian packages that
//! `tests/run.sh` installs, in its own temporary folder, on a free loopback port, and stopped
//! when the guard is dropped. Nothing is shared between tests, so a test may stop and restart
//! its servers (the fault tests do).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

fn free_port() -> u16 {
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

fn is_root() -> bool {
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

pub struct Postgres {
    pub port: u16,
    dir: TempDir,
    data: PathBuf,
    child: Option<Child>,
}

impl Postgres {
    pub fn start() -> Self {
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
        let mut pg = Self {
            port: free_port(),
            dir,
            data,
            child: None,
        };
        pg.resume();
        pg
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

    /// `pg_dump` of database `db`, as a backup would take it.
    pub fn dump(&self, db: &str) -> String {
        let out = Command::new(pg_bin("pg_dump"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", "postgres", "-d", db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn run_psql(&self, db: &str, sql: &str) -> std::process::Output {
        Command::new(pg_bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
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
