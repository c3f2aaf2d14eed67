//! Reliability diagrams: stated confidence against observed accuracy, in ten bins of stated
//! confidence, for checking that a method's confidences mean what they say.

use super::{Aggregator, Dataset, DatasetError, DawidSkene};

/// One bin: tasks whose stated confidence fell in it, their summed confidence and how many
/// were right.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bin {
    pub tasks: usize,
    pub confidence: f64,
    pub right: usize,
}

impl Bin {
    pub fn stated(&self) -> f64 {
        self.confidence / self.tasks.max(1) as f64
    }

    pub fn observed(&self) -> f64 {
        self.right as f64 / self.tasks.max(1) as f64
    }
}

/// Ten bins of stated confidence: [0, 0.1), …, [0.9, 1].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Reliability {
    pub bins: [Bin; 10],
}

impl Reliability {
    /// Counts one scored task.
    pub fn record(&mut self, confidence: f64, right: bool) {
        let i = ((confidence * 10.0) as usize).min(9);
        let bin = &mut self.bins[i];
        bin.tasks += 1;
        bin.confidence += confidence;
        bin.right += usize::from(right);
    }

    /// Adds another diagram's counts (pooling datasets).
    pub fn add(&mut self, other: &Reliability) {
        for (a, b) in self.bins.iter_mut().zip(&other.bins) {
            a.tasks += b.tasks;
            a.confidence += b.confidence;
            a.right += b.right;
        }
    }

    /// The largest |stated − observed| over bins with at least `min_tasks` tasks.
    pub fn worst_gap(&self, min_tasks: usize) -> f64 {
        self.bins
            .iter()
            .filter(|b| b.tasks >= min_tasks)
            .map(|b| (b.stated() - b.observed()).abs())
            .fold(0.0, f64::max)
    }
}

impl std::fmt::Display for Reliability {
    /// `[tasks stated/observed]` for each non-empty bin.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for b in self.bins.iter().filter(|b| b.tasks > 0) {
            write!(f, " [{} {:.3}/{:.3}]", b.tasks, b.stated(), b.observed())?;
        }
        Ok(())
    }
}

/// The default method's reliability on one dataset (crowd-kit CSVs) as a requester with gold
/// would see it: every other gold task is given to the fit as gold, and the rest are scored.
pub fn half_gold_reliability(answers: &str, gold: &str) -> Result<Reliability, DatasetError> {
    let mut data = Dataset::from_csv(answers)?;
    let mut truth = data.clone();
    truth.read_gold_csv(gold)?;
    let mut scored = vec![false; data.n_tasks()];
    let gold_tasks = (0..data.n_tasks()).filter(|&t| truth.gold[t].is_some());
    for (i, t) in gold_tasks.enumerate() {
        if i % 2 == 0 {
            data.gold[t] = truth.gold[t];
        } else {
            scored[t] = true;
        }
    }
    let fit = DawidSkene::auto().fit(&data);
    let mut diagram = Reliability::default();
    for (t, (label, confidence)) in fit.labels().into_iter().zip(fit.confidences()).enumerate() {
        if let (true, Some(g)) = (scored[t], truth.gold[t]) {
            diagram.record(confidence, label == g as usize);
        }
    }
    Ok(diagram)
}
