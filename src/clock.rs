//! The application's clock. Everything that decides whether something has expired (codes,
//! tokens, sessions, links, temporary passwords, counters, `max_age`) reads `AppState::clock`,
//! and the in-memory ephemeral store reads the same one, so that a test can move time forward
//! instead of sleeping. In production it is the system clock. Times shown to people are in
//! Europe/Paris, the zone named (`paris`, `paris_day`, `ZONE`).

use chrono::TimeZone;
use chrono_tz::Europe::Paris;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Seconds since the Unix epoch, from the system clock (what `store::now` reads for the stores'
/// own bookkeeping).
pub fn system_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The system clock, plus an offset that only tests set.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_seconds: Arc<AtomicI64>,
}

impl Clock {
    /// Seconds since the Unix epoch.
    pub fn now(&self) -> i64 {
        system_now() + self.offset_seconds.load(Ordering::Relaxed)
    }

    /// Moves this clock (and everything sharing it) `seconds` into the future.
    pub fn advance(&self, seconds: i64) {
        self.offset_seconds.fetch_add(seconds, Ordering::Relaxed);
    }
}

/// The zone every time shown to people is in, named beside it.
pub const ZONE: &str = "heure de Paris";

/// "01/12/2026 à 13:05", in Europe/Paris (summer time included).
pub fn paris(ts: i64) -> String {
    Paris
        .timestamp_opt(ts, 0)
        .single()
        .map(|t| t.format("%d/%m/%Y à %H:%M").to_string())
        .unwrap_or_default()
}

/// "01/12/2026", the day in Europe/Paris.
pub fn paris_day(ts: i64) -> String {
    Paris
        .timestamp_opt(ts, 0)
        .single()
        .map(|t| t.format("%d/%m/%Y").to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advanced_clock_is_shared_by_its_clones() {
        let clock = Clock::default();
        let shared = clock.clone();
        let before = shared.now();
        clock.advance(3600);
        assert!(shared.now() >= before + 3600);
    }
}
