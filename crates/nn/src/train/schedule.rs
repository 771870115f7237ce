//! Learning-rate schedules, set once per epoch: step decay, cosine annealing, linear warm-up and
//! reduce-on-plateau, following `torch.optim.lr_scheduler`.

use std::f64::consts::PI;

/// How the learning rate changes from epoch to epoch, relative to the optimiser's rate when
/// training starts (`base`). Epochs are counted from 0 here: epoch 0 trains at
/// [`rate(base, 0)`](LrSchedule::rate).
///
/// ```
/// use tapegrad_nn::train::LrSchedule;
///
/// let step = LrSchedule::Step { every: 2, gamma: 0.5 };
/// let rates: Vec<f64> = (0..5).map(|e| step.rate(0.1, e)).collect();
/// assert_eq!(rates, [0.1, 0.1, 0.05, 0.05, 0.025]);
///
/// // Two epochs of warm-up from a quarter of the rate, then a cosine over 4 epochs down to 0.
/// let warm = LrSchedule::Warmup {
///     epochs: 2,
///     start_factor: 0.25,
///     then: Box::new(LrSchedule::Cosine { epochs: 4, min_lr: 0.0 }),
/// };
/// assert_eq!(warm.rate(1.0, 0), 0.25);
/// assert_eq!(warm.rate(1.0, 1), 0.625); // half-way from 0.25 to 1
/// assert_eq!(warm.rate(1.0, 2), 1.0); // the cosine's first epoch
/// assert!((warm.rate(1.0, 4) - 0.5).abs() < 1e-15); // half-way through the cosine
/// ```
#[derive(Clone, Debug, PartialEq)]
pub enum LrSchedule {
    /// The base rate throughout.
    Constant,
    /// `base * gamma^floor(epoch / every)`, as `torch.optim.lr_scheduler.StepLR`.
    Step {
        /// Epochs between decays (at least 1).
        every: usize,
        /// The factor of each decay (positive).
        gamma: f64,
    },
    /// Cosine annealing from `base` to `min_lr` over `epochs` epochs, then `min_lr`:
    /// `min_lr + (base - min_lr) * (1 + cos(pi * min(epoch, epochs) / epochs)) / 2`, as
    /// `torch.optim.lr_scheduler.CosineAnnealingLR` with `T_max = epochs` (without its restarts).
    Cosine {
        /// The epochs the rate takes to reach `min_lr` (at least 1).
        epochs: usize,
        /// The rate at the end (non-negative).
        min_lr: f64,
    },
    /// A linear warm-up from `start_factor * base` towards `base` over `epochs` epochs,
    /// `base * (start_factor + (1 - start_factor) * epoch / epochs)` (as
    /// `torch.optim.lr_scheduler.LinearLR`), then `then`, counted from the end of the warm-up.
    Warmup {
        /// Epochs of warm-up.
        epochs: usize,
        /// The first epoch's fraction of `base`, in `(0, 1]`.
        start_factor: f64,
        /// The schedule after the warm-up ([`LrSchedule::Constant`] to stay at `base`).
        then: Box<LrSchedule>,
    },
    /// Multiplies the rate by `factor` when the monitored loss (validation loss, or training
    /// loss without a validation set) has not improved for more than `patience` epochs, as
    /// `torch.optim.lr_scheduler.ReduceLROnPlateau` in mode `"min"` with a relative threshold:
    /// an epoch improves on the best loss `b` if its loss is below `b * (1 - threshold)`. The
    /// rate never goes below `min_lr`. Stateful: see [`LrScheduler`].
    ReduceOnPlateau {
        /// The factor of each reduction, in `(0, 1)`.
        factor: f64,
        /// Epochs without improvement tolerated before a reduction.
        patience: usize,
        /// The relative improvement that counts (`1e-4` in PyTorch), non-negative.
        threshold: f64,
        /// The lowest rate (non-negative).
        min_lr: f64,
    },
}

impl LrSchedule {
    /// `ReduceOnPlateau` with PyTorch's defaults: factor 0.1, patience 10, threshold 1e-4,
    /// no lower bound.
    pub fn reduce_on_plateau() -> Self {
        LrSchedule::ReduceOnPlateau { factor: 0.1, patience: 10, threshold: 1e-4, min_lr: 0.0 }
    }

