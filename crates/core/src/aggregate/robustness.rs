//! The robustness kit: seeded synthetic crowds with the structures real crowds have, each with
//! its true labels and the true model behind the answers, so a method can be scored against
//! the oracle — the posterior under the true worker confusion matrices and class shares.
//!
//! Structures: one-coin skill, class-dependent skill (workers who lean to one answer), many
//! sparse workers, strong class imbalance, spammers and adversaries, groups of workers who
//! make the same mistake on the same task (correlation), and varying overlap.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Dataset, Posteriors, argmax, normalize_log};

/// How a kind of worker answers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Skill {
    /// Right with a probability drawn from the range; otherwise any other label.
    OneCoin(f64, f64),
    /// Right with a probability drawn from the range on label 0 and from the other range on
    /// the rest (a worker who leans to label 0, or away from it).
    ClassDependent((f64, f64), (f64, f64)),
    /// Any label at random.
    Spammer,
    /// Always a wrong label.
    Adversary,
}

/// One synthetic crowd's recipe.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: &'static str,
    pub tasks: usize,
    pub classes: usize,
    pub workers: usize,
    /// Answers per task, drawn evenly from this inclusive range.
    pub overlap: (usize, usize),
    /// Each label's share of the true labels (normalised).
    pub class_shares: Vec<f64>,
    /// Activity ∝ 1/(rank+1)^skew: 0 is even, 1 a long tail of workers with few answers.
    pub activity_skew: f64,
    /// Worker kinds with their share of the workers.
    pub kinds: Vec<(Skill, f64)>,
    /// Groups of this many workers who, on this share of tasks, all give the same wrong
    /// label when they answer (0 workers: none).
    pub correlated: (usize, f64),
}

impl Scenario {
    /// The kit: each structure on its own, at a scale a test runs in well under a second.
    pub fn kit() -> Vec<Scenario> {
        let base = Scenario {
            name: "one-coin",
            tasks: 1500,
            classes: 3,
            workers: 40,
            overlap: (5, 5),
            class_shares: vec![1.0; 3],
            activity_skew: 0.5,
            kinds: vec![(Skill::OneCoin(0.55, 0.95), 1.0)],
            correlated: (0, 0.0),
        };
        vec![
            base.clone(),
            Scenario {
                name: "one-coin, imbalanced binary",
                classes: 2,
                class_shares: vec![0.85, 0.15],
                overlap: (5, 9),
                ..base.clone()
            },
            Scenario {
                name: "class-dependent skill",
                kinds: vec![
                    (Skill::ClassDependent((0.85, 0.99), (0.45, 0.7)), 0.5),
                    (Skill::ClassDependent((0.45, 0.7), (0.85, 0.99)), 0.5),
                ],
                ..base.clone()
            },
            Scenario {
                name: "many sparse workers",
                workers: 800,
                activity_skew: 1.0,
                classes: 4,
                class_shares: vec![1.0; 4],
                ..base.clone()
            },
            Scenario {
                name: "imbalanced, class-dependent",
                classes: 2,
                class_shares: vec![0.9, 0.1],
                kinds: vec![
                    (Skill::ClassDependent((0.9, 0.99), (0.5, 0.8)), 0.7),
                    (Skill::OneCoin(0.6, 0.9), 0.3),
                ],
                ..base.clone()
            },
            Scenario {
                name: "spammers and adversaries",
                kinds: vec![
                    (Skill::OneCoin(0.6, 0.95), 0.6),
                    (Skill::Spammer, 0.3),
                    (Skill::Adversary, 0.1),
                ],
                ..base.clone()
            },
            Scenario {
                name: "correlated workers",
                correlated: (4, 0.25),
                kinds: vec![(Skill::OneCoin(0.7, 0.95), 1.0)],
                ..base.clone()
            },
            Scenario {
                name: "varying overlap",
                overlap: (1, 9),
                ..base
            },
        ]
    }

    /// Draws the crowd for `seed`.
    pub fn generate(&self, seed: u64) -> SyntheticCrowd {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let k = self.classes.max(2);
        let shares = normalised(&self.class_shares, k);
        let kind_weights: Vec<f64> = self.kinds.iter().map(|(_, w)| *w).collect();
        let confusion: Vec<Vec<f64>> = (0..self.workers)
            .map(|_| {
                let kind = self
                    .kinds
                    .get(pick(&mut rng, &kind_weights))
                    .map_or(Skill::Spammer, |(s, _)| *s);
                confusion_of(kind, k, &mut rng)
            })
            .collect();
        let activity: Vec<f64> = (0..self.workers)
            .map(|r| 1.0 / ((r + 1) as f64).powf(self.activity_skew))
            .collect();
        let groups = match self.correlated {
            (size, _) if size > 1 => self.workers / size,
            _ => 0,
        };
        let mut answers = Vec::new();
        let mut truth = Vec::with_capacity(self.tasks);
        for t in 0..self.tasks {
            let y = pick(&mut rng, &shares);
            truth.push(y as u16);
            // Which groups share a mistake on this task, and which wrong label.
            let slipped: Vec<Option<usize>> = (0..groups)
                .map(|_| {
                    rng.random_bool(self.correlated.1)
                        .then(|| (y + rng.random_range(1..k)) % k)
                })
                .collect();
            let (lo, hi) = self.overlap;
            let n = rng
                .random_range(lo.max(1)..=hi.max(lo).max(1))
                .min(self.workers);
            let mut chosen: Vec<usize> = Vec::with_capacity(n);
            while chosen.len() < n {
                let w = pick(&mut rng, &activity);
                if !chosen.contains(&w) {
                    chosen.push(w);
                }
            }
            for w in chosen {
                let shared = (groups > 0)
                    .then(|| w / self.correlated.0)
                    .filter(|&g| g < groups)
                    .and_then(|g| slipped[g]);
                let label = match shared {
                    Some(wrong) => wrong,
                    None => pick(&mut rng, &confusion[w][y * k..(y + 1) * k]),
                };
                answers.push((t as u32, w as u32, label as u16));
            }
        }
        SyntheticCrowd {
            k,
            answers,
            truth,
            shares,
            confusion,
            workers: self.workers,
        }
    }
}

