//! BWA, Bayesian weighted average — Y. Li, B. Rubinstein, T. Cohn, "Truth Inference at Scale:
//! A Bayesian Model for Adjudicating Highly Redundant Crowd Annotations", WWW 2019.
//!
//! Each answer is a one-hot vector y_iw drawn around the task's true label vector z_i with a
//! worker-specific precision: y_iw ~ N(z_i, I/v_w), v_w ~ Gamma(a_v, b_v), z_i ~ N(μ, I/λ).
//! Coordinate ascent alternates z_i = (λμ + Σ_w v_w·y_iw) / (λ + Σ_w v_w) — a weighted
//! average of the answers, shrunk to the mean label vector μ — with
//! v_w = (a_v + N_w) / (b_v + ½ Σ_i ‖y_iw − z_i‖²). The prior rate b_v is set from the data
//! (a_v times the average spread of the majority vote), so a_v alone says how many answers'
//! worth of belief the prior carries. a_v = 15 and λ = 1, as published. With one-hot vectors
//! of two labels this is the paper's binary model exactly; with more it is the same model
//! over K coordinates.

use super::{Aggregator, Dataset, Fit, Posteriors, majority_vote};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bwa {
    /// Gamma shape of the worker precision prior.
    pub a_v: f64,
    /// Precision of the prior on each task's label vector.
    pub lambda: f64,
    pub max_iterations: usize,
    /// Stop when no task's label vector moves by more than this share.
    pub tolerance: f64,
}

impl Default for Bwa {
    fn default() -> Self {
        Self {
            a_v: 15.0,
            lambda: 1.0,
            max_iterations: 500,
            tolerance: 1e-3,
        }
    }
}

impl Aggregator for Bwa {
    fn name(&self) -> &'static str {
        "bwa"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        let k = data.n_labels();
        let mut z = majority_vote::vote_shares(data);
        super::clamp_gold(data, &mut z);
        if k == 0 || data.answers.is_empty() {
            return Fit {
                posteriors: z,
                log_likelihood: Vec::new(),
            };
        }
        // b_v: a_v times the vote's average spread per answer, ½(1 − Σ_k z_k²).
        let mut spread = 0.0;
        for &(t, _, _) in &data.answers {
            let p = &z[t as usize];
            spread += 0.5 * (1.0 - p.iter().map(|v| v * v).sum::<f64>());
        }
        let b_v = self.a_v * (spread / data.answers.len() as f64).max(1e-3);
        let mut per_worker = vec![0.0; data.n_workers()];
        for &(_, w, _) in &data.answers {
            per_worker[w as usize] += 1.0;
        }
        let mut weights = vec![0.0; data.n_workers()];
        let mut next = Posteriors::zeros(data.n_tasks(), k);
        let mut totals = vec![0.0; data.n_tasks()];
        for _ in 0..self.max_iterations.max(1) {
            let mu: Vec<f64> = (0..k)
                .map(|c| z.iter().map(|p| p[c]).sum::<f64>() / data.n_tasks() as f64)
                .collect();
            // Worker precisions from their squared distance to the current label vectors.
            let mut residual = vec![0.0; data.n_workers()];
            for &(t, w, l) in &data.answers {
                let p = &z[t as usize];
                let sq: f64 = p.iter().map(|v| v * v).sum::<f64>() - 2.0 * p[l as usize] + 1.0;
                residual[w as usize] += 0.5 * sq;
            }
            for ((weight, n), r) in weights.iter_mut().zip(&per_worker).zip(&residual) {
                *weight = (self.a_v + n) / (b_v + r);
            }
            // Label vectors: the precision-weighted average of the answers and μ.
            for (row, total) in next.iter_mut().zip(totals.iter_mut()) {
                row.iter_mut()
                    .zip(&mu)
                    .for_each(|(v, m)| *v = self.lambda * m);
                *total = self.lambda;
            }
            for &(t, w, l) in &data.answers {
                next[t as usize][l as usize] += weights[w as usize];
                totals[t as usize] += weights[w as usize];
            }
            for (row, total) in next.iter_mut().zip(&totals) {
                row.iter_mut().for_each(|v| *v /= total);
            }
            super::clamp_gold(data, &mut next);
            let moved = z
                .as_slice()
                .iter()
                .zip(next.as_slice())
                .map(|(a, b)| (a - b).abs() / a.abs().max(1e-3))
                .fold(0.0f64, f64::max);
            std::mem::swap(&mut z, &mut next);
            if moved <= self.tolerance {
                break;
            }
        }
        Fit {
            posteriors: z,
            log_likelihood: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_consistent_workers_outweigh_three_who_answer_at_random() {
        let (rows, truth) = crate::aggregate::accurate_pair_and_coin_flippers();
        let data = Dataset::from_rows(&rows);
        let fit = Bwa::default().fit(&data);
        let got: Vec<&str> = fit.labels().iter().map(|&l| &data.labels[l]).collect();
        assert_eq!(got, truth);
        for p in &fit.posteriors {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
