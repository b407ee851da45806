//! The suite's client cookie jar on the virtual clock (REQ-4's SHOULD, RFC 6265 §5.3): the
//! jar remembers when each session cookie it was given expires, counting `Max-Age` from the
//! response on the trace's clock. The checker compares the jar's expiry of a session's cookie
//! with what WEB LEGACY GET SESSION EXPIRATION says of the session: a server that slides the
//! session but not the cookie makes a browser lose the session early. The checker still sends
//! the cookie the trace names, expired or not: TIME-1 is about a client that sends an expired
//! cookie anyway (a replayed or stolen one), so the jar judges, it does not filter.

use std::collections::BTreeMap;
use wlcs_sut::SetCookie;

/// The client's cookies under the session cookie name: value to expiry (seconds on the
/// virtual clock; `u64::MAX` for a cookie without a lifetime, kept until the browser closes).
#[derive(Clone, Debug, Default)]
pub struct Jar {
    expiry: BTreeMap<String, u64>,
}

/// A cookie's lifetime as its `Set-Cookie` states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lifetime {
    /// `Max-Age=n`, seconds from receipt.
    Seconds(u64),
    /// Expired (`Max-Age` <= 0, or flagged expiring).
    Gone,
    /// No `Max-Age`: a session cookie (an `Expires` date is not on the virtual clock).
    Session,
}

fn lifetime(cookie: &SetCookie) -> Lifetime {
    if cookie.expiring {
        return Lifetime::Gone;
    }
    for attr in cookie.raw.split(';').skip(1) {
        let Some((key, value)) = attr.split_once('=') else {
            continue;
        };
        if key.trim().eq_ignore_ascii_case("max-age") {
            // RFC 6265 §5.2.2: a non-positive Max-Age expires the cookie at once.
            return match value.trim().parse::<i64>() {
                Ok(n) if n > 0 => Lifetime::Seconds(n.unsigned_abs()),
                Ok(_) => Lifetime::Gone,
                Err(_) => Lifetime::Session,
            };
        }
    }
    Lifetime::Session
}

impl Jar {
    /// Stores the response's `Set-Cookie`s under `name`, received at `now`.
    pub fn receive(&mut self, name: &str, cookies: &[SetCookie], now: u64) {
        for c in cookies.iter().filter(|c| c.name == name) {
            match lifetime(c) {
                Lifetime::Seconds(n) => {
                    self.expiry.insert(c.value.clone(), now.saturating_add(n));
                }
                Lifetime::Session => {
                    self.expiry.insert(c.value.clone(), u64::MAX);
                }
                Lifetime::Gone => {
                    self.expiry.remove(&c.value);
                }
            }
        }
    }

    /// Whether a browser would still send this cookie value at `now` (the checker does not
    /// filter by it: see the module's documentation). A value the jar never
    /// stored (a forged or replayed cookie the trace sends on purpose) is sent as the trace
    /// says: only a lifetime the jar knows to have passed withholds it.
    pub fn sends(&self, value: &str, now: u64) -> bool {
        self.expiry.get(value).is_none_or(|at| now < *at)
    }

    /// When the client's cookie with this value expires, if the jar holds it.
    pub fn expiry(&self, value: &str) -> Option<u64> {
        self.expiry.get(value).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cookie(raw: &str) -> SetCookie {
        let (pair, _) = raw.split_once(';').unwrap_or((raw, ""));
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        SetCookie {
            name: name.to_string(),
            value: value.to_string(),
            expiring: false,
            raw: raw.to_string(),
        }
    }

    #[test]
    fn max_age_counts_from_receipt_and_a_passed_lifetime_is_not_sent() {
        let mut jar = Jar::default();
        jar.receive("SID", &[cookie("SID=A; Path=/; Max-Age=100")], 50);
        assert_eq!(jar.expiry("A"), Some(150));
        assert!(jar.sends("A", 149) && !jar.sends("A", 150));
        assert!(jar.sends("never-stored", 10_000));
        jar.receive("SID", &[cookie("SID=A; Max-Age=0")], 60);
        assert_eq!(jar.expiry("A"), None);
        jar.receive("SID", &[cookie("OTHER=B; Max-Age=5")], 0);
        assert_eq!(jar.expiry("B"), None);
        jar.receive("SID", &[cookie("SID=C; Path=/")], 0);
        assert_eq!(jar.expiry("C"), Some(u64::MAX));
    }
}
