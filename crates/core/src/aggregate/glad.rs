//! GLAD (Generative model of Labels, Abilities, and Difficulties): worker w has an ability
//! α_w (negative for adversarial workers), task t an inverse difficulty β_t > 0, and an
//! answer is correct with probability σ(α_w·β_t); a wrong answer is any other label with
//! equal probability. EM: the E-step infers each task's label; the M-step maximises the
//! expected log-likelihood plus Gaussian priors α ~ N(1, 1), β ~ N(1, 1) by Newton steps,
//! one coordinate at a time (the objective is concave in each α_w with β fixed and in each
//! β_t with α fixed, so each step is safe). As in the paper the class prior is uniform:
//! re-estimating it lets GLAD, like one-coin models, drift toward the commonest label
//! (on `zheng_s_rel` that cost 20 points).
//!
//! J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma and J. Movellan, "Whose Vote Should Count More:
//! Optimal Integration of Labels from Labelers of Unknown Expertise", NIPS 2009.
//!
//! ```
//! use tessera_core::aggregate::{Aggregator, Dataset, Glad};
//! let rows = [("t1", "a", "yes"), ("t1", "b", "yes"), ("t1", "c", "no"),
//!             ("t2", "a", "no"), ("t2", "b", "no"), ("t2", "c", "no")];
//! let data = Dataset::from_triples(rows).unwrap();
//! let fit = Glad::default().fit(&data);
//! assert_eq!(fit.labels(), [1, 0]); // labels sort as ["no", "yes"]
//! ```

use super::{Aggregator, Dataset, EmLimits, Fit, normalize_log, run_em};

#[derive(Debug, Clone, Copy)]
pub struct Glad {
    pub limits: EmLimits,
    /// Newton sweeps over all α then all β in each M-step.
    pub newton_steps: usize,
}

impl Default for Glad {
    fn default() -> Self {
        Self {
            limits: EmLimits::default(),
            newton_steps: 3,
        }
    }
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// ln σ(x), stable for large |x|.
fn log_sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        -(-x).exp().ln_1p()
    } else {
        x - x.exp().ln_1p()
    }
}

impl Glad {
    /// One Newton step on each parameter of one side: `theta[i]` multiplies `other[j]` for
    /// each (i, j, correct-probability) triple; prior N(1, 1) on every `theta`.
    fn newton(theta: &mut [f64], pairs: &[(u32, u32, f64)], other: &[f64], positive: bool) {
        let mut grad: Vec<f64> = theta.iter().map(|v| 1.0 - v).collect();
        let mut hess = vec![-1.0; theta.len()];
        for &(i, j, correct) in pairs {
            let (i, o) = (i as usize, other[j as usize]);
            let s = sigmoid(theta[i] * o);
            grad[i] += o * (correct - s);
            hess[i] -= o * o * s * (1.0 - s);
        }
        for ((v, g), h) in theta.iter_mut().zip(grad).zip(hess) {
            *v -= g / h;
            if positive {
                *v = v.max(1e-3);
            }
        }
    }
}

impl Aggregator for Glad {
    fn name(&self) -> &'static str {
        "glad"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        let k = data.n_labels();
        let log_wrong_share = -((k.max(2) - 1) as f64).ln();
        let mut alpha = vec![1.0; data.n_workers()];
        let mut beta = vec![1.0; data.n_tasks()];
        // (worker, task, P(answer correct)) and (task, worker, …), refreshed each M-step.
        let mut by_worker: Vec<(u32, u32, f64)> = Vec::with_capacity(data.answers.len());
        let mut by_task: Vec<(u32, u32, f64)> = Vec::with_capacity(data.answers.len());
        run_em(data, self.limits, |post| {
            by_worker.clear();
            by_task.clear();
            for &(t, w, l) in &data.answers {
                let correct = post[t as usize][l as usize];
                by_worker.push((w, t, correct));
                by_task.push((t, w, correct));
            }
            for _ in 0..self.newton_steps {
                Self::newton(&mut alpha, &by_worker, &beta, false);
                Self::newton(&mut beta, &by_task, &alpha, true);
            }
            let uniform = -(k as f64).ln();
            post.iter_mut().for_each(|p| p.fill(uniform));
            for &(t, w, l) in &data.answers {
                let x = alpha[w as usize] * beta[t as usize];
                let (right, wrong) = (log_sigmoid(x), log_sigmoid(-x) + log_wrong_share);
                for (c, v) in post[t as usize].iter_mut().enumerate() {
                    *v += if c == l as usize { right } else { wrong };
                }
            }
            let ll: f64 = post.iter_mut().map(normalize_log).sum();
            ll - alpha
                .iter()
                .chain(&beta)
                .map(|v| (v - 1.0).powi(2) / 2.0)
                .sum::<f64>()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_adversarial_worker_is_read_in_reverse_and_hard_tasks_get_low_beta() {
        // Binary tasks: "r1".."r3" right everywhere, "adv" always wrong. On "split" only
        // "adv" and "r1" answered, disagreeing: the adversary's answer counts against itself.
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for i in 0..12 {
            let (y, n) = if i % 2 == 0 { ("p", "q") } else { ("q", "p") };
            for w in ["r1", "r2", "r3"] {
                rows.push((format!("t{i}"), w.into(), y.into()));
            }
            rows.push((format!("t{i}"), "adv".into(), n.into()));
        }
        rows.push(("split".into(), "adv".into(), "p".into()));
        rows.push(("split".into(), "r2".into(), "q".into()));
        let data = Dataset::from_rows(&rows);
        let fit = Glad::default().fit(&data);
        let labels: Vec<&str> = fit.labels().iter().map(|&l| &data.labels[l]).collect();
        assert_eq!(labels[0], "p");
        assert_eq!(labels[1], "q");
        assert_eq!(labels[12], "q", "the adversary's 'p' points to 'q'");
        assert!(fit.confidences()[0] > 0.9);
    }

    #[test]
    fn log_sigmoid_is_stable() {
        assert!((log_sigmoid(0.0) - 0.5f64.ln()).abs() < 1e-12);
        assert!(log_sigmoid(-800.0).is_finite() && log_sigmoid(800.0) == 0.0);
    }
}
