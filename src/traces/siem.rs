//! The SIEM feed: every trace this process writes, once it is on disk, forwarded to a syslog
//! collector as RFC 5424 messages (facility 13 "log audit", severity info for a success and
//! warning for a failure, MSGID the action, the trace itself as one JSON object for MSG), in
//! octet-counted frames (RFC 6587 §3.4.1, RFC 5425) over TCP or TLS (`traces.siem_url`).
//!
//! The feed never touches the trace store and never holds the writer: it takes the written
//! batches from `Tracer::subscribe` into its own queue, bounded by `traces.siem_backlog` (the
//! oldest leave the feed when it is full, counted), and one task sends them in order. While the
//! collector is unreachable it retries with a growing delay (at most 10 s); a collector that
//! closed its side is noticed before the next write, so that nothing is written into a dead
//! connection. Plain syslog has no acknowledgement: a message written in the instant a
//! collector dies can be lost (the store keeps it; `passerelle traces export` replays a gap).
//! Metrics: `passerelle_siem_queued`, `_sent`, `_dropped`, `_lag_seconds`.

use crate::state::AppState;
use crate::store::{NewTrace, Outcome};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Where the feed goes, from `traces.siem_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

/// Reads `tcp://host:port` or `tls://host:port`.
pub fn parse_target(value: &str) -> Result<Target, String> {
    let url = url::Url::parse(value)
        .map_err(|_| format!("`{value}` is not tcp://host:port or tls://host:port"))?;
    let tls = match url.scheme() {
        "tcp" => false,
        "tls" => true,
        other => {
            return Err(format!(
                "the SIEM feed speaks tcp:// or tls://, not {other}://"
            ));
        }
    };
    let host = url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("`{value}` names no host"))?
        .trim_matches(|c| c == '[' || c == ']')
        .to_owned();
    let port = url
        .port()
        .ok_or_else(|| format!("`{value}` names no port"))?;
    Ok(Target { host, port, tls })
}

/// One trace as an RFC 5424 message in its octet-counted frame.
pub fn frame(trace: &NewTrace, hostname: &str, pid: u32) -> Vec<u8> {
    // Facility 13 (log audit) × 8 + severity 6 (informational) or 4 (warning).
    let pri = 13 * 8
        + match trace.outcome {
            Outcome::Success => 6,
            Outcome::Failure => 4,
        };
    let timestamp = chrono::DateTime::from_timestamp_micros(trace.at_us)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_else(|| "-".into());
    // MSGID: printable US-ASCII, at most 32 characters.
    let msgid: String = trace
        .action
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(32)
        .collect();
    let json = serde_json::to_string(trace).unwrap_or_default();
    let message = format!(
        "<{pri}>1 {timestamp} {hostname} passerelle {pid} {} - {json}",
        if msgid.is_empty() { "-" } else { &msgid }
    );
    format!("{} {message}", message.len()).into_bytes()
}

/// The local host name for the HOSTNAME field (`-` when unknown), printable ASCII only.
fn hostname() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = name
        .trim()
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(255)
        .collect();
    if name.is_empty() { "-".into() } else { name }
}

trait Link: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP socket under the link, to notice a collector that closed its side.
    fn tcp(&self) -> &TcpStream;
}

impl Link for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Link for tokio_rustls::client::TlsStream<TcpStream> {
    fn tcp(&self) -> &TcpStream {
        self.get_ref().0
    }
}

/// Whether the collector closed its side (it never sends anything else over plain TCP).
fn closed_by_peer(link: &dyn Link) -> bool {
    let mut byte = [0u8; 1];
    match link.tcp().try_read(&mut byte) {
        Ok(0) => true,
        // Plain syslog collectors say nothing; TLS may send records, which stay for rustls.
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

async fn connect(
    target: &Target,
    tls: Option<&tokio_rustls::TlsConnector>,
) -> anyhow::Result<Box<dyn Link>> {
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        TcpStream::connect((target.host.as_str(), target.port)),
    )
    .await??;
    tcp.set_nodelay(true)?;
    Ok(match tls {
        None => Box::new(tcp),
        Some(connector) => {
            let name = rustls::pki_types::ServerName::try_from(target.host.clone())?;
            Box::new(connector.connect(name, tcp).await?)
        }
    })
}

fn tls_connector(ca_file: &str) -> anyhow::Result<tokio_rustls::TlsConnector> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| anyhow::anyhow!("cannot read traces.siem_ca_file {ca_file}: {e}"))?
    {
        roots.add(cert?)?;
    }
    let config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

struct Queue {
    traces: Mutex<VecDeque<NewTrace>>,
    ready: Notify,
}

