//! Wawa (worker agreement with aggregate): a weighted vote where each worker's weight is the
//! share of their answers that agree with majority vote. One refinement round, no EM.
//! As in crowd-kit's `Wawa` (Toloka, "crowd-kit", JOSS 2024).

use super::majority_vote::vote_shares;
use super::{Aggregator, Dataset, Fit, Posteriors, argmax, clamp_gold};

#[derive(Debug, Clone, Copy, Default)]
pub struct Wawa;

impl Aggregator for Wawa {
    fn name(&self) -> &'static str {
        "wawa"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        let mut majority = vote_shares(data);
        clamp_gold(data, &mut majority);
        let winners: Vec<usize> = majority.iter().map(argmax).collect();
        let (mut agree, mut total) = (vec![0.0; data.n_workers()], vec![0.0; data.n_workers()]);
        for &(t, w, l) in &data.answers {
            total[w as usize] += 1.0;
            if winners[t as usize] == l as usize {
                agree[w as usize] += 1.0;
            }
        }
        let mut posteriors = Posteriors::zeros(data.n_tasks(), data.n_labels());
        for &(t, w, l) in &data.answers {
            posteriors[t as usize][l as usize] += agree[w as usize] / total[w as usize];
        }
        for (p, fallback) in posteriors.iter_mut().zip(majority.iter()) {
            let sum: f64 = p.iter().sum();
            if sum > 0.0 {
                p.iter_mut().for_each(|v| *v /= sum);
            } else {
                // Every answerer always disagreed with the majority: keep the plain vote.
                p.copy_from_slice(fallback);
            }
        }
        clamp_gold(data, &mut posteriors);
        Fit {
            posteriors,
            log_likelihood: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_who_agrees_more_outweighs_one_who_agrees_less() {
        // On t0..t3 everyone agrees except "odd", who always dissents; on "tie", "good" and
        // "odd" disagree: "good" (always with the majority) wins.
        let mut rows = Vec::new();
        let tasks = ["t0", "t1", "t2", "t3"];
        for t in tasks {
            rows.extend([(t, "good", "x"), (t, "other", "x"), (t, "odd", "y")]);
        }
        rows.extend([("tie", "good", "y"), ("tie", "odd", "x")]);
        let data = Dataset::from_triples(rows).expect("data");
        let fit = Wawa.fit(&data);
        let tie = data.tasks.iter().position(|t| t == "tie").expect("task");
        assert_eq!(&data.labels[fit.labels()[tie]], "y");
    }
}
