//! Numeric answers (scores, counts, ratings on a continuous scale): the consensus is a number.
//!
//! - [`NumericMethod::Mean`]: the mean of the task's answers — best when errors are small and
//!   symmetric, hurt by any outlier.
//! - [`NumericMethod::Median`]: robust to a minority of wild answers.
//! - [`NumericMethod::WeightedMedian`]: each worker weighted by the inverse of their typical
//!   error (mean absolute distance from the consensus on the tasks they answered, shrunk
//!   toward the crowd's typical error by two pseudo-answers), alternating with the weighted
//!   median until the consensus stops moving — the continuous analogue of learning workers'
//!   skill, in the spirit of the CATD / PM methods in Zheng et al., "Truth Inference in
//!   Crowdsourcing: Is the Problem Solved?", VLDB 2017.
//!
//! ```
//! use tessera_core::aggregate::{NumericDataset, NumericMethod};
//! let data = NumericDataset::from_triples([
//!     ("t1", "a", 10.0), ("t1", "b", 12.0), ("t1", "c", 90.0),
//!     ("t2", "a", 50.0), ("t2", "b", 52.0),
//! ]).unwrap();
//! let fit = NumericMethod::Median.fit(&data);
//! assert_eq!(fit.values, [12.0, 51.0]);
//! ```

use super::DatasetError;
use super::names::{Interner, Names};
use super::records::read_records;

/// Numeric answers as dense indices: tasks and workers numbered by first appearance.
#[derive(Debug, Clone, Default)]
pub struct NumericDataset {
    pub tasks: Names,
    pub workers: Names,
    /// (task, worker, value).
    pub answers: Vec<(u32, u32, f64)>,
}

impl NumericDataset {
    pub fn from_triples<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str, f64)>,
    ) -> Result<Self, DatasetError> {
        let mut builder = NumericBuilder::default();
        rows.into_iter()
            .for_each(|(task, worker, value)| builder.push(task, worker, value));
        builder.finish()
    }

    /// Reads a `task,worker,label` CSV whose labels are numbers; a label that is not a finite
    /// number is an error naming its line.
    pub fn from_csv(text: &str) -> Result<Self, DatasetError> {
        let mut builder = NumericBuilder::default();
        read_records(
            text,
            ["task", "worker", "label"],
            |line, [task, worker, label]| {
                builder.push(task, worker, parse_value(line, label)?);
                Ok(())
            },
        )?;
        builder.finish()
    }
}

impl NumericDataset {
    /// Known true values from a `task,label` CSV, by task index (`None` for tasks it does
    /// not name; tasks without answers are ignored). A label that is not a finite number is
    /// an error naming its line.
    pub fn read_gold_csv(&self, text: &str) -> Result<Vec<Option<f64>>, DatasetError> {
        let index: std::collections::HashMap<&str, usize> =
            self.tasks.iter().enumerate().map(|(i, t)| (t, i)).collect();
        let mut gold = vec![None; self.tasks.len()];
        read_records(text, ["task", "label"], |line, [task, label]| {
            let value = parse_value(line, label)?;
            if let Some(&t) = index.get(task) {
                gold[t] = Some(value);
            }
            Ok(())
        })?;
        Ok(gold)
    }
}

/// A label as a finite number, or an error naming its line.
fn parse_value(line: usize, label: &str) -> Result<f64, DatasetError> {
    label
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite())
        .ok_or_else(|| DatasetError::Line {
            line,
            message: format!("label {label:?} is not a number"),
        })
}

#[derive(Default)]
struct NumericBuilder {
    tasks: Interner,
    workers: Interner,
    answers: Vec<(u32, u32, f64)>,
}

impl NumericBuilder {
    fn push(&mut self, task: &str, worker: &str, value: f64) {
        let (t, w) = (
            self.tasks.intern(task.as_bytes()),
            self.workers.intern(worker.as_bytes()),
        );
        self.answers.push((t, w, value));
    }