/// Starts the feed when `traces.siem_url` is set.
pub fn spawn(state: &AppState) -> anyhow::Result<()> {
    let settings = &state.settings;
    if settings.siem_url.is_empty() {
        return Ok(());
    }
    let target = parse_target(&settings.siem_url).map_err(|e| anyhow::anyhow!(e))?;
    let tls = target
        .tls
        .then(|| tls_connector(&settings.siem_ca_file))
        .transpose()?;
    let backlog = settings.siem_backlog.max(1);
    let queue = Arc::new(Queue {
        traces: Mutex::new(VecDeque::new()),
        ready: Notify::new(),
    });
    let mut written = state.tracer.subscribe();
    let (fill, filled) = (state.clone(), queue.clone());
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            let batch = match written.recv().await {
                Ok(batch) => batch,
                Err(RecvError::Lagged(missed)) => {
                    tracing::error!(missed, "the SIEM feed fell behind the trace writer");
                    continue;
                }
                Err(RecvError::Closed) => break,
            };
            let dropped = {
                let mut traces = filled.traces.lock().expect("the feed's queue");
                traces.extend(batch.iter().cloned());
                let over = traces.len().saturating_sub(backlog);
                traces.drain(..over);
                fill.metrics.siem_queued.set(traces.len() as i64);
                over
            };
            if dropped > 0 {
                fill.metrics.siem_dropped.inc_by(dropped as u64);
                tracing::warn!(
                    dropped,
                    "SIEM backlog full: the oldest traces left the feed (they stay in the store)"
                );
            }
            filled.ready.notify_one();
        }
    });
    let state = state.clone();
    tokio::spawn(async move {
        let (host, pid) = (hostname(), std::process::id());
        let mut link: Option<Box<dyn Link>> = None;
        let mut delay = Duration::from_millis(100);
        loop {
            let next: Vec<NewTrace> = {
                let traces = queue.traces.lock().expect("the feed's queue");
                let lag = traces
                    .front()
                    .map(|t| (crate::traces::now_us() - t.at_us).max(0) / 1_000_000)
                    .unwrap_or(0);
                state.metrics.siem_lag_seconds.set(lag);
                traces.iter().take(500).cloned().collect()
            };
            if next.is_empty() {
                queue.ready.notified().await;
                continue;
            }
            if link.as_deref().is_some_and(closed_by_peer) {
                tracing::warn!("the syslog collector closed the connection; reconnecting");
                link = None;
            }
            let current = match &mut link {
                Some(l) => l,
                None => match connect(&target, tls.as_ref()).await {
                    Ok(l) => {
                        tracing::info!(host = %target.host, port = target.port, "SIEM feed connected");
                        delay = Duration::from_millis(100);
                        link.insert(l)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "the syslog collector cannot be reached");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(10));
                        continue;
                    }
                },
            };
            let mut bytes = Vec::new();
            for t in &next {
                bytes.extend(frame(t, &host, pid));
            }
            let sent = async {
                current.write_all(&bytes).await?;
                current.flush().await
            };
            match tokio::time::timeout(Duration::from_secs(30), sent).await {
                Ok(Ok(())) => {
                    let mut traces = queue.traces.lock().expect("the feed's queue");
                    // The queue grows at its back and, when full, loses its oldest: the ones
                    // sent are those of its front that were in this batch.
                    let sent: std::collections::HashSet<(&str, &str)> = next
                        .iter()
                        .map(|t| (t.stream.as_str(), t.id.as_str()))
                        .collect();
                    while traces
                        .front()
                        .is_some_and(|t| sent.contains(&(t.stream.as_str(), t.id.as_str())))
                    {
                        traces.pop_front();
                    }
                    state.metrics.siem_queued.set(traces.len() as i64);
                    state.metrics.siem_sent.inc_by(next.len() as u64);
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "the syslog collector refused the traces; reconnecting");
                    link = None;
                }
                Err(_) => {
                    tracing::warn!("the syslog collector stopped reading; reconnecting");
                    link = None;
                }
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_tcp_or_tls_with_host_and_port() {
        assert_eq!(
            parse_target("tcp://siem.example:6514"),
            Ok(Target {
                host: "siem.example".into(),
                port: 6514,
                tls: false
            })
        );
        assert!(parse_target("tls://[::1]:6514").unwrap().tls);
        assert!(parse_target("udp://siem.example:514").is_err());
        assert!(parse_target("tcp://siem.example").is_err());
    }

    #[test]
    fn a_trace_is_one_octet_counted_rfc_5424_message() {
        let trace = NewTrace {
            id: "e1".into(),
            stream: "passerelle".into(),
            at_us: 1_764_547_200_000_001,
            actor_account: None,
            actor_partner: None,
            actor_caf: None,
            partner: None,
            session: None,
            client_id: None,
            action: "auth.login".into(),
            target: None,
            outcome: Outcome::Failure,
            reason: Some("wrong_password".into()),
            ip: None,
            user_agent: Some("a\nforged line".into()),
            request_id: None,
            received_at_us: None,
        };
        let framed = String::from_utf8(frame(&trace, "host", 7)).unwrap();
        let (len, message) = framed.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), message.len());
        assert!(
            message
                .starts_with("<108>1 2025-12-01T00:00:00.000001Z host passerelle 7 auth.login - {"),
            "{message}"
        );
        assert!(!message.contains('\n'), "JSON escapes control characters");
        let json: serde_json::Value =
            serde_json::from_str(message.split_once(" - ").unwrap().1).unwrap();
        assert_eq!(json["reason"], "wrong_password");
    }
}
