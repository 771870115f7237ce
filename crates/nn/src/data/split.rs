//! Seeded train / validation / test splits, plain or stratified by class.
//!
//! The shuffles use their own small generator, SplitMix64, rather than `rand`'s `StdRng`, whose
//! stream may change between `rand` versions: a split is a fixed function of its seed, so a
//! split recorded once (as indices, for another tool to reuse) stays reproducible.

use super::{ClassLabels, Dataset, Targets};
use tapegrad_autograd::Float;

/// The three parts of a split: indices (`Splits<Vec<usize>>`) or datasets.
///
/// ```
/// use tapegrad_nn::data::split_indices;
/// let parts = split_indices(10, 0.2, 0.3, 42);
/// assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (5, 2, 3));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Splits<P> {
    /// What to fit on.
    pub train: P,
    /// What to choose settings and stop on.
    pub validation: P,
    /// What to report, touched once.
    pub test: P,
}

impl<P> Splits<P> {
    /// The three parts through `f`, in the order train, validation, test.
    pub fn map<Q>(self, mut f: impl FnMut(P) -> Q) -> Splits<Q> {
        Splits { train: f(self.train), validation: f(self.validation), test: f(self.test) }
    }

    /// References to the three parts.
    pub fn as_ref(&self) -> Splits<&P> {
        Splits { train: &self.train, validation: &self.validation, test: &self.test }
    }
}

