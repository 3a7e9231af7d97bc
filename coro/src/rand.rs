//! The one pseudo-random generator of this crate: xorshift64* (Vigna, "An
//! experimental exploration of Marsaglia's xorshift generators, scrambled",
//! ACM TOMS 2016). Its two users need spread, not quality or secrecy: a
//! searching worker picks the first victim to steal from
//! (`scheduler::worker`), and a select shuffles the order in which it
//! polls its operations (`chan::select`), as Go's `fastrand` serves both.

use std::cell::Cell;

/// The multiplier of xorshift64*'s output scrambling (Vigna, table IV).
const SCRAMBLE: u64 = 0x2545_F491_4F6C_DD1D;
/// The 64-bit golden ratio, 2^64 / φ: spreads consecutive seeds (worker
/// indexes 0, 1, 2, ...) over the whole state space (Knuth's Fibonacci
/// hashing), so two workers do not walk the same victim order.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A xorshift64* generator, one per thread (in a cell: no `&mut` needed).
#[derive(Debug)]
pub(crate) struct FastRand(Cell<u64>);

impl FastRand {
    /// A generator seeded from `seed`, which may be any number: it is
    /// spread by [`GOLDEN`] and made odd, because zero is the one state
    /// xorshift never leaves.
    pub(crate) fn new(seed: u64) -> FastRand {
        FastRand(Cell::new(seed.wrapping_add(1).wrapping_mul(GOLDEN) | 1))
    }

    /// A generator for this thread, seeded from the clock and the address
    /// of a local (threads started in the same nanosecond have different
    /// stacks).
    pub(crate) fn from_thread() -> FastRand {
        let local = 0u8;
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        FastRand::new(t ^ (&local as *const u8 as u64).rotate_left(32))
    }

    /// A number below `n` (`n > 0`), by the high half of the scrambled
    /// output, which is the well-mixed part.
    pub(crate) fn below(&self, n: usize) -> usize {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        (x.wrapping_mul(SCRAMBLE) >> 32) as usize % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_below_n_comes_up() {
        let r = FastRand::new(0);
        let mut seen = [false; 7];
        for _ in 0..1000 {
            seen[r.below(7)] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn seeds_zero_and_one_start_apart() {
        assert_ne!(FastRand::new(0).0.get(), FastRand::new(1).0.get());
        assert_ne!(FastRand::new(u64::MAX).0.get(), 0);
    }
}
