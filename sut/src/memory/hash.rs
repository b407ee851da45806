//! A fast, non-cryptographic hasher for the reference's internal maps.
//!
//! SipHash (std's default) took about 12% of a close: a close does several lookups by session
//! key and one by ID text. The keys here are the world's own (creation numbers, record
//! references, lanes, slots) or IDs the world minted at random, so flooding is not a concern
//! that SipHash's cost buys anything against; a seed drawn per world keeps the layout from
//! being predictable all the same. The scheme is FxHash's (rustc's hasher): add a word,
//! multiply by an odd constant; `finish` rotates so the table's low index bits see the
//! product's well-mixed high bits.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

/// FxHash's multiplier (rustc-hash 2).
const MULTIPLIER: u64 = 0xf135_7aea_2e62_a9c5;
/// How far `finish` rotates (rustc-hash 2).
const FINISH_ROTATE_BITS: u32 = 26;

/// A word-at-a-time multiplicative hasher.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FastHasher {
    hash: u64,
}

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = self.hash.wrapping_add(word).wrapping_mul(MULTIPLIER);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 56));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.hash.rotate_left(FINISH_ROTATE_BITS)
    }
}

/// Builds [`FastHasher`]s starting from a per-world seed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FastState {
    seed: u64,
}

impl FastState {
    /// A fresh random seed (from the UUID generator's RNG, the one the IDs come from).
    pub(crate) fn new() -> FastState {
        FastState {
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
        }
    }
}

impl Default for FastState {
    fn default() -> Self {
        FastState::new()
    }
}

impl BuildHasher for FastState {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher { hash: self.seed }
    }
}

/// A `HashMap` with [`FastHasher`].
pub(crate) type FastMap<K, V> = HashMap<K, V, FastState>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn equal_keys_hash_equal_and_near_keys_differ() {
        let state = FastState::new();
        assert_eq!(state.hash_one("ABC"), state.hash_one("ABC"));
        assert_ne!(state.hash_one(1u64), state.hash_one(2u64));
        // A tail shorter than a word is not confused with the same bytes zero-padded.
        let (mut short, mut padded) = (state.build_hasher(), state.build_hasher());
        short.write(&[1]);
        padded.write(&[1, 0]);
        assert_ne!(short.finish(), padded.finish());
    }
}
