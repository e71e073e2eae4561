//! Passerelle under test: the same program as the `passerelle` binary, started by this one in a
//! process of its own (`passerelle-bench passerelle …` runs Passerelle's command line), on a
//! free loopback port, in a temporary data folder, on the embedded stores or on PostgreSQL and
//! Redis. Given servers are never touched outside what the benchmark creates: a database of
//! its own, dropped at the end, and Redis keys under a prefix of its own, deleted at the end.

use crate::load::Process;
use anyhow::{Context, bail};
use passerelle::config::Config;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The first argument that makes this program run Passerelle's command line instead.
pub const PASSERELLE: &str = "passerelle";

/// Where Passerelle keeps its data for one run.
pub enum Stores {
    Embedded,
    /// A database created for the run in the given PostgreSQL server, and a key prefix of the
    /// run's own in the given Redis.
    Production {
        server_url: url::Url,
        database: String,
        redis_url: String,
        prefix: String,
    },
}

/// The production setup's key-encryption key, in the run's data folder.
const KEK_FILE: &str = "bench-kek";

pub struct Setup {
    pub name: &'static str,
    pub stores: Stores,
    pub data: tempfile::TempDir,
}

fn run_id() -> String {
    format!(
        "{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros() % 1_000_000_000
    )
}

impl Setup {
    pub fn embedded() -> anyhow::Result<Self> {
        Ok(Self {
            name: "embedded",
            stores: Stores::Embedded,
            data: tempfile::tempdir().context("a temporary data folder")?,
        })
    }

    /// Creates the run's database in the PostgreSQL server of `postgres` (a role allowed to
    /// create databases) and checks that Redis answers.
    pub async fn production(postgres: &str, redis: &str) -> anyhow::Result<Self> {
        let server_url = url::Url::parse(postgres)
            .with_context(|| format!("--postgres is not a URL: {}", redacted(postgres)))?;
        let database = format!("passerelle_bench_{}", run_id());
        let mut admin = pg_connect(&server_url).await?;
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .with_context(|| {
                format!(
                    "cannot create a database for the benchmark in {} (the role needs CREATEDB)",
                    redacted(postgres)
                )
            })?;
        let client = redis::Client::open(redis)
            .with_context(|| format!("--redis is not a Redis URL: {}", redacted(redis)))?;
        let mut con = client
            .get_multiplexed_async_connection()
            .await
            .with_context(|| format!("cannot reach Redis at {}", redacted(redis)))?;
        let _: String = redis::cmd("PING").query_async(&mut con).await?;
        let data = tempfile::tempdir().context("a temporary data folder")?;
        // PostgreSQL needs a key-encryption key given: the run's own, in its data folder.
        std::fs::write(
            data.path().join(KEK_FILE),
            passerelle::store::sealed::kek::new_kek(),
        )?;
        Ok(Self {
            name: "PostgreSQL + Redis",
            stores: Stores::Production {
                server_url,
                database,
                redis_url: redis.to_owned(),
                prefix: format!("passerelle-bench-{}:", run_id()),
            },
            data,
        })
    }

    /// The configuration Passerelle runs with, as environment variables (its own way of being
    /// configured), and the same as a `Config` for what this process opens itself.
    pub fn environment(&self) -> Vec<(&'static str, String)> {
        let mut env = vec![
            // The enumeration timing phase fails many logins from one address: the per-IP
            // gate is kept out of the way (per-identifier counters still apply).
            ("PASSERELLE__THROTTLING__IP_MULTIPLIER", "100000".to_owned()),
        ];
        if let Stores::Production {
            database,
            redis_url,
            prefix,
            ..
        } = &self.stores
        {
            env.push(("PASSERELLE__STORE__URL", self.database_url(database)));
            env.push(("PASSERELLE__SESSIONS__URL", redis_url.clone()));
            env.push(("PASSERELLE__SESSIONS__KEY_PREFIX", prefix.clone()));
            env.push((
                "PASSERELLE__SECRETS__KEK_FILE",
                self.data.path().join(KEK_FILE).display().to_string(),
            ));
        }
        env
    }

    fn database_url(&self, database: &str) -> String {
        match &self.stores {
            Stores::Production { server_url, .. } => {
                let mut url = server_url.clone();
                url.set_path(&format!("/{database}"));
                url.to_string()
            }
            Stores::Embedded => String::new(),
        }
    }

