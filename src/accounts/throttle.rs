//! Access restriction after failed logins (CNIL deliberation 2022-100, case 2), counted per
//! identifier and per client IP: a CAPTCHA after a few failures, a growing delay, a daily cap,
//! and a temporary lock that an emailed link lifts or that expires by itself. Counters are
//! keyed by the identifier as typed, whether or not an account exists, so the behaviour never
//! tells whether it does.

use crate::config::ThrottlingConfig;
use crate::store::{Attempts, FAILURE_WINDOW_SECONDS};

/// What the counters allow now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    Open { captcha: bool },
    Closed { until: i64, locked: bool },
}

impl Gate {
    /// The stricter of two gates (identifier and IP).
    pub fn and(self, other: Gate) -> Gate {
        match (self, other) {
            (
                Gate::Closed {
                    until: a,
                    locked: la,
                },
                Gate::Closed {
                    until: b,
                    locked: lb,
                },
            ) => Gate::Closed {
                until: a.max(b),
                locked: la || lb,
            },
            (closed @ Gate::Closed { .. }, _) | (_, closed @ Gate::Closed { .. }) => closed,
            (Gate::Open { captcha: a }, Gate::Open { captcha: b }) => {
                Gate::Open { captcha: a || b }
            }
        }
    }
}

pub fn identifier_key(identifier: &str) -> String {
    format!("login:{}", identifier.trim().to_lowercase())
}

/// The counters of one browser's device cookie (its nonce) for the identifier it was issued
/// for: they replace the identifier's counters for that browser.
pub fn device_key(nonce: &str) -> String {
    format!("device:{nonce}")
}

pub fn ip_key(ip: std::net::IpAddr) -> String {
    format!("ip:{ip}")
}

/// The gate for one key's counters at `now`.
pub fn gate(a: &Attempts, now: i64, rules: &ThrottlingConfig) -> Gate {
    let recent: Vec<i64> = a
        .recent
        .iter()
        .copied()
        .filter(|t| t + FAILURE_WINDOW_SECONDS > now)
        .collect();
    if recent.len() as u32 >= rules.max_failures_per_day {
        return Gate::Closed {
            until: recent[0] + FAILURE_WINDOW_SECONDS,
            locked: false,
        };
    }
    if a.consecutive >= rules.lock_after {
        let until = a.last_failure_at + rules.lock_seconds as i64;
        if until > now {
            return Gate::Closed {
                until,
                locked: true,
            };
        }
    } else if a.consecutive >= rules.delay_after {
        let doublings = (a.consecutive - rules.delay_after).min(16);
        let delay = (rules.first_delay_seconds << doublings).min(rules.lock_seconds);
        let until = a.last_failure_at + delay as i64;
        if until > now {
            return Gate::Closed {
                until,
                locked: false,
            };
        }
    }
    Gate::Open {
        captcha: a.consecutive >= rules.captcha_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn after(failures: u32, at: i64) -> Attempts {
        Attempts {
            consecutive: failures,
            last_failure_at: at,
            recent: (0..failures)
                .map(|i| at - i64::from(failures - 1 - i))
                .collect(),
        }
    }

    #[test]
    fn captcha_then_growing_delay_then_lock_then_daily_cap() {
        let r = ThrottlingConfig::default();
        assert_eq!(
            gate(&after(2, 1000), 1000, &r),
            Gate::Open { captcha: false }
        );
        assert_eq!(
            gate(&after(3, 1000), 1000, &r),
            Gate::Open { captcha: true }
        );
        assert_eq!(
            gate(&after(5, 1000), 1000, &r),
            Gate::Closed {
                until: 1060,
                locked: false
            }
        );
        assert_eq!(
            gate(&after(5, 1000), 1060, &r),
            Gate::Open { captcha: true }
        );
        assert_eq!(
            gate(&after(6, 1000), 1000, &r),
            Gate::Closed {
                until: 1120,
                locked: false
            }
        );
        assert_eq!(
            gate(&after(10, 1000), 1000, &r),
            Gate::Closed {
                until: 4600,
                locked: true
            }
        );
        assert_eq!(
            gate(&after(10, 1000), 4600, &r),
            Gate::Open { captcha: true },
            "a lock expires"
        );
        let mut day = after(3, 10_000);
        day.recent = (0..25).map(|i| 9_000 + i).collect();
        assert_eq!(
            gate(&day, 10_000, &r),
            Gate::Closed {
                until: 9_000 + 86_400,
                locked: false
            }
        );
    }

    #[test]
    fn the_stricter_gate_wins() {
        let open = Gate::Open { captcha: false };
        let captcha = Gate::Open { captcha: true };
        let closed = Gate::Closed {
            until: 5,
            locked: false,
        };
        assert_eq!(open.and(captcha), captcha);
        assert_eq!(captcha.and(closed), closed);
    }
}
