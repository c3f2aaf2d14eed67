//! Weighted majority vote: each worker's vote counts ln((K−1)·a/(1−a)), where a is the
//! worker's estimated accuracy — the weights that make a weighted vote the Bayes-optimal
//! decision when workers err independently and uniformly (Nitzan & Paroush, "Optimal
//! decision schemes in uncertain dichotomous choice situations", International Economic
//! Review 23(2), 1982). The task's posterior is the softmax of the weighted votes, which
//! under that model is the true posterior probability.
//!
//! A worker's accuracy is measured on gold tasks where the dataset has them, and elsewhere by
//! agreement with the *other* answers' majority on the same task (leaving the worker's own
//! vote out, which would otherwise flatter everyone), with a Laplace pseudo-count so a
//! worker with two answers is not judged perfect. Workers no better than chance keep a token
//! weight (0.01), so a task answered only by them still goes to its plain majority, with a
//! confidence near chance. One pass, no EM.
//!
//! ```
//! use tessera_core::aggregate::{Aggregator, Dataset, WeightedMajorityVote};
//! let rows = [("t1", "a", "yes"), ("t1", "b", "yes"), ("t1", "c", "no"),
//!             ("t2", "a", "no"), ("t2", "b", "no"), ("t2", "c", "no")];
//! let data = Dataset::from_triples(rows).unwrap();
//! let fit = WeightedMajorityVote.fit(&data);
//! assert_eq!(fit.labels(), [1, 0]); // labels sort as ["no", "yes"]
//! ```

use super::{Aggregator, Dataset, Fit, Posteriors, clamp_gold, normalize_log};

#[derive(Debug, Clone, Copy, Default)]
pub struct WeightedMajorityVote;

/// The weight of a worker no better than chance.
const MIN_WEIGHT: f64 = 0.01;

impl WeightedMajorityVote {
    /// Each worker's vote weight.
    pub fn weights(data: &Dataset) -> Vec<f64> {
        let k = data.n_labels();
        let mut counts = vec![vec![0u32; k]; data.n_tasks()];
        for &(t, _, l) in &data.answers {
            counts[t as usize][l as usize] += 1;
        }
        let (mut agree, mut judged) = (vec![0.0; data.n_workers()], vec![0.0; data.n_workers()]);
        for &(t, w, l) in &data.answers {
            let (t, w, l) = (t as usize, w as usize, l as usize);
            if let Some(g) = data.gold[t] {
                judged[w] += 1.0;
                agree[w] += f64::from(u8::from(g as usize == l));
                continue;
            }
            let others = |c: usize| counts[t][c] - u32::from(c == l);
            let top = (0..k).map(others).max().unwrap_or(0);
            if top == 0 {
                continue; // nobody else answered this task
            }
            let tied = (0..k).filter(|&c| others(c) == top).count();
            judged[w] += 1.0;
            if others(l) == top {
                agree[w] += 1.0 / tied as f64;
            }
        }
        agree
            .iter()
            .zip(&judged)
            .map(|(a, n)| {
                let accuracy = (a + 1.0) / (n + 2.0);
                let odds = (k.max(2) - 1) as f64 * accuracy / (1.0 - accuracy);
                odds.ln().max(MIN_WEIGHT)
            })
            .collect()
    }
}

impl Aggregator for WeightedMajorityVote {
    fn name(&self) -> &'static str {
        "wmv"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        let weights = Self::weights(data);
        let mut scores = Posteriors::zeros(data.n_tasks(), data.n_labels());
        for &(t, w, l) in &data.answers {
            scores[t as usize][l as usize] += weights[w as usize];
        }
        for p in scores.iter_mut() {
            normalize_log(p);
        }
        clamp_gold(data, &mut scores);
        Fit {
            posteriors: scores,
            log_likelihood: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proven_worker_outweighs_two_who_disagree_with_everyone() {
        // "good" agrees with the crowd on ten tasks; "bad1" and "bad2" always dissent there.
        // On the contested task, good's weight beats the two chance-level votes.
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for i in 0..10 {
            for w in ["good", "x", "y"] {
                rows.push((format!("t{i}"), w.into(), "a".into()));
            }
            rows.push((format!("t{i}"), "bad1".into(), "b".into()));
            rows.push((format!("t{i}"), "bad2".into(), "c".into()));
        }
        rows.push(("hard".into(), "good".into(), "a".into()));
        rows.push(("hard".into(), "bad1".into(), "b".into()));
        rows.push(("hard".into(), "bad2".into(), "b".into()));
        let data = Dataset::from_rows(&rows);
        let weights = WeightedMajorityVote::weights(&data);
        assert!(weights[0] > 1.0 && weights[3] == MIN_WEIGHT, "{weights:?}");
        let fit = WeightedMajorityVote.fit(&data);
        assert_eq!(&data.labels[fit.labels()[10]], "a");
    }
}
