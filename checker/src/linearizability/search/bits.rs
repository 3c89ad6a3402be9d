//! A growable bitset with the few operations the memo needs, and the
//! Zobrist keys of the incremental hash of the linearized set.

/// A growable bitset with the few operations the memo needs.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Bits(pub(super) Box<[u64]>);

impl Bits {
    pub(super) fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)].into_boxed_slice())
    }
    pub(super) fn set(&mut self, i: usize) {
        self.0[i / 64] |= 1 << (i % 64);
    }
    pub(super) fn clear(&mut self, i: usize) {
        self.0[i / 64] &= !(1 << (i % 64));
    }
    pub(super) fn get(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    pub(super) fn is_subset_of(&self, other: &Bits) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }
    pub(super) fn bytes(&self) -> usize {
        self.0.len() * 8
    }
}

/// splitmix64: Zobrist keys for the incremental hash of the linearized set.
pub(super) fn zobrist(i: usize) -> u64 {
    let mut z = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