/// A drawn crowd with the truth and the model that drew it.
#[derive(Debug, Clone)]
pub struct SyntheticCrowd {
    k: usize,
    pub answers: Vec<(u32, u32, u16)>,
    pub truth: Vec<u16>,
    shares: Vec<f64>,
    /// Each worker's confusion matrix, `[truth][answer]` flat.
    confusion: Vec<Vec<f64>>,
    workers: usize,
}

impl SyntheticCrowd {
    /// As a [`Dataset`] named `t…`, `w…`, `c…` (no gold).
    pub fn to_dataset(&self) -> Dataset {
        Dataset {
            tasks: (0..self.truth.len()).map(|t| format!("t{t}")).collect(),
            workers: (0..self.workers).map(|w| format!("w{w}")).collect(),
            labels: (0..self.k).map(|c| format!("c{c}")).collect(),
            answers: self.answers.clone(),
            gold: vec![None; self.truth.len()],
        }
    }

    /// Share of tasks whose chosen label is the true one.
    pub fn accuracy(&self, labels: &[usize]) -> f64 {
        super::synthetic::accuracy(labels, &self.truth)
    }

    /// The oracle: each task's posterior under the true class shares and confusion matrices
    /// (answers taken as independent, as every method here takes them).
    pub fn oracle(&self) -> Posteriors {
        let k = self.k;
        let log_shares: Vec<f64> = self.shares.iter().map(|s| s.max(1e-300).ln()).collect();
        let mut post = Posteriors::zeros(self.truth.len(), k);
        post.iter_mut().for_each(|p| p.copy_from_slice(&log_shares));
        for &(t, w, l) in &self.answers {
            let m = &self.confusion[w as usize];
            for (c, v) in post[t as usize].iter_mut().enumerate() {
                *v += m[c * k + l as usize].max(1e-300).ln();
            }
        }
        post.iter_mut().for_each(|p| {
            normalize_log(p);
        });
        post
    }

    /// The oracle's accuracy.
    pub fn oracle_accuracy(&self) -> f64 {
        let post = self.oracle();
        let labels: Vec<usize> = post.iter().map(argmax).collect();
        self.accuracy(&labels)
    }
}

fn normalised(weights: &[f64], k: usize) -> Vec<f64> {
    let mut w: Vec<f64> = (0..k)
        .map(|i| weights.get(i).copied().unwrap_or(1.0).max(0.0))
        .collect();
    let total: f64 = w.iter().sum();
    if total <= 0.0 {
        return vec![1.0 / k as f64; k];
    }
    w.iter_mut().for_each(|v| *v /= total);
    w
}

/// An index drawn with probability proportional to its weight.
fn pick(rng: &mut ChaCha8Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut r = rng.random_range(0.0..total.max(f64::MIN_POSITIVE));
    for (i, w) in weights.iter().enumerate() {
        r -= w;
        if r < 0.0 {
            return i;
        }
    }
    weights.len().saturating_sub(1)
}

/// A worker's confusion matrix, `[truth][answer]` flat.
fn confusion_of(skill: Skill, k: usize, rng: &mut ChaCha8Rng) -> Vec<f64> {
    let mut m = vec![0.0; k * k];
    let row = |m: &mut [f64], truth: usize, right: f64| {
        for (answer, v) in m[truth * k..(truth + 1) * k].iter_mut().enumerate() {
            *v = if answer == truth {
                right
            } else {
                (1.0 - right) / (k - 1) as f64
            };
        }
    };
    match skill {
        Skill::OneCoin(lo, hi) => {
            let p = rng.random_range(lo..hi);
            (0..k).for_each(|c| row(&mut m, c, p));
        }
        Skill::ClassDependent((lo0, hi0), (lo, hi)) => {
            row(&mut m, 0, rng.random_range(lo0..hi0));
            let p = rng.random_range(lo..hi);
            (1..k).for_each(|c| row(&mut m, c, p));
        }
        Skill::Spammer => m.fill(1.0 / k as f64),
        Skill::Adversary => (0..k).for_each(|c| row(&mut m, c, 0.0)),
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scenario_draws_the_same_crowd_for_a_seed_with_its_structure() {
        for scenario in Scenario::kit() {
            let a = scenario.generate(1);
            assert_eq!(a.answers, scenario.generate(1).answers, "{}", scenario.name);
            assert_ne!(a.answers, scenario.generate(2).answers, "{}", scenario.name);
            let (lo, hi) = scenario.overlap;
            let per_task = a.answers.len() as f64 / a.truth.len() as f64;
            assert!(
                per_task >= lo as f64 && per_task <= hi as f64,
                "{}",
                scenario.name
            );
            // The oracle knows the model: it beats a coin by far everywhere.
            assert!(a.oracle_accuracy() > 0.75, "{}", scenario.name);
        }
        let imbalanced = &Scenario::kit()[1];
        let crowd = imbalanced.generate(3);
        let ones = crowd.truth.iter().filter(|&&y| y == 1).count() as f64;
        let share = ones / crowd.truth.len() as f64;
        assert!((0.12..0.18).contains(&share), "{share}");
    }
}
