//! Logging with `tracing`: text or JSON lines on standard output, filter from configuration or
//! `RUST_LOG`.
//!
//! Log lines carry values that come from outside (request parameters, user agents, error
//! descriptions quoting them). None may forge a line: every control character inside an event
//! (a line feed, a carriage return, an ANSI escape…) is written escaped (`\n`, `\u{1b}`), so
//! that one event is always one line. JSON lines are escaped by serde already; the text format
//! has no colours, which would be escape sequences too.

use crate::config::LogConfig;
use std::io::{self, Write};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls are ignored (tests build many apps).
pub fn init(config: &LogConfig) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(false)
        .with_writer(|| OneLine(io::stdout()));
    let _ = if config.format == "json" {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}

/// A writer that receives one formatted event per write (as tracing-subscriber's fmt layer
/// writes them) and escapes every control character but the event's final line feed.
pub struct OneLine<W>(pub W);

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let body = buf.strip_suffix(b"\n").unwrap_or(buf);
        let ends_line = body.len() < buf.len();
        if !body.iter().any(|b| b.is_ascii_control()) && !has_c1_control(body) {
            self.0.write_all(buf)?;
            return Ok(buf.len());
        }
        let mut out = String::with_capacity(buf.len() + 16);
        for c in String::from_utf8_lossy(body).chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => out.push_str(&c.escape_unicode().to_string()),
                c => out.push(c),
            }
        }
        if ends_line {
            out.push('\n');
        }
        self.0.write_all(out.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// C1 controls (U+0080–U+009F, e.g. NEL) are two bytes in UTF-8, starting with 0xC2.
fn has_c1_control(bytes: &[u8]) -> bool {
    bytes
        .windows(2)
        .any(|w| w[0] == 0xC2 && (0x80..=0x9F).contains(&w[1]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(text: &str) -> String {
        let mut out = OneLine(Vec::new());
        out.write_all(text.as_bytes()).unwrap();
        String::from_utf8(out.0).unwrap()
    }

    #[test]
    fn an_event_stays_one_line_whatever_its_fields_hold() {
        assert_eq!(through("plain event\n"), "plain event\n");
        assert_eq!(
            through("refused: response_type `x\n2026-12-01 INFO password accepted`\n"),
            "refused: response_type `x\\n2026-12-01 INFO password accepted`\n"
        );
        assert_eq!(
            through("a\r\x1b[31mb\u{85}c\n"),
            "a\\r\\u{1b}[31mb\\u{85}c\n"
        );
        assert_eq!(through("no final newline\n\n"), "no final newline\\n\n");
        assert_eq!(through("é and ü stay\n"), "é and ü stay\n");
    }
}