    fn finish(self) -> Result<NumericDataset, DatasetError> {
        if self.answers.is_empty() {
            return Err(DatasetError::Empty);
        }
        Ok(NumericDataset {
            tasks: self.tasks.into_names()?,
            workers: self.workers.into_names()?,
            answers: self.answers,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NumericMethod {
    Mean,
    Median,
    WeightedMedian,
}

/// A numeric consensus per task, and how much of the task's (weighted) answers lie within
/// the crowd's typical error of it — a confidence in [0, 1].
#[derive(Debug, Clone, PartialEq)]
pub struct NumericFit {
    pub values: Vec<f64>,
    pub confidences: Vec<f64>,
    /// Each worker's weight (1 for every worker in the unweighted methods).
    pub weights: Vec<f64>,
}

/// The weighted median: the midpoint of the lower one (the smallest value whose cumulative
/// weight from below reaches half) and the upper one (likewise from above). Equal weights
/// give the usual median, the middle pair's midpoint for an even count included.
fn weighted_median(values: &mut [(f64, f64)]) -> f64 {
    values.sort_by(|a, b| a.0.total_cmp(&b.0));
    let half = values.iter().map(|v| v.1).sum::<f64>() / 2.0;
    let reach = |mut iter: Box<dyn Iterator<Item = &(f64, f64)> + '_>| {
        let mut cumulative = 0.0;
        iter.find(|&&(_, w)| {
            cumulative += w;
            cumulative >= half * (1.0 - 1e-12)
        })
        .map_or(0.0, |v| v.0)
    };
    let lower = reach(Box::new(values.iter()));
    let upper = reach(Box::new(values.iter().rev()));
    (lower + upper) / 2.0
}

impl NumericMethod {
    pub fn fit(self, data: &NumericDataset) -> NumericFit {
        let mut by_task: Vec<Vec<(u32, f64)>> = vec![Vec::new(); data.tasks.len()];
        for &(t, w, v) in &data.answers {
            by_task[t as usize].push((w, v));
        }
        let mut weights = vec![1.0; data.workers.len()];
        let consensus = |weights: &[f64]| -> Vec<f64> {
            by_task
                .iter()
                .map(|answers| match self {
                    NumericMethod::Mean => {
                        answers.iter().map(|a| a.1).sum::<f64>() / answers.len() as f64
                    }
                    _ => weighted_median(
                        &mut answers
                            .iter()
                            .map(|&(w, v)| (v, weights[w as usize]))
                            .collect::<Vec<_>>(),
                    ),
                })
                .collect()
        };
        let mut values = consensus(&weights);
        if self == NumericMethod::WeightedMedian {
            for _ in 0..20 {
                weights = skill_weights(&by_task, &weights);
                let next = consensus(&weights);
                let moved = next.iter().zip(&values).any(|(a, b)| (a - b).abs() > 1e-9);
                values = next;
                if !moved {
                    break;
                }
            }
        }
        let typical = typical_error(data, &values);
        let confidences = by_task
            .iter()
            .zip(&values)
            .map(|(answers, &c)| {
                let total: f64 = answers.iter().map(|&(w, _)| weights[w as usize]).sum();
                let near: f64 = answers
                    .iter()
                    .filter(|&&(_, v)| (v - c).abs() <= typical)
                    .map(|&(w, _)| weights[w as usize])
                    .sum();
                if total > 0.0 { near / total } else { 0.0 }
            })
            .collect();
        NumericFit {
            values,
            confidences,
            weights,
        }
    }
}

/// The median absolute distance of all answers from their task's consensus.
fn typical_error(data: &NumericDataset, values: &[f64]) -> f64 {
    let mut errors: Vec<(f64, f64)> = data
        .answers
        .iter()
        .map(|&(t, _, v)| ((v - values[t as usize]).abs(), 1.0))
        .collect();
    weighted_median(&mut errors)
}

/// 1 / (each worker's mean absolute error against the weighted median of the *other*
/// answers on the same task, with two pseudo-answers at the crowd's mean error), normalised
/// to a mean weight of 1. Leaving the worker out matters: a median is one of the answers, and
/// judging that answer against itself would call its author perfect.
fn skill_weights(by_task: &[Vec<(u32, f64)>], weights: &[f64]) -> Vec<f64> {
    const PSEUDO: f64 = 2.0;
    let mut error = vec![0.0; weights.len()];
    let mut count = vec![0.0; weights.len()];
    let mut others = Vec::new();
    for answers in by_task.iter().filter(|a| a.len() > 1) {
        for (i, &(w, v)) in answers.iter().enumerate() {
            others.clear();
            others.extend(
                answers
                    .iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(_, &(o, x))| (x, weights[o as usize])),
            );
            error[w as usize] += (v - weighted_median(&mut others)).abs();
            count[w as usize] += 1.0;
        }
    }
    let crowd = (error.iter().sum::<f64>() / count.iter().sum::<f64>().max(1.0)).max(1e-9);
    let raw: Vec<f64> = error
        .iter()
        .zip(&count)
        .map(|(e, n)| (n + PSEUDO) / (e + PSEUDO * crowd))
        .collect();
    let mean = raw.iter().sum::<f64>() / raw.len() as f64;
    raw.iter().map(|w| w / mean).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gold_values_are_read_by_task_and_bad_ones_name_their_line() {
        let data =
            NumericDataset::from_triples([("t1", "a", 1.0), ("t2", "a", 2.0)]).expect("data");
        let gold = data
            .read_gold_csv("task,label\nt2,7.5\nunknown,1\n")
            .expect("gold");
        assert_eq!(gold, [None, Some(7.5)]);
        assert_eq!(
            data.read_gold_csv("task,label\nt1,1\nt2,many\n"),
            Err(DatasetError::Line {
                line: 3,
                message: "label \"many\" is not a number".into()
            })
        );
    }

    #[test]
    fn weighted_median_handles_halves_and_weights() {
        assert_eq!(weighted_median(&mut [(1.0, 1.0), (3.0, 1.0)]), 2.0);
        assert_eq!(
            weighted_median(&mut [(5.0, 1.0), (1.0, 1.0), (3.0, 1.0)]),
            3.0
        );
        assert_eq!(
            weighted_median(&mut [(1.0, 3.0), (3.0, 1.0), (9.0, 1.0)]),
            1.0
        );
    }

    #[test]
    fn a_careless_worker_loses_weight_and_the_consensus_moves_to_the_careful_ones() {
        // "c1", "c2" answer near the truth i·10; "x" is 30 off everywhere. On "pair", only
        // c1 and x answered: the plain median splits the difference, the weighted one
        // sides with c1.
        let mut rows: Vec<(String, String, f64)> = Vec::new();
        for i in 0..10 {
            let truth = i as f64 * 10.0;
            rows.push((format!("t{i}"), "c1".into(), truth + 1.0));
            rows.push((format!("t{i}"), "c2".into(), truth - 1.0));
            rows.push((format!("t{i}"), "x".into(), truth + 30.0));
        }
        rows.push(("pair".into(), "c1".into(), 50.0));
        rows.push(("pair".into(), "x".into(), 80.0));
        let data =
            NumericDataset::from_triples(rows.iter().map(|(t, w, v)| (t.as_str(), w.as_str(), *v)))
                .expect("data");
        assert_eq!(NumericMethod::Median.fit(&data).values[10], 65.0);
        let fit = NumericMethod::WeightedMedian.fit(&data);
        assert_eq!(fit.values[10], 50.0);
        assert!(fit.weights[2] < fit.weights[0] / 3.0, "{:?}", fit.weights);
        assert!((NumericMethod::Mean.fit(&data).values[0] - 10.0).abs() < 1e-9);
    }

    #[test]
    fn a_non_number_names_its_line() {
        let e =
            NumericDataset::from_csv("task,worker,label\nt,a,1.5\nt,b,high\n").expect_err("bad");
        assert_eq!(
            e,
            DatasetError::Line {
                line: 3,
                message: "label \"high\" is not a number".into()
            }
        );
    }
}
