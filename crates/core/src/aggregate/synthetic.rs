//! Seeded synthetic crowds drawn from a Dawid–Skene world, for benchmarks and tests: tasks
//! with a true label, workers with skewed activity (a few do most of the work, as on every
//! real platform), honest workers with confusion between neighbouring classes, and spammers.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Answer, Dataset};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CrowdSpec {
    pub tasks: usize,
    pub answers_per_task: usize,
    pub workers: usize,
    pub classes: usize,
    /// Share of workers who answer at random.
    pub spammers: f64,
    pub seed: u64,
}

impl CrowdSpec {
    /// The benchmark crowd: 200,000 tasks × 5 answers, 2,000 workers, 5 classes,
    /// 10% spammers.
    pub fn million() -> Self {
        Self {
            tasks: 200_000,
            answers_per_task: 5,
            workers: 2_000,
            classes: 5,
            spammers: 0.1,
            seed: 2026,
        }
    }
}

/// A generated crowd: answers as indices, and every task's true label.
#[derive(Debug, Clone)]
pub struct Crowd {
    pub answers: Vec<Answer>,
    pub truth: Vec<u16>,
    pub spec: CrowdSpec,
}

impl Crowd {
    pub fn generate(spec: CrowdSpec) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
        let k = spec.classes.max(2);
        let per_task = spec.answers_per_task.min(spec.workers);
        // Activity ∝ 1/(rank+1)^0.8: the busiest worker answers ~hundreds of times more
        // than the quietest.
        let mut cumulative = Vec::with_capacity(spec.workers);
        let mut total = 0.0;
        for rank in 0..spec.workers {
            total += 1.0 / ((rank + 1) as f64).powf(0.8);
            cumulative.push(total);
        }
        let accuracy: Vec<Option<f64>> = (0..spec.workers)
            .map(|_| (!rng.random_bool(spec.spammers)).then(|| rng.random_range(0.55..0.95)))
            .collect();
        // Class shares skewed 1 : 1/2 : 1/3 …
        let class_weights: Vec<f64> = (0..k).map(|c| 1.0 / (c + 1) as f64).collect();
        let class_total: f64 = class_weights.iter().sum();
        let mut answers = Vec::with_capacity(spec.tasks * per_task);
        let mut truth = Vec::with_capacity(spec.tasks);
        let mut chosen: Vec<usize> = Vec::with_capacity(per_task);
        for t in 0..spec.tasks {
            let mut r = rng.random_range(0.0..class_total);
            let y = class_weights
                .iter()
                .position(|w| {
                    r -= w;
                    r < 0.0
                })
                .unwrap_or(k - 1);
            truth.push(y as u16);
            chosen.clear();
            while chosen.len() < per_task {
                let r = rng.random_range(0.0..total);
                let w = cumulative.partition_point(|&c| c < r).min(spec.workers - 1);
                if !chosen.contains(&w) {
                    chosen.push(w);
                }
            }
            for &w in &chosen {
                let label = match accuracy[w] {
                    None => rng.random_range(0..k),
                    Some(a) if rng.random_bool(a) => y,
                    // Honest mistakes go to a neighbouring class half the time.
                    Some(_) if rng.random_bool(0.5) => {
                        if y + 1 < k && (y == 0 || rng.random_bool(0.5)) {
                            y + 1
                        } else {
                            y - 1
                        }
                    }
                    Some(_) => (y + rng.random_range(1..k)) % k,
                };
                answers.push((t as u32, w as u32, label as u16));
            }
        }
        Self {
            answers,
            truth,
            spec,
        }
    }

    /// As a [`Dataset`] named `t…`, `w…`, `c…` (no gold).
    pub fn to_dataset(&self) -> Dataset {
        let k = self.spec.classes.max(2);
        Dataset {
            tasks: (0..self.spec.tasks).map(|t| format!("t{t}")).collect(),
            workers: (0..self.spec.workers).map(|w| format!("w{w}")).collect(),
            labels: (0..k).map(|c| format!("c{c}")).collect(),
            answers: self.answers.clone(),
            gold: vec![None; self.spec.tasks],
        }
    }

    /// Share of tasks whose chosen label is the true one.
    pub fn accuracy(&self, labels: &[usize]) -> f64 {
        accuracy(labels, &self.truth)
    }
}

/// Share of `labels` equal to `truth` (over every true label).
pub fn accuracy(labels: &[usize], truth: &[u16]) -> f64 {
    let right = labels
        .iter()
        .zip(truth)
        .filter(|(l, t)| **l == **t as usize)
        .count();
    right as f64 / truth.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{Aggregator, DawidSkene, MajorityVoteFit};

    #[test]
    fn the_same_seed_gives_the_same_crowd_and_dawid_skene_beats_the_vote_on_it() {
        let spec = CrowdSpec {
            tasks: 3000,
            answers_per_task: 5,
            workers: 100,
            classes: 4,
            spammers: 0.2,
            seed: 7,
        };
        let a = Crowd::generate(spec);
        assert_eq!(a.answers, Crowd::generate(spec).answers);
        assert_ne!(
            a.answers,
            Crowd::generate(CrowdSpec { seed: 8, ..spec }).answers
        );
        let data = a.to_dataset();
        let mv = a.accuracy(&MajorityVoteFit.fit(&data).labels());
        let ds = a.accuracy(&DawidSkene::default().fit(&data).labels());
        assert!(ds > mv + 0.02, "ds {ds:.4} vs mv {mv:.4}");
    }
}
