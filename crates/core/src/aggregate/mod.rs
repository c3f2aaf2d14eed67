//! Whole-dataset aggregation: methods that see every answer at once and learn per-annotator
//! parameters (Dawid–Skene and kin), besides simple voting. Each method is a file; all return
//! an immutable [`Fit`].
//!
//! The per-task [`ConsensusMethod`](crate::ConsensusMethod) used by the server on each answer is
//! the incremental face of the same idea.

mod dataset;
mod dawid_skene;
mod majority_vote;

pub use dataset::{Dataset, DatasetError};
pub use dawid_skene::DawidSkene;
pub use majority_vote::MajorityVoteFit;

/// The result of fitting a method on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// For each task, the posterior over the dataset's labels (rows sum to 1).
    pub posteriors: Vec<Vec<f64>>,
    /// Log-likelihood after each EM iteration (empty for non-iterative methods).
    pub log_likelihood: Vec<f64>,
}

impl Fit {
    /// The chosen label index of each task: the most probable one, ties to the lowest index.
    pub fn labels(&self) -> Vec<usize> {
        self.posteriors.iter().map(|p| argmax(p)).collect()
    }

    /// The posterior probability of each task's chosen label.
    pub fn confidences(&self) -> Vec<f64> {
        self.posteriors.iter().map(|p| p[argmax(p)]).collect()
    }
}

/// Index of the largest value; the first one on ties.
pub(crate) fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// A method that fits a whole dataset.
pub trait Aggregator {
    fn name(&self) -> &'static str;
    fn fit(&self, data: &Dataset) -> Fit;
}
