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

/// "13:05" in Europe/Paris, when the day goes without saying.
pub fn paris_time(ts: i64) -> String {
    Paris
        .timestamp_opt(ts, 0)
        .single()
        .map(|t| t.format("%H:%M").to_string())
        .unwrap_or_default()
}

/// "13:05" when `ts` falls on the same day as `now` in Europe/Paris, else "01/12 à 13:05": a
/// time of the last hours, short enough for a table cell.
pub fn paris_recent(ts: i64, now: i64) -> String {
    let day = |t: i64| Paris.timestamp_opt(t, 0).single().map(|t| t.date_naive());
    if day(ts) == day(now) {
        paris_time(ts)
    } else {
        Paris
            .timestamp_opt(ts, 0)
            .single()
            .map(|t| t.format("%d/%m à %H:%M").to_string())
            .unwrap_or_default()
    }
}

/// The first instant of `day` in Europe/Paris: what a date a person enters means.
pub fn paris_start_of(day: chrono::NaiveDate) -> i64 {
    let midnight = day.and_hms_opt(0, 0, 0).expect("midnight exists");
    Paris
        .from_local_datetime(&midnight)
        .earliest()
        .map(|t| t.timestamp())
        .unwrap_or_else(|| midnight.and_utc().timestamp())
}

/// The first instant after `day` in Europe/Paris: an inclusive last day ("jusqu'au 30/06")
/// as the exclusive bound that expiry checks compare with.
pub fn paris_end_of(day: chrono::NaiveDate) -> i64 {
    paris_start_of(day.succ_opt().unwrap_or(day))
}

/// "01/12/2026 13:05:07" in Europe/Paris, from microseconds: a trace's time, as a
/// spreadsheet reads it.
pub fn paris_seconds(at_us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(at_us)
        .map(|t| {
            t.with_timezone(&Paris)
                .format("%d/%m/%Y %H:%M:%S")
                .to_string()
        })
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
    fn an_inclusive_last_day_ends_at_midnight_in_paris() {
        let day = chrono::NaiveDate::from_ymd_opt(2027, 6, 30).unwrap();
        let end = paris_end_of(day);
        assert_eq!(paris_day(end - 1), "30/06/2027");
        assert_eq!(paris_day(end), "01/07/2027");
        // Summer time (UTC+2) and winter time (UTC+1).
        assert_eq!(end, 1_814_392_800);
        let winter = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        assert_eq!(paris_start_of(winter), 1_798_758_000);
    }

    #[test]
    fn an_advanced_clock_is_shared_by_its_clones() {
        let clock = Clock::default();
        let shared = clock.clone();
        let before = shared.now();
        clock.advance(3600);
        assert!(shared.now() >= before + 3600);
    }
}
