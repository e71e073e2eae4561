//! Redis behind Sentinel: where the primary is, and following it through a failover.
//!
//! `sessions.url = "redis-sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT…]/MASTER[/DB]"`
//! names the sentinels (not the Redis servers) and the name they monitor; `rediss-sentinel://`
//! speaks TLS to the sentinels and to the servers. USER and PASSWORD are the Redis servers';
//! `sessions.sentinel_password` is the sentinels' own, when they require one.
//!
//! The redis crate's `SentinelClient` asks the sentinels in turn for the primary and checks
//! with `ROLE` that the server it names is one. The store does so at start-up and then every
//! second: when the sentinels name another primary (after a failover, or a switchover by an
//! operator), every later operation goes to it. Operations sent to the old primary meanwhile
//! fail (503 on protocol endpoints, an error page on pages) and are not retried: a client
//! retries, as for any 503.

use super::RedisStore;
use ::redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use ::redis::{ConnectionAddr, IntoConnectionInfo, TlsMode};
use std::sync::Weak;
use std::time::Duration;

/// How often the sentinels are asked where the primary is.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);

pub fn is_sentinel_url(url: &str) -> bool {
    url.starts_with("redis-sentinel://") || url.starts_with("rediss-sentinel://")
}

/// A `redis-sentinel://` URL, taken apart.
#[derive(Debug, PartialEq, Eq)]
pub struct Target {
    pub sentinels: Vec<(String, u16)>,
    pub master: String,
    pub tls: bool,
    pub username: Option<String>,
    pub password: Option<String>,
    pub db: i64,
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, String> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("rediss-sentinel://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("redis-sentinel://") {
            (false, rest)
        } else {
            return Err("not a redis-sentinel:// URL".into());
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hosts) = match authority.rsplit_once('@') {
            Some((userinfo, hosts)) => (Some(userinfo), hosts),
            None => (None, authority),
        };
        let mut sentinels = Vec::new();
        for host in hosts.split(',') {
            let (name, port) = host
                .rsplit_once(':')
                .ok_or_else(|| format!("sentinel `{host}` has no port (HOST:PORT)"))?;
            let port = port
                .parse::<u16>()
                .map_err(|_| format!("sentinel `{host}`: `{port}` is not a port"))?;
            if name.is_empty() {
                return Err(format!("sentinel `{host}` has no host"));
            }
            sentinels.push((name.trim_matches(['[', ']']).to_owned(), port));
        }
        let mut parts = path.split('/');
        let master = parts.next().unwrap_or_default().to_owned();
        if master.is_empty() {
            return Err("the URL's path must name the monitored primary: …/MASTER[/DB]".into());
        }
        let db = match parts.next() {
            None | Some("") => 0,
            Some(db) => db
                .parse::<i64>()
                .map_err(|_| format!("`{db}` is not a database number"))?,
        };
        if parts.next().is_some() {
            return Err("the URL's path is /MASTER or /MASTER/DB".into());
        }
        // The user part is read as redis:// reads it (percent-decoded).
        let (username, password) = match userinfo {
            Some(userinfo) => {
                let info = format!("redis://{userinfo}@localhost/")
                    .into_connection_info()
                    .map_err(|_| "the URL's user or password cannot be read".to_owned())?;
                (info.redis.username, info.redis.password)
            }
            None => (None, None),
        };
        Ok(Self {
            sentinels,
            master,
            tls,
            username,
            password,
            db,
        })
    }

    /// The redis crate's client for this target.
    pub fn client(&self, sentinel_password: &str) -> anyhow::Result<SentinelClient> {
        let addrs = self.sentinels.iter().map(|(host, port)| {
            if self.tls {
                ConnectionAddr::TcpTls {
                    host: host.clone(),
                    port: *port,
                    insecure: false,
                    tls_params: None,
                }
            } else {
                ConnectionAddr::Tcp(host.clone(), *port)
            }
        });
        let mut builder =
            SentinelClientBuilder::new(addrs, self.master.clone(), SentinelServerType::Master)?
                .set_client_to_redis_db(self.db);
        if let Some(username) = &self.username {
            builder = builder.set_client_to_redis_username(username.clone());
        }
        if let Some(password) = &self.password {
            builder = builder.set_client_to_redis_password(password.clone());
        }
        if !sentinel_password.is_empty() {
            builder = builder.set_client_to_sentinel_password(sentinel_password.to_owned());
        }
        if self.tls {
            builder = builder
                .set_client_to_redis_tls_mode(TlsMode::Secure)
                .set_client_to_sentinel_tls_mode(TlsMode::Secure);
        }
        Ok(builder.build()?)
    }
}

/// Asks the sentinels every second where the primary is and moves the store to it when it
/// changed; ends with the store.
pub(super) async fn follow_primary(
    store: Weak<RedisStore>,
    mut sentinels: SentinelClient,
    mut current: ConnectionAddr,
) {
    let mut every = tokio::time::interval(FOLLOW_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if store.strong_count() == 0 {
            return;
        }
        // While the sentinels still name a primary that is down, this fails: keep the current
        // connection until they have promoted another.
        let primary =
            match tokio::time::timeout(FOLLOW_EVERY * 3, sentinels.async_get_client()).await {
                Ok(Ok(client)) => client,
                Ok(Err(e)) => {
                    tracing::debug!(error = %e, "no Redis primary confirmed by the sentinels yet");
                    continue;
                }
                Err(_) => continue,
            };
        let addr = primary.get_connection_info().addr.clone();
        if addr == current {
            continue;
        }
        let Some(store) = store.upgrade() else {
            return;
        };
        match store.switch_to(primary).await {
            Ok(()) => {
                tracing::warn!(from = %current, to = %addr, "the sentinels promoted another Redis primary; sessions now go to it");
                current = addr;
            }
            Err(e) => {
                tracing::warn!(primary = %addr, error = %e, "cannot reach the new Redis primary yet")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Target;

    #[test]
    fn sentinel_urls_are_taken_apart() {
        let t = Target::parse("redis-sentinel://:s%40cret@10.0.0.1:26379,sentinel-b:26380/caf/2")
            .unwrap();
        let expected: Vec<(String, u16)> = vec![
            ("10.0.0.1".to_owned(), 26379),
            ("sentinel-b".to_owned(), 26380),
        ];
        assert_eq!(t.sentinels, expected);
        assert_eq!(t.master, "caf");
        assert_eq!(t.db, 2);
        assert_eq!(t.password.as_deref(), Some("s@cret"));
        assert!(!t.tls);
        let t = Target::parse("rediss-sentinel://h:1/m").unwrap();
        assert!(t.tls);
        assert_eq!((t.db, t.password), (0, None));
        for bad in [
            "redis-sentinel://h:1/",
            "redis-sentinel://h/m",
            "redis-sentinel://h:x/m",
            "redis-sentinel://h:1/m/x",
            "redis://h:1/m",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad}");
        }
    }
}
