//! Majority vote over a whole dataset: each task's posterior is its share of votes.
//! Duplicate rows count as votes, as given. Ties go to the label that sorts first.

use super::{Aggregator, Dataset, Fit, Posteriors};

#[derive(Debug, Clone, Copy, Default)]
pub struct MajorityVoteFit;

/// Vote shares per task (rows sum to 1; a task has at least one answer by construction).
pub(crate) fn vote_shares(data: &Dataset) -> Posteriors {
    let mut counts = Posteriors::zeros(data.n_tasks(), data.n_labels());
    for &(t, _, l) in &data.answers {
        counts[t as usize][l as usize] += 1.0;
    }
    for row in counts.iter_mut() {
        let total: f64 = row.iter().sum();
        if total > 0.0 {
            row.iter_mut().for_each(|v| *v /= total);
        }
    }
    counts
}

impl Aggregator for MajorityVoteFit {
    fn name(&self) -> &'static str {
        "mv"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        Fit {
            posteriors: vote_shares(data),
            log_likelihood: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_ties() {
        let d = Dataset::from_triples([
            ("t", "a", "y"),
            ("t", "b", "x"),
            ("t", "c", "y"),
            ("u", "a", "y"),
            ("u", "b", "x"),
        ])
        .expect("data");
        let fit = MajorityVoteFit.fit(&d);
        assert_eq!(fit.labels(), [1, 0]); // "y" wins t; "x" (sorts first) wins the tie on u
        assert!((fit.confidences()[0] - 2.0 / 3.0).abs() < 1e-12);
    }
}