    /// The rate of 0-based `epoch` for base rate `base`, before any reduction on plateau
    /// (`ReduceOnPlateau` alone gives `base`; [`LrScheduler`] applies its reductions).
    ///
    /// # Panics
    /// If the schedule's parameters are out of the ranges documented on each variant.
    pub fn rate(&self, base: f64, epoch: usize) -> f64 {
        self.check();
        match self {
            LrSchedule::Constant | LrSchedule::ReduceOnPlateau { .. } => base,
            LrSchedule::Step { every, gamma } => {
                // A step count past i32::MAX has long underflowed to 0 for gamma < 1.
                base * gamma.powi(i32::try_from(epoch / every).unwrap_or(i32::MAX))
            }
            LrSchedule::Cosine { epochs, min_lr } => {
                let t = epoch.min(*epochs) as f64 / *epochs as f64;
                min_lr + (base - min_lr) * (1.0 + (PI * t).cos()) / 2.0
            }
            LrSchedule::Warmup { epochs, start_factor, then } => {
                if epoch < *epochs {
                    base * (start_factor + (1.0 - start_factor) * epoch as f64 / *epochs as f64)
                } else {
                    then.rate(base, epoch - epochs)
                }
            }
        }
    }

    /// The plateau reduction this schedule ends in, with the epoch it starts at.
    fn plateau(&self) -> Option<(usize, f64, usize, f64, f64)> {
        match self {
            LrSchedule::ReduceOnPlateau { factor, patience, threshold, min_lr } => {
                Some((0, *factor, *patience, *threshold, *min_lr))
            }
            LrSchedule::Warmup { epochs, then, .. } => {
                then.plateau().map(|(start, f, p, t, m)| (start + epochs, f, p, t, m))
            }
            _ => None,
        }
    }

    fn check(&self) {
        match self {
            LrSchedule::Constant => {}
            LrSchedule::Step { every, gamma } => {
                assert!(*every >= 1, "LrSchedule::Step: every must be at least 1, got 0");
                assert!(gamma.is_finite() && *gamma > 0.0, "LrSchedule::Step: gamma must be positive, got {gamma}");
            }
            LrSchedule::Cosine { epochs, min_lr } => {
                assert!(*epochs >= 1, "LrSchedule::Cosine: epochs must be at least 1, got 0");
                assert!(
                    min_lr.is_finite() && *min_lr >= 0.0,
                    "LrSchedule::Cosine: min_lr must be non-negative, got {min_lr}"
                );
            }
            LrSchedule::Warmup { start_factor, then, .. } => {
                assert!(
                    *start_factor > 0.0 && *start_factor <= 1.0,
                    "LrSchedule::Warmup: start_factor must be in (0, 1], got {start_factor}"
                );
                then.check();
            }
            LrSchedule::ReduceOnPlateau { factor, threshold, min_lr, .. } => {
                assert!(
                    *factor > 0.0 && *factor < 1.0,
                    "LrSchedule::ReduceOnPlateau: factor must be in (0, 1), got {factor}"
                );
                assert!(
                    threshold.is_finite() && *threshold >= 0.0,
                    "LrSchedule::ReduceOnPlateau: threshold must be non-negative, got {threshold}"
                );
                assert!(
                    min_lr.is_finite() && *min_lr >= 0.0,
                    "LrSchedule::ReduceOnPlateau: min_lr must be non-negative, got {min_lr}"
                );
            }
        }
    }
}

/// A schedule in progress: its base rate and, for [`LrSchedule::ReduceOnPlateau`], the best loss
/// so far and the reductions made.
///
/// ```
/// use tapegrad_nn::train::{LrSchedule, LrScheduler};
///
/// let plateau = LrSchedule::ReduceOnPlateau { factor: 0.5, patience: 1, threshold: 0.0, min_lr: 0.0 };
/// let mut s = LrScheduler::new(plateau, 1.0);
/// for (epoch, loss) in [3.0, 2.0, 2.0, 2.0, 1.0].into_iter().enumerate() {
///     s.observe(epoch, loss);
/// }
/// // Epochs 2 and 3 did not improve on 2.0: the second of them exceeded the patience of 1.
/// assert_eq!(s.lr(5), 0.5);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LrScheduler {
    schedule: LrSchedule,
    base: f64,
    best: f64,
    bad_epochs: usize,
    /// The plateau's current rate, once it has reduced it.
    reduced: Option<f64>,
}

impl LrScheduler {
    /// `schedule` from base rate `base`.
    ///
    /// # Panics
    /// If `base` is negative, NaN or infinite, or the schedule's parameters are out of range.
    pub fn new(schedule: LrSchedule, base: f64) -> Self {
        assert!(base.is_finite() && base >= 0.0, "LrScheduler::new: the base rate must be non-negative, got {base}");
        schedule.check();
        LrScheduler { schedule, base, best: f64::INFINITY, bad_epochs: 0, reduced: None }
    }

    /// The schedule.
    pub fn schedule(&self) -> &LrSchedule {
        &self.schedule
    }

    /// The rate for 0-based `epoch`.
    pub fn lr(&self, epoch: usize) -> f64 {
        match (self.schedule.plateau(), self.reduced) {
            (Some((start, ..)), Some(rate)) if epoch >= start => rate,
            _ => self.schedule.rate(self.base, epoch),
        }
    }

