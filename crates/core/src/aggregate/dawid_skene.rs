//! Dawid–Skene: each worker has a full confusion matrix π_w[k][l] = P(answer l | true label k),
//! and tasks' true labels have a prior ρ_k. EM alternates:
//! - E-step: P(y_i = k) ∝ ρ_k · Π_{answers (w, l) of i} π_w[k][l], computed in log space (the
//!   product of hundreds of small probabilities underflows otherwise);
//! - M-step: ρ and π re-estimated from the posteriors, with a symmetric Dirichlet pseudo-count
//!   `smoothing` so a worker who never saw a class gets no zero (whose log would be −∞).
//!
//! Stops when the log-likelihood's relative gain falls below `tolerance`, but never before
//! `min_iterations` (stopping after 2–5 iterations, as a plain tolerance rule often does,
//! leaves the estimates far from the optimum), and at `max_iterations` at the latest.
//!
//! With `pooled_prior` > 0, each worker's counts get that many pseudo-answers per row
//! distributed like the crowd's pooled confusion matrix (a hierarchical prior in the spirit of
//! Kim & Ghahramani's IBCC community models), instead of only the uniform `smoothing`.
//!
//! A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using the
//! EM Algorithm", Applied Statistics 28(1), 1979.
//!
//! ```
//! use tessera_core::aggregate::{Aggregator, Dataset, DawidSkene};
//! let rows = [("t1", "a", "yes"), ("t1", "b", "yes"), ("t1", "c", "no"),
//!             ("t2", "a", "no"), ("t2", "b", "no"), ("t2", "c", "no")];
//! let data = Dataset::from_triples(rows).unwrap();
//! let fit = DawidSkene::default().fit(&data);
//! assert_eq!(fit.labels(), [1, 0]); // labels sort as ["no", "yes"]
//! ```

use super::majority_vote::vote_shares;
use super::{Aggregator, Dataset, Fit, clamp_gold, em_done, normalize_log};

#[derive(Debug, Clone, Copy)]
pub struct DawidSkene {
    pub max_iterations: usize,
    pub min_iterations: usize,
    pub tolerance: f64,
    /// Dirichlet pseudo-count added to every confusion-matrix cell and class count.
    pub smoothing: f64,
    /// Extra Dirichlet pseudo-count on each confusion matrix's diagonal: the prior belief
    /// that a worker is better than chance. Breaks the symmetry where the data cannot (a
    /// lone worker, label switching) in favour of taking answers at face value.
    pub diagonal_prior: f64,
    /// Pseudo-answers per confusion-matrix row drawn from the pooled (all-worker) confusion
    /// matrix: shrinks workers with few answers toward the crowd instead of toward uniform.
    pub pooled_prior: f64,
}

impl Default for DawidSkene {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            min_iterations: 10,
            tolerance: 1e-7,
            smoothing: 0.01,
            diagonal_prior: 0.1,
            pooled_prior: 0.0,
        }
    }
}

impl DawidSkene {
    /// Dawid–Skene with each worker's confusion matrix shrunk toward the pooled matrix of the
    /// whole crowd by 4 pseudo-answers per row: a worker with a handful of answers is judged
    /// mostly like the crowd, one with hundreds mostly by their own record. (The weight was
    /// chosen from a coarse sweep, 0.5–8, over all development datasets at once.)
    pub fn pooled() -> Self {
        Self {
            pooled_prior: 4.0,
            ..Self::default()
        }
    }
}

/// Answers grouped by task: `answers[offsets[t]..offsets[t + 1]]` are task t's (worker, label).
struct ByTask {
    offsets: Vec<usize>,
    answers: Vec<(u32, u16)>,
}

fn group_by_task(data: &Dataset) -> ByTask {
    let mut offsets = vec![0usize; data.n_tasks() + 1];
    for &(t, _, _) in &data.answers {
        offsets[t as usize + 1] += 1;
    }
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    let mut fill = offsets.clone();
    let mut answers = vec![(0u32, 0u16); data.answers.len()];
    for &(t, w, l) in &data.answers {
        answers[fill[t as usize]] = (w, l);
        fill[t as usize] += 1;
    }
    ByTask { offsets, answers }
}

