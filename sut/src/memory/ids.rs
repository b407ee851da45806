//! The index of valid IDs: exact text to session key.
//!
//! The reference mints 32 uppercase hex digits (REQ-6), so a 32-byte text is kept inline in
//! the table, as its bytes: a lookup compares them in place and never follows a pointer to
//! the ID's text (that cache miss was about a tenth of a close). Any other text (only
//! internal mutants mint such IDs, e.g. a client's value) goes to a second table keyed by the
//! text. Both compare exact bytes, so a respelled ID names nothing (CLOSE-2).

use super::FastMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

/// The length of the texts kept inline: a reference ID's.
const INLINE_ID_BYTES: usize = 32;

/// The inline form of a text, when it has the length of a reference ID.
fn inline(text: &str) -> Option<[u8; INLINE_ID_BYTES]> {
    text.as_bytes().try_into().ok()
}

/// Valid IDs to session keys.
#[derive(Debug, Default)]
pub(crate) struct Ids {
    inline: FastMap<[u8; INLINE_ID_BYTES], u64>,
    other: FastMap<Arc<str>, u64>,
}

impl Ids {
    /// The session `text` names, if it is a valid ID.
    pub(crate) fn get(&self, text: &str) -> Option<&u64> {
        match inline(text) {
            Some(bytes) => self.inline.get(&bytes),
            None => self.other.get(text),
        }
    }

    /// Whether `text` is a valid ID.
    pub(crate) fn contains_key(&self, text: &str) -> bool {
        self.get(text).is_some()
    }

    /// `id` names session `key` from now on.
    pub(crate) fn insert(&mut self, id: Arc<str>, key: u64) {
        match inline(&id) {
            Some(bytes) => {
                self.inline.insert(bytes, key);
            }
            None => {
                self.other.insert(id, key);
            }
        }
    }

    /// `text` names nothing from now on, if it named session `key`.
    pub(crate) fn remove_if_names(&mut self, text: &str, key: u64) {
        match inline(text) {
            Some(bytes) => {
                if let Entry::Occupied(e) = self.inline.entry(bytes)
                    && *e.get() == key
                {
                    e.remove();
                }
            }
            None => {
                if self.other.get(text) == Some(&key) {
                    self.other.remove(text);
                }
            }
        }
    }

    /// No ID names anything.
    pub(crate) fn clear(&mut self) {
        self.inline.clear();
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
        ids.remove_if_names(upper, 6);
        assert!(ids.contains_key(upper));
        ids.remove_if_names(upper, 7);
        ids.remove_if_names("client-value", 8);
        assert!(!ids.contains_key(upper) && !ids.contains_key("client-value"));
    }
}