    pub fn config(&self) -> Config {
        let mut config = Config::default();
        config.server.data_dir = self.data.path().to_path_buf();
        if let Stores::Production {
            database,
            redis_url,
            prefix,
            ..
        } = &self.stores
        {
            config.store.url = self.database_url(database);
            config.sessions.url = redis_url.clone();
            config.sessions.key_prefix = prefix.clone();
            config.secrets.kek_file = self.data.path().join(KEK_FILE);
        }
        config
    }

    /// Runs one of Passerelle's commands on this setup's data and answers what it printed.
    pub fn command(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .passerelle()
            .args(args)
            .stderr(Stdio::piped())
            .output()
            .context("cannot run Passerelle's command line")?;
        if !out.status.success() {
            bail!(
                "`passerelle {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn passerelle(&self) -> Command {
        let exe = std::env::current_exe().expect("the benchmark's own path");
        let mut command = Command::new(exe);
        command
            .arg(PASSERELLE)
            .arg("--data-dir")
            .arg(self.data.path())
            .current_dir(self.data.path())
            .env("RUST_LOG", "error")
            .envs(self.environment());
        command
    }

    /// Starts `passerelle demo` with the benchmark's provisioning file on a free port.
    pub fn start(&self, provisioning: &str) -> anyhow::Result<Server> {
        self.start_with(provisioning, &[])
    }

    /// The same, with more configuration (`PASSERELLE__…` variables).
    pub fn start_with(
        &self,
        provisioning: &str,
        extra: &[(&str, String)],
    ) -> anyhow::Result<Server> {
        let file = self.data.path().join("bench.toml");
        std::fs::write(&file, provisioning).context("writing the provisioning file")?;
        let mut child = self
            .passerelle()
            .envs(extra.iter().map(|(k, v)| (*k, v.as_str())))
            .args(["demo", "--listen", "127.0.0.1:0", "--provision"])
            .arg(&file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start Passerelle")?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        let issuer = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(rest) = line.trim().strip_prefix("issuer:") {
                        break rest.trim().to_owned();
                    }
                }
                _ => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    bail!("Passerelle did not start ({status}); its message is above");
                }
            }
        };
        // The banner's remaining lines are read so that Passerelle never blocks on its output.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(Server { child, issuer })
    }

    /// Removes what the run created in the given servers.
    pub async fn clean_up(&self) -> anyhow::Result<()> {
        if let Stores::Production {
            server_url,
            database,
            redis_url,
            prefix,
        } = &self.stores
        {
            let mut admin = pg_connect(server_url).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .with_context(|| format!("dropping the benchmark's database {database}"))?;
            let left: i64 =
                sqlx::query_scalar("SELECT count(*) FROM pg_database WHERE datname = $1")
                    .bind(database)
                    .fetch_one(&mut admin)
                    .await?;
            anyhow::ensure!(left == 0, "the database {database} is still there");
            let client = redis::Client::open(redis_url.as_str())?;
            let mut con = client.get_multiplexed_async_connection().await?;
            let mut removed = 0;
            let mut cursor = 0u64;
            loop {
                let (next, keys): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("MATCH")
                    .arg(format!("{prefix}*"))
                    .arg("COUNT")
                    .arg(1000)
                    .query_async(&mut con)
                    .await?;
                if !keys.is_empty() {
                    let n: u64 = redis::cmd("UNLINK")
                        .arg(&keys)
                        .query_async(&mut con)
                        .await?;
                    removed += n;
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            println!(
                "removed the benchmark's database {database} and its {removed} Redis keys ({prefix}*)"
            );
        }
        Ok(())
    }
}

async fn pg_connect(url: &url::Url) -> anyhow::Result<sqlx::PgConnection> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url.as_str())
        .await
        .with_context(|| format!("cannot reach PostgreSQL at {}", redacted(url.as_str())))
}

/// A URL with its password replaced by ***.
pub fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A running Passerelle.
pub struct Server {
    child: Child,
    pub issuer: String,
}

impl Server {
    pub fn process(&self) -> Process {
        Process {
            pid: self.child.id(),
        }
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}