    /// Records the monitored loss at the end of 0-based `epoch`; only a plateau schedule (past
    /// any warm-up) uses it. A NaN loss counts as no improvement.
    pub fn observe(&mut self, epoch: usize, loss: f64) {
        let Some((start, factor, patience, threshold, min_lr)) = self.schedule.plateau() else { return };
        if epoch < start {
            return;
        }
        if loss < self.best * (1.0 - threshold) || (self.best.is_infinite() && loss.is_finite()) {
            self.best = loss;
            self.bad_epochs = 0;
        } else {
            self.bad_epochs += 1;
        }
        if self.bad_epochs > patience {
            self.reduced = Some((self.lr(epoch) * factor).max(min_lr));
            self.bad_epochs = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Each schedule against its closed form evaluated by hand; the values are exact binary
    // fractions unless a tolerance says otherwise.

    #[test]
    fn step_decays_by_gamma_every_few_epochs() {
        let s = LrSchedule::Step { every: 3, gamma: 0.5 };
        // floor(e / 3) = 0, 0, 0, 1, 1, 1, 2.
        let rates: Vec<f64> = (0..7).map(|e| s.rate(0.8, e)).collect();
        assert_eq!(rates, [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2]);
    }

    #[test]
    fn cosine_follows_half_a_cosine_and_then_stays_at_its_minimum() {
        let s = LrSchedule::Cosine { epochs: 4, min_lr: 0.1 };
        // 0.1 + 0.9 (1 + cos(pi e / 4)) / 2: cos = 1, 1/sqrt 2, 0, -1/sqrt 2, -1.
        let half = std::f64::consts::FRAC_1_SQRT_2;
        let expected = [1.0, 0.1 + 0.45 * (1.0 + half), 0.55, 0.1 + 0.45 * (1.0 - half), 0.1, 0.1, 0.1];
        for (e, want) in expected.into_iter().enumerate() {
            // A few ulps of cos(pi/4) and of the sums.
            assert!((s.rate(1.0, e) - want).abs() < 1e-15, "epoch {e}: {} vs {want}", s.rate(1.0, e));
        }
    }

    #[test]
    fn warmup_rises_linearly_then_hands_over() {
        let s = LrSchedule::Warmup {
            epochs: 4,
            start_factor: 0.25,
            then: Box::new(LrSchedule::Step { every: 1, gamma: 0.5 }),
        };
        // 2 (0.25 + 0.75 e / 4) for e < 4, then 2 * 0.5^(e - 4).
        let rates: Vec<f64> = (0..7).map(|e| s.rate(2.0, e)).collect();
        assert_eq!(rates, [0.5, 0.875, 1.25, 1.625, 2.0, 1.0, 0.5]);
    }

    #[test]
    fn reduce_on_plateau_cuts_the_rate_after_patience_epochs_without_improvement() {
        let plateau = LrSchedule::ReduceOnPlateau { factor: 0.5, patience: 2, threshold: 0.1, min_lr: 0.3 };
        let mut s = LrScheduler::new(plateau, 2.0);
        // Epoch: loss -> best, bad epochs, rate for the next epoch.
        // 0: 10   -> best 10, 0, 2
        // 1: 9.5  -> not below 10 * 0.9 = 9: bad 1, 2
        // 2: 8.5  -> best 8.5, 0, 2
        // 3: 8    -> not below 7.65: bad 1; 4: bad 2; 5: bad 3 > 2: 2 * 0.5 = 1, bad 0
        // 6, 7, 8: bad 1, 2, 3: 0.5; 9, 10, 11: 0.25, floored at 0.3
        let losses = [10.0, 9.5, 8.5, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, f64::NAN];
        let mut rates = vec![];
        for (e, loss) in losses.into_iter().enumerate() {
            s.observe(e, loss);
            rates.push(s.lr(e + 1));
        }
        assert_eq!(rates, [2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.3]);
    }

    #[test]
    fn a_plateau_after_a_warmup_waits_for_the_warmup_to_end() {
        let plateau = LrSchedule::ReduceOnPlateau { factor: 0.5, patience: 0, threshold: 0.0, min_lr: 0.0 };
        let s = LrSchedule::Warmup { epochs: 2, start_factor: 0.5, then: Box::new(plateau) };
        let mut s = LrScheduler::new(s, 1.0);
        // Losses that never improve: ignored during the warm-up (epochs 0, 1); at epoch 2 the
        // first counts as the best, and each later one exceeds the patience of 0.
        let mut rates = vec![s.lr(0)];
        for e in 0..5 {
            s.observe(e, 1.0);
            rates.push(s.lr(e + 1));
        }
        assert_eq!(rates, [0.5, 0.75, 1.0, 1.0, 0.5, 0.25]);
    }

    #[test]
    #[should_panic(expected = "LrSchedule::Step: every must be at least 1, got 0")]
    fn a_step_of_zero_epochs_panics() {
        LrSchedule::Step { every: 0, gamma: 0.5 }.rate(1.0, 0);
    }
}
