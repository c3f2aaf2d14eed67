//! Majority vote over a whole dataset: each task's posterior is its share of votes.
//! Duplicate rows count as votes, as given. Ties go to the label that sorts first.

use super::{Aggregator, Dataset, Fit, Posteriors, cores, par_map};

#[derive(Debug, Clone, Copy, Default)]
pub struct MajorityVoteFit;

/// Vote shares per task (rows sum to 1; a task has at least one answer by construction).
/// A big dataset's tasks are split in one range per core, each thread counting the votes
/// for its own range (so no two threads write the same row).
pub(crate) fn vote_shares(data: &Dataset) -> Posteriors {
    const MIN_PARALLEL: usize = 1 << 16;
    let k = data.n_labels().max(1);
    let mut shares = Posteriors::zeros(data.n_tasks(), data.n_labels());
    let parts = if data.answers.len() < MIN_PARALLEL {
        1
    } else {
        cores()
    };
    let per = data.n_tasks().div_ceil(parts).max(1);
    let ranges: Vec<_> = shares
        .as_mut_slice()
        .chunks_mut(per * k)
        .enumerate()
        .map(|(i, rows)| (i * per, rows))
        .collect();
    par_map(ranges, |(first, rows)| {
        let tasks = first..first + rows.len() / k;
        for &(t, _, l) in &data.answers {
            if tasks.contains(&(t as usize)) {
                rows[(t as usize - first) * k + l as usize] += 1.0;
            }
        }
        for row in rows.chunks_exact_mut(k) {
            let total: f64 = row.iter().sum();
            if total > 0.0 {
                row.iter_mut().for_each(|v| *v /= total);
            }
        }
    });
    shares
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