/// SplitMix64 (Steele, Lea and Flood, 2014): `state += 0x9e3779b97f4a7c15`, then two
/// xor-shift-multiply rounds of the state; a full-period 64-bit generator.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` as the high half of `next * bound` (bias below `bound / 2^64`).
    fn below(&mut self, bound: usize) -> usize {
        ((u128::from(self.next_u64()) * bound as u128) >> 64) as usize
    }

    /// Fisher-Yates from the back: for `i = len - 1` down to 1, swap `i` with `below(i + 1)`.
    fn shuffle(&mut self, items: &mut [usize]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

/// Checks the fractions and returns the validation and test counts of `n` examples.
fn part_sizes(n: usize, validation: f64, test: f64, what: &str) -> (usize, usize) {
    assert!(
        (0.0..=1.0).contains(&validation) && (0.0..=1.0).contains(&test) && validation + test <= 1.0,
        "{what}: fractions validation {validation} and test {test} must be in [0, 1] with a sum of at most 1"
    );
    // In [0, n] since the fractions are; the sum can pass n by rounding (n = 1 at 0.5 and 0.5).
    let n_test = (n as f64 * test).round() as usize;
    let n_val = ((n as f64 * validation).round() as usize).min(n - n_test);
    (n_val, n_test)
}

/// Splits the indices `0..n` at random into train, validation and test parts, with
/// `round(n * test)` test and `round(n * validation)` validation indices and the rest for
/// training; each part in increasing order. The same `n`, fractions and seed give the same
/// split, on every platform and version (see the module docs).
///
/// The order is: shuffle `0..n` (SplitMix64 seeded with `seed`, Fisher-Yates from the back, a
/// draw in `0..b` being the high 64 bits of `next * b`); the first `round(n * test)` shuffled
/// indices are the test part, the next `round(n * validation)` the validation part.
///
/// # Panics
/// If a fraction is outside `[0, 1]` or they sum to more than 1.
///
/// ```
/// use tapegrad_nn::data::split_indices;
/// let parts = split_indices(442, 0.2, 0.2, 0);
/// assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (266, 88, 88));
/// assert_eq!(parts, split_indices(442, 0.2, 0.2, 0));
/// ```
pub fn split_indices(n: usize, validation: f64, test: f64, seed: u64) -> Splits<Vec<usize>> {
    let (n_val, n_test) = part_sizes(n, validation, test, "split_indices");
    let mut order: Vec<usize> = (0..n).collect();
    SplitMix64(seed).shuffle(&mut order);
    let parts = Splits {
        test: order[..n_test].to_vec(),
        validation: order[n_test..n_test + n_val].to_vec(),
        train: order[n_test + n_val..].to_vec(),
    };
    parts.map(sorted)
}

fn sorted(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v
}

/// `total` units shared out in proportion to `quotas` (which sum to about `total`) by largest
/// remainder: each gets the floor of its quota, then the largest fractional parts (ties to the
/// lower index) one more, skipping any whose count would pass its `cap`.
fn apportion(quotas: &[f64], caps: &[usize], total: usize) -> Vec<usize> {
    let mut counts: Vec<usize> = quotas.iter().zip(caps).map(|(&q, &cap)| (q.floor() as usize).min(cap)).collect();
    let mut order: Vec<usize> = (0..quotas.len()).collect();
    // A stable sort by remainder, largest first, keeps ties in class order.
    order.sort_by(|&a, &b| (quotas[b] - quotas[b].floor()).total_cmp(&(quotas[a] - quotas[a].floor())));
    let mut missing = total.saturating_sub(counts.iter().sum());
    // At most one more each, so no count passes its quota's ceiling by more than one row.
    for c in order {
        if missing == 0 {
            break;
        }
        if counts[c] < caps[c] {
            counts[c] += 1;
            missing -= 1;
        }
    }
    counts
}

/// Like [`split_indices`], but stratified: each class is split on its own, so every part keeps
/// the class proportions. With `n_c` examples in class `c`, the test part gets `floor` or `ceil`
/// of `n_c * test` of them, shared out by largest remainder so that the part's size is still
/// `round(n * test)`; the validation part likewise from what is left; the rest of each class is
/// for training. A class's count in a part is thus within one row of its exact share.
///
/// Order: the indices of each class (increasing), shuffled class by class (class 0 first) by one
/// SplitMix64 stream seeded with `seed`; each class's first shuffled indices go to test, the next
/// to validation. Each part is returned in increasing order.
///
/// # Panics
/// If a fraction is outside `[0, 1]` or they sum to more than 1, or a label is not below
/// `num_classes`.
///
/// ```
/// use tapegrad_nn::data::stratified_split_indices;
/// // 8 of class 0, 4 of class 1, 2 of class 2.
/// let labels = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2];
/// let parts = stratified_split_indices(&labels, 3, 0.25, 0.25, 7);
/// let count = |part: &[usize], c| part.iter().filter(|&&i| labels[i] == c).count();
/// // Each part has a quarter of every class: 2, 1 and 0.5; the parts hold round(14 / 4) = 4,
/// // so the half row of class 2 is rounded up in both.
/// assert_eq!([0, 1, 2].map(|c| count(&parts.test, c)), [2, 1, 1]);
/// assert_eq!([0, 1, 2].map(|c| count(&parts.validation, c)), [2, 1, 1]);
/// assert_eq!(parts.train.len(), 6);
/// ```
pub fn stratified_split_indices(
    labels: &[usize],
    num_classes: usize,
    validation: f64,
    test: f64,
    seed: u64,
) -> Splits<Vec<usize>> {
    let n = labels.len();
    let (n_val, n_test) = part_sizes(n, validation, test, "stratified_split_indices");
    let mut classes = vec![Vec::new(); num_classes];
    for (i, &l) in labels.iter().enumerate() {
        assert!(l < num_classes, "stratified_split_indices: label {l} is out of range for {num_classes} classes");
        classes[l].push(i);
    }
    let mut rng = SplitMix64(seed);
    for members in &mut classes {
        rng.shuffle(members);
    }
    let sizes: Vec<usize> = classes.iter().map(Vec::len).collect();
    let quota = |fraction: f64| sizes.iter().map(|&s| s as f64 * fraction).collect::<Vec<_>>();
    let test_counts = apportion(&quota(test), &sizes, n_test);
    let room: Vec<usize> = sizes.iter().zip(&test_counts).map(|(s, t)| s - t).collect();
    let val_counts = apportion(&quota(validation), &room, n_val);
    let mut parts = Splits { train: Vec::new(), validation: Vec::new(), test: Vec::new() };
    for ((members, &t), &v) in classes.iter().zip(&test_counts).zip(&val_counts) {
        parts.test.extend_from_slice(&members[..t]);
        parts.validation.extend_from_slice(&members[t..t + v]);
        parts.train.extend_from_slice(&members[t + v..]);
    }
    parts.map(sorted)
}

impl<T: Float, Y: Targets> Dataset<T, Y> {
    /// Train, validation and test parts of [`split_indices`] for this dataset's rows: the same
    /// seed gives the same parts.
    ///
    /// # Panics
    /// If a fraction is outside `[0, 1]` or they sum to more than 1.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::data::Dataset;
    /// let data = Dataset::regression(Tensor::<f64>::zeros([20, 2]), Tensor::zeros([20, 1]));
    /// let parts = data.split(0.25, 0.25, 3);
    /// assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), (10, 5, 5));
    /// ```
    pub fn split(&self, validation: f64, test: f64, seed: u64) -> Splits<Self> {
        split_indices(self.len(), validation, test, seed).map(|idx| self.select(&idx))
    }
}

impl<T: Float> Dataset<T, ClassLabels> {
    /// Train, validation and test parts of [`stratified_split_indices`]: each part keeps every
    /// class's share to within one row.
    ///
    /// # Panics
    /// If a fraction is outside `[0, 1]` or they sum to more than 1.
    ///
    /// ```
    /// use tapegrad_autograd::Tensor;
    /// use tapegrad_nn::data::Dataset;
    /// let labels: Vec<usize> = (0..30).map(|i| usize::from(i >= 20)).collect(); // 20 and 10
    /// let data = Dataset::new(Tensor::<f32>::zeros([30, 1]), labels, 2);
    /// let parts = data.stratified_split(0.2, 0.2, 0);
    /// assert_eq!(parts.test.class_counts(), [4, 2]);
    /// assert_eq!(parts.train.class_counts(), [12, 6]);
    /// ```
    pub fn stratified_split(&self, validation: f64, test: f64, seed: u64) -> Splits<Self> {
        stratified_split_indices(self.labels(), self.num_classes(), validation, test, seed).map(|idx| self.select(&idx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tapegrad_autograd::Tensor;

    #[test]
    fn splitmix64_matches_the_reference_stream() {
        // The first outputs for seed 1234567 from the reference C code (Vigna's splitmix64.c),
        // as listed in its test vectors and in numerous ports.
        let mut rng = SplitMix64(1_234_567);
        let got: Vec<u64> = (0..5).map(|_| rng.next_u64()).collect();
        assert_eq!(
            got,
            [6457827717110365317, 3203168211198807973, 9817491932198370423, 4593380528125082431, 16408922859458223821]
        );
    }

    fn check_partition(parts: &Splits<Vec<usize>>, n: usize) {
        let mut all: Vec<usize> =
            [&parts.train, &parts.validation, &parts.test].into_iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..n).collect::<Vec<_>>(), "every index exactly once");
        for part in [&parts.train, &parts.validation, &parts.test] {
            assert!(part.windows(2).all(|w| w[0] < w[1]), "increasing");
        }
    }

    #[test]
    fn plain_splits_have_the_rounded_sizes_partition_and_depend_on_the_seed() {
        for (n, v, t, sizes) in [
            (442, 0.2, 0.2, (266, 88, 88)),
            (178, 0.2, 0.2, (106, 36, 36)),
            (10, 0.0, 0.15, (8, 0, 2)),
            (1, 0.5, 0.5, (0, 0, 1)),
        ] {
            let parts = split_indices(n, v, t, 5);
            check_partition(&parts, n);
            assert_eq!((parts.train.len(), parts.validation.len(), parts.test.len()), sizes, "{n} {v} {t}");
        }
        let a = split_indices(100, 0.2, 0.2, 1);
        assert_eq!(a, split_indices(100, 0.2, 0.2, 1));
        assert_ne!(a.test, split_indices(100, 0.2, 0.2, 2).test);
        // Not the first rows in order: the shuffle ran.
        assert_ne!(a.test, (0..20).collect::<Vec<_>>());
    }

    #[test]
    fn stratified_splits_keep_every_class_within_one_row_of_its_share() {
        // Many class layouts from one seeded stream, including classes of one and of none.
        let mut rng = SplitMix64(99);
        for case in 0..300 {
            let num_classes = 1 + rng.below(6);
            let n = rng.below(200);
            let labels: Vec<usize> = (0..n).map(|_| rng.below(num_classes).min(rng.below(num_classes))).collect();
            let (v, t) = [(0.2, 0.2), (0.1, 0.3), (0.0, 0.5), (0.5, 0.5), (0.15, 0.15), (1.0, 0.0)][case % 6];
            let parts = stratified_split_indices(&labels, num_classes, v, t, case as u64);
            check_partition(&parts, n);
            let (n_val, n_test) = part_sizes(n, v, t, "test");
            assert_eq!((parts.validation.len(), parts.test.len()), (n_val, n_test), "case {case}: part sizes");
            for c in 0..num_classes {
                let n_c = labels.iter().filter(|&&l| l == c).count() as f64;
                for (part, fraction) in [(&parts.test, t), (&parts.validation, v)] {
                    let got = part.iter().filter(|&&i| labels[i] == c).count() as f64;
                    assert!(
                        (got - n_c * fraction).abs() <= 1.0,
                        "case {case}, class {c}: {got} of {n_c} at {fraction}"
                    );
                }
            }
        }
    }

    #[test]
    fn stratified_splits_are_seeded_and_shuffle_within_classes() {
        let labels: Vec<usize> = (0..60).map(|i| i % 3).collect();
        let a = stratified_split_indices(&labels, 3, 0.2, 0.2, 11);
        assert_eq!(a, stratified_split_indices(&labels, 3, 0.2, 0.2, 11));
        assert_ne!(a, stratified_split_indices(&labels, 3, 0.2, 0.2, 12));
        // 20 per class, 4 of each in test and validation.
        for part in [&a.test, &a.validation] {
            assert_eq!((0..3).map(|c| part.iter().filter(|&&i| labels[i] == c).count()).collect::<Vec<_>>(), [4, 4, 4]);
        }
    }

    #[test]
    fn dataset_splits_keep_rows_with_their_targets() {
        let n = 40;
        let x = Tensor::from_vec([n, 1], (0..n).map(|i| i as f64).collect());
        let y = Tensor::from_vec([n, 1], (0..n).map(|i| 10.0 * i as f64).collect());
        let parts = Dataset::regression(x, y).split(0.25, 0.25, 4);
        for part in [&parts.train, &parts.validation, &parts.test] {
            for (row, target) in part.features().rows().zip(part.targets().rows()) {
                assert_eq!(target[0], 10.0 * row[0]);
            }
        }
        let labels: Vec<usize> = (0..n).map(|i| i % 4).collect();
        let data = Dataset::new(Tensor::from_vec([n, 1], (0..n).map(|i| i as f32).collect()), labels, 4);
        let parts = data.stratified_split(0.25, 0.25, 4);
        // 10 per class: 2.5 each for test, the two halves going to the lowest classes (ties), and
        // the same for validation from the 7, 7, 8, 8 left.
        assert_eq!(parts.test.class_counts(), [3, 3, 2, 2]);
        assert_eq!(parts.validation.class_counts(), [3, 3, 2, 2]);
        for part in [&parts.train, &parts.validation, &parts.test] {
            for (row, &label) in part.features().rows().zip(part.labels()) {
                assert_eq!(label, row[0] as usize % 4);
            }
        }
    }

    #[test]
    #[should_panic(
        expected = "split_indices: fractions validation 0.6 and test 0.5 must be in [0, 1] with a sum of at most 1"
    )]
    fn fractions_above_one_in_sum_panic() {
        split_indices(10, 0.6, 0.5, 0);
    }
}
