//! One-coin Dawid–Skene: each worker has a single accuracy p_w; a wrong answer is equally
//! likely to be any other label. Far fewer parameters than full confusion matrices, so it
//! suits workers with few answers. EM in log space, with the same convergence rule and gold
//! clamping as [`DawidSkene`](super::DawidSkene).
//!
//! P(answer l | truth k) = p_w if l = k, else (1 − p_w) / (K − 1).

use super::{Aggregator, Dataset, EmLimits, Fit, class_log_prior, normalize_log, run_em};

#[derive(Debug, Clone, Copy)]
pub struct OneCoinDawidSkene {
    pub limits: EmLimits,
    /// Beta pseudo-counts (correct, wrong) added to each worker's accuracy estimate.
    pub prior: (f64, f64),
}

impl Default for OneCoinDawidSkene {
    fn default() -> Self {
        Self {
            limits: EmLimits::default(),
            prior: (0.01, 0.01),
        }
    }
}

impl Aggregator for OneCoinDawidSkene {
    fn name(&self) -> &'static str {
        "onecoin-ds"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        let k = data.n_labels();
        let wrong_share = if k > 1 { 1.0 / (k - 1) as f64 } else { 1.0 };
        run_em(data, self.limits, |post| {
            // M-step: accuracy per worker, class priors.
            let mut correct = vec![self.prior.0; data.n_workers()];
            let mut total = vec![self.prior.0 + self.prior.1; data.n_workers()];
            for &(t, w, l) in &data.answers {
                correct[w as usize] += post[t as usize][l as usize];
                total[w as usize] += 1.0;
            }
            let log_prior = class_log_prior(post);
            let (log_right, log_wrong): (Vec<f64>, Vec<f64>) = correct
                .iter()
                .zip(&total)
                .map(|(c, n)| {
                    let acc = (c / n).clamp(1e-6, 1.0 - 1e-6);
                    (acc.ln(), ((1.0 - acc) * wrong_share).ln())
                })
                .unzip();
            // E-step.
            post.iter_mut().for_each(|p| p.copy_from_slice(&log_prior));
            for &(t, w, l) in &data.answers {
                for (c, v) in post[t as usize].iter_mut().enumerate() {
                    *v += if c == l as usize {
                        log_right[w as usize]
                    } else {
                        log_wrong[w as usize]
                    };
                }
            }
            post.iter_mut().map(normalize_log).sum()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_accurate_pair_outvotes_three_coin_flippers() {
        let (rows, truth) = crate::aggregate::accurate_pair_and_coin_flippers();
        let data = Dataset::from_rows(&rows);
        let fit = OneCoinDawidSkene::default().fit(&data);
        let got: Vec<&str> = fit.labels().iter().map(|&l| &data.labels[l]).collect();
        assert_eq!(got, truth);
    }
}