impl DawidSkene {
    /// M-step: log priors and log confusion matrices (flat: `[w][k][l]`) from posteriors.
    fn m_step(&self, data: &Dataset, by_task: &ByTask, post: &[Vec<f64>]) -> (Vec<f64>, Vec<f64>) {
        let k = data.n_labels();
        let mut prior = vec![self.smoothing; k];
        let mut conf = vec![self.smoothing; data.n_workers() * k * k];
        for (i, v) in conf.iter_mut().enumerate() {
            if (i % (k * k)).is_multiple_of(k + 1) {
                *v += self.diagonal_prior;
            }
        }
        for (t, p) in post.iter().enumerate() {
            for (c, &v) in p.iter().enumerate() {
                prior[c] += v;
            }
            for &(w, l) in &by_task.answers[by_task.offsets[t]..by_task.offsets[t + 1]] {
                let base = w as usize * k * k;
                for (c, &v) in p.iter().enumerate() {
                    conf[base + c * k + l as usize] += v;
                }
            }
        }
        let total: f64 = prior.iter().sum();
        prior.iter_mut().for_each(|v| *v = (*v / total).ln());
        if self.pooled_prior > 0.0 {
            let mut pooled = vec![0.0; k * k];
            for matrix in conf.chunks(k * k) {
                pooled.iter_mut().zip(matrix).for_each(|(p, v)| *p += v);
            }
            for row in pooled.chunks_mut(k) {
                let sum: f64 = row.iter().sum();
                row.iter_mut().for_each(|v| *v *= self.pooled_prior / sum);
            }
            for matrix in conf.chunks_mut(k * k) {
                matrix.iter_mut().zip(&pooled).for_each(|(v, p)| *v += p);
            }
        }
        for row in conf.chunks_mut(k) {
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v = (*v / sum).ln());
        }
        (prior, conf)
    }

    /// E-step: posteriors in place; returns the log-likelihood.
    fn e_step(
        &self,
        by_task: &ByTask,
        k: usize,
        log_prior: &[f64],
        log_conf: &[f64],
        post: &mut [Vec<f64>],
    ) -> f64 {
        let mut ll = 0.0;
        for (t, p) in post.iter_mut().enumerate() {
            p.copy_from_slice(log_prior);
            for &(w, l) in &by_task.answers[by_task.offsets[t]..by_task.offsets[t + 1]] {
                let base = w as usize * k * k + l as usize;
                for (c, v) in p.iter_mut().enumerate() {
                    *v += log_conf[base + c * k];
                }
            }
            ll += normalize_log(p);
        }
        ll
    }
}

impl Aggregator for DawidSkene {
    fn name(&self) -> &'static str {
        "ds"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        let k = data.n_labels();
        let by_task = group_by_task(data);
        let mut post = vote_shares(data);
        clamp_gold(data, &mut post);
        let mut history: Vec<f64> = Vec::new();
        for _ in 0..self.max_iterations {
            let (log_prior, log_conf) = self.m_step(data, &by_task, &post);
            let ll = self.e_step(&by_task, k, &log_prior, &log_conf, &mut post);
            // Gold tasks stay clamped: they teach the confusion matrices, they are not inferred.
            clamp_gold(data, &mut post);
            // The M-step maximises likelihood plus the Dirichlet log-prior, so that sum is what
            // EM never decreases and what convergence is judged on. Where the likelihood is
            // flat (one worker: any confusion matrix explains the answers) it stops instead of
            // letting the prior slowly wash the answers out.
            let diagonal: f64 = log_conf
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % (k * k)).is_multiple_of(k + 1))
                .map(|(_, v)| v)
                .sum();
            let objective = ll
                + self.smoothing * (log_prior.iter().sum::<f64>() + log_conf.iter().sum::<f64>())
                + self.diagonal_prior * diagonal;
            if em_done(&mut history, objective, self.tolerance, self.min_iterations) {
                break;
            }
        }
        Fit {
            posteriors: post,
            log_likelihood: history,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reliable_minority_beats_spammers_where_it_has_a_track_record() {
        // Workers r1, r2 agree with each other everywhere; s1..s3 answer "a" always.
        let mut rows = Vec::new();
        let truth = ["a", "b", "b", "a", "b", "b", "b", "a", "b", "b"];
        let tasks: Vec<String> = (0..truth.len()).map(|i| format!("t{i}")).collect();
        for (i, &y) in truth.iter().enumerate() {
            rows.push((tasks[i].as_str(), "r1", y));
            rows.push((tasks[i].as_str(), "r2", y));
            for s in ["s1", "s2", "s3"] {
                rows.push((tasks[i].as_str(), s, "a"));
            }
        }
        let data = Dataset::from_triples(rows).expect("data");
        let fit = DawidSkene::default().fit(&data);
        let got: Vec<&str> = fit
            .labels()
            .iter()
            .map(|&l| data.labels[l].as_str())
            .collect();
        assert_eq!(got, truth);
        assert!(
            fit.log_likelihood.windows(2).all(|w| w[1] >= w[0] - 1e-9),
            "EM never decreases the likelihood"
        );
    }

    #[test]
    fn a_lone_dissenting_answer_does_not_flip_a_task() {
        // Three workers agree on 20 tasks; "n" answered one task, against them. With or
        // without the pooled prior, the contested task stays with the crowd, confidently.
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for i in 0..20 {
            let y = if i % 2 == 0 { "x" } else { "y" };
            for w in ["a", "b", "c"] {
                rows.push((format!("t{i}"), w.to_owned(), y.to_owned()));
            }
        }
        rows.push(("t0".to_owned(), "n".to_owned(), "y".to_owned()));
        let data = Dataset::from_triples(
            rows.iter()
                .map(|(t, w, l)| (t.as_str(), w.as_str(), l.as_str())),
        )
        .expect("data");
        for method in [DawidSkene::default(), DawidSkene::pooled()] {
            assert_eq!(method.fit(&data).labels()[0], 0, "{method:?}");
        }
        let plain = DawidSkene::default().fit(&data).confidences()[0];
        let pooled = DawidSkene::pooled().fit(&data).confidences()[0];
        assert!(plain > 0.99 && pooled > 0.99, "{plain} {pooled}");
    }

    #[test]
    fn posteriors_are_distributions() {
        let data = Dataset::from_triples([("t", "a", "x"), ("t", "b", "y"), ("u", "a", "y")])
            .expect("data");
        for p in DawidSkene::default().fit(&data).posteriors {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }
}
