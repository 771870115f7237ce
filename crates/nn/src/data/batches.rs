//! Shuffled mini-batches of example indices.

use rand::Rng;
use rand::seq::SliceRandom;

/// Mini-batches of the indices `0..n`, reshuffled at every epoch.
///
/// Each call to [`epoch`](Self::epoch) shuffles with the caller's RNG and yields the indices in
/// slices of `batch_size`; the last batch holds the remainder when `batch_size` does not divide
/// `n`. The RNG is borrowed only for the shuffle, so the same seeded RNG can drive everything
/// else in a training run.
///
/// ```
/// use tapegrad_nn::data::Batches;
/// use rand::{SeedableRng, rngs::StdRng};
/// let mut rng = StdRng::seed_from_u64(0);
/// let mut batches = Batches::new(10, 4);
/// let sizes: Vec<usize> = batches.epoch(&mut rng).map(<[usize]>::len).collect();
/// assert_eq!(sizes, [4, 4, 2]);
/// assert_eq!(batches.num_batches(), 3);
/// ```
#[derive(Clone, Debug)]
pub struct Batches {
    order: Vec<usize>,
    batch_size: usize,
}

impl Batches {
    /// Batches of `batch_size` indices over `n` examples.
    ///
    /// # Panics
    /// If `batch_size` is 0.
    pub fn new(n: usize, batch_size: usize) -> Self {
        assert!(batch_size > 0, "Batches::new: batch_size must be at least 1");
        Batches { order: (0..n).collect(), batch_size }
    }

    /// Shuffles the indices and returns this epoch's batches: together they hold every index in
    /// `0..n` exactly once.
    pub fn epoch<R: Rng + ?Sized>(&mut self, rng: &mut R) -> std::slice::Chunks<'_, usize> {
        self.order.shuffle(rng);
        self.order.chunks(self.batch_size)
    }

    /// The number of batches in an epoch, counting a last partial one.
    pub fn num_batches(&self) -> usize {
        self.order.len().div_ceil(self.batch_size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    fn epoch_of(batches: &mut Batches, rng: &mut StdRng) -> Vec<Vec<usize>> {
        batches.epoch(rng).map(<[usize]>::to_vec).collect()
    }

    #[test]
    fn each_epoch_is_a_permutation_in_full_batches_then_the_rest() {
        let mut rng = StdRng::seed_from_u64(3);
        let mut batches = Batches::new(23, 5);
        for _ in 0..3 {
            let epoch = epoch_of(&mut batches, &mut rng);
            let sizes: Vec<usize> = epoch.iter().map(Vec::len).collect();
            assert_eq!(sizes, [5, 5, 5, 5, 3]);
            let mut all = epoch.concat();
            all.sort_unstable();
            assert_eq!(all, (0..23).collect::<Vec<_>>());
        }
    }

    #[test]
    fn epochs_differ_and_a_seed_reproduces_them() {
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            let mut batches = Batches::new(100, 16);
            [epoch_of(&mut batches, &mut rng), epoch_of(&mut batches, &mut rng)]
        };
        let [first, second] = run(11);
        assert_ne!(first, second);
        assert_eq!(run(11), [first.clone(), second]);
        assert_ne!(run(12)[0], first);
    }

    #[test]
    fn no_examples_give_no_batches() {
        let mut batches = Batches::new(0, 8);
        assert_eq!(batches.epoch(&mut StdRng::seed_from_u64(0)).count(), 0);
        assert_eq!(batches.num_batches(), 0);
    }

    #[test]
    #[should_panic(expected = "batch_size must be at least 1")]
    fn batch_size_zero_panics() {
        Batches::new(10, 0);
    }
}
