//! The index of valid IDs: exact text to session key.
//!
//! The reference mints 32 uppercase hex digits (REQ-6), so such a text is kept as the 128-bit
//! number it spells, inline in the table: a lookup compares numbers and never follows a
//! pointer to the ID's text (that cache miss was about a tenth of a close). Any other text
//! (only internal mutants mint such IDs, e.g. a client's value) goes to a second table keyed
//! by the text. A text and its number are one-to-one (lowercase digits are not canonical), so
//! the index still matches exact text only (CLOSE-2: a respelled ID names nothing).

use super::FastMap;
use std::sync::Arc;

/// Hex digits of a canonical ID.
const CANONICAL_DIGITS: usize = 32;

/// The number a canonical ID spells: exactly 32 digits `0-9A-F`.
fn canonical(text: &str) -> Option<u128> {
    let bytes = text.as_bytes();
    if bytes.len() != CANONICAL_DIGITS {
        return None;
    }
    let mut value = 0u128;
    for &b in bytes {
        let digit = match b {
            b'0'..=b'9' => b - b'0',
            b'A'..=b'F' => b - b'A' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(digit);
    }
    Some(value)
}

/// Valid IDs to session keys.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    canonical: FastMap<u128, u64>,
    other: FastMap<Arc<str>, u64>,
}

impl Ids {
    /// The session `text` names, if it is a valid ID.
    pub(crate) fn get(&self, text: &str) -> Option<&u64> {
        match canonical(text) {
            Some(n) => self.canonical.get(&n),
            None => self.other.get(text),
        }
    }

    /// Whether `text` is a valid ID.
    pub(crate) fn contains_key(&self, text: &str) -> bool {
        self.get(text).is_some()
    }

    /// `id` names session `key` from now on.
    pub(crate) fn insert(&mut self, id: Arc<str>, key: u64) {
        match canonical(&id) {
            Some(n) => {
                self.canonical.insert(n, key);
            }
            None => {
                self.other.insert(id, key);
            }
        }
    }

    /// `text` names nothing from now on.
    pub(crate) fn remove(&mut self, text: &str) {
        match canonical(text) {
            Some(n) => {
                self.canonical.remove(&n);
            }
            None => {
                self.other.remove(text);
            }
        }
    }

    /// No ID names anything.
    pub(crate) fn clear(&mut self) {
        self.canonical.clear();
        self.other.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_text_only() {
        let mut ids = Ids::default();
        let upper = "0123456789ABCDEF0123456789ABCDEF";
        ids.insert(Arc::from(upper), 7);
        ids.insert(Arc::from("client-value"), 8);
        assert_eq!(ids.get(upper), Some(&7));
        assert_eq!(ids.get(&upper.to_lowercase()), None);
        assert_eq!(ids.get(&upper[1..]), None);
        assert_eq!(ids.get("client-value"), Some(&8));
        ids.remove(upper);
        assert!(!ids.contains_key(upper) && ids.contains_key("client-value"));
    }
}
