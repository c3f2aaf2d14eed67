//! Calibrated confidences. A fitted model's task posteriors treat every answer as an
//! independent witness, which real crowds are not (annotators share blind spots), so the
//! stated confidence of the chosen label is mapped to one that matches how often it is right.
//! Every mapping keeps each task's label.
//!
//! - With gold (at least 30 answered gold tasks): Platt scaling of the chosen label's
//!   log-odds, q = σ(a·logit p + b), fitted by likelihood on the gold tasks (J. Platt, 1999);
//!   the other labels share 1 − q in their proportions. Each gold task is scored by a fit that
//!   did not know its label (cross-fitting over five folds of the gold), since a fit that
//!   learnt the annotators' skill from a task's known label judges that task too kindly.
//! - Without gold: a temperature, softmax(ln p / T), under which the posterior of a task
//!   computed without one of its answers best predicts that answer. The answers cannot tell
//!   how often the crowd is wrong together, so this moves confidences little; gold can.

use super::dawid_skene::ByTask;
use super::{Dataset, argmax, normalize_log};

/// Temperatures tried without gold: from slightly under-confident to strongly tempered.
const GRID: [f64; 16] = [
    0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.7, 1.9, 2.2, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0,
];

/// Answered gold tasks needed before gold, not the answers, sets the calibration.
const MIN_GOLD: usize = 30;

/// Gold folds for cross-fitting: each gold task is scored by a fit that knew the other
/// folds' gold, so nearly as much gold as the final fit.
const FOLDS: usize = 5;

/// At most this many answers are scored without gold (spread evenly over the tasks): one
/// number is being estimated, and the rest would only cost time.
const SAMPLE: usize = 50_000;

/// How a fit's posteriors become stated confidences.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// softmax(ln p / T).
    Temperature(f64),
    /// The chosen label's probability p becomes σ(slope·logit p + intercept).
    Platt { slope: f64, intercept: f64 },
}

impl Default for Calibration {
    fn default() -> Self {
        Calibration::Temperature(1.0)
    }
}

impl Calibration {
    /// The calibration for a fit: from gold where there is enough of it, else from the
    /// answers. `log_prior` is the class prior and `log_conf` the workers' confusion matrices
    /// (`[w][truth][answer]`), both in log space; `refit` fits the same answers with other
    /// gold and returns those two.
    pub(crate) fn fit(
        data: &Dataset,
        by_task: &ByTask,
        log_prior: &[f64],
        log_conf: &[f64],
        refit: impl Fn(&Dataset) -> (Vec<f64>, Vec<f64>),
    ) -> Self {
        let k = data.n_labels();
        let answered = |t: usize| by_task.offsets[t] < by_task.offsets[t + 1];
        let gold_tasks: Vec<usize> = (0..data.n_tasks())
            .filter(|&t| data.gold[t].is_some() && answered(t))
            .collect();
        if k < 2 || gold_tasks.len() < MIN_GOLD {
            return Calibration::Temperature(from_answers(data, by_task, log_prior, log_conf));
        }
        // Each gold task's chosen label's log-odds from a fit blind to its fold, and whether
        // that label is the gold one.
        let mut cases: Vec<(f64, bool)> = Vec::with_capacity(gold_tasks.len());
        let mut row = vec![0.0; k];
        for fold in 0..FOLDS {
            let mut blind = data.clone();
            for (i, &t) in gold_tasks.iter().enumerate() {
                if i % FOLDS == fold {
                    blind.gold[t] = None;
                }
            }
            let (prior, conf) = refit(&blind);
            for (i, &t) in gold_tasks.iter().enumerate() {
                let (Some(g), true) = (data.gold[t], i % FOLDS == fold) else {
                    continue;
                };
                score(by_task, t, k, &prior, &conf, &mut row);
                normalize_log(&mut row);
                let top = argmax(&row);
                cases.push((logit(row[top]), top == g as usize));
            }
        }
        platt(&cases)
    }

    /// Applies the calibration to one posterior row in place; its most probable label stays
    /// the most probable.
    pub fn apply(&self, row: &mut [f64]) {
        match *self {
            Calibration::Temperature(t) => temper(row, t),
            Calibration::Platt { slope, intercept } => {
                let k = row.len();
                if k < 2 {
                    return;
                }
                let top = argmax(row);
                let rest = 1.0 - row[top];
                // Never below the runner-up's share once the rest is rescaled, so the chosen
                // label stays the most probable: q ≥ r(1 − q)/rest ⇔ q ≥ r/(rest + r).
                let runner_up = (0..k)
                    .filter(|&i| i != top)
                    .map(|i| row[i])
                    .fold(0.0, f64::max);
                let floor = if rest > 0.0 {
                    runner_up / (rest + runner_up)
                } else {
                    1.0 / k as f64
                };
                let q = logistic(slope * logit(row[top]) + intercept).max(floor);
                for (i, v) in row.iter_mut().enumerate() {
                    *v = if i == top {
                        q
                    } else if rest > 0.0 {
                        *v / rest * (1.0 - q)
                    } else {
                        (1.0 - q) / (k - 1) as f64
                    };
                }
            }
        }
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    (p / (1.0 - p)).ln()
}

fn logistic(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// One posterior row softmax(ln p / T), in place: the same label, a tempered confidence.
fn temper(row: &mut [f64], temperature: f64) {
    if temperature == 1.0 {
        return;
    }
    row.iter_mut().for_each(|v| {
        *v = if *v > 0.0 {
            v.ln() / temperature
        } else {
            f64::NEG_INFINITY
        }
    });
    normalize_log(row);
}

/// Task t's log-score for each class from its answers alone.
fn score(
    by_task: &ByTask,
    t: usize,
    k: usize,
    log_prior: &[f64],
    log_conf: &[f64],
    out: &mut [f64],
) {
    out.copy_from_slice(log_prior);
    for &cell in &by_task.cells[by_task.offsets[t]..by_task.offsets[t + 1]] {
        let (w, l) = (cell as usize / k, cell as usize % k);
        for (c, s) in out.iter_mut().enumerate() {
            *s += log_conf[(w * k + c) * k + l];
        }
    }
}

/// The slope and intercept (slope 0 to 3, intercept −4 to 4) under which the cases'
/// outcomes are most probable: a grid, then a finer grid around its best point.
fn platt(cases: &[(f64, bool)]) -> Calibration {
    let ll = |slope: f64, intercept: f64| -> f64 {
        cases
            .iter()
            .map(|&(x, right)| {
                let p = logistic(slope * x + intercept).clamp(1e-12, 1.0 - 1e-12);
                if right { p.ln() } else { (1.0 - p).ln() }
            })
            .sum()
    };
    let best_of = |points: &mut dyn Iterator<Item = (f64, f64)>| {
        points.fold((f64::NEG_INFINITY, 1.0, 0.0), |best, (slope, intercept)| {
            let v = ll(slope, intercept);
            if v > best.0 {
                (v, slope, intercept)
            } else {
                best
            }
        })
    };
    let coarse = best_of(
        &mut (0..=60).flat_map(|i| (0..=80).map(move |j| (0.05 * i as f64, -4.0 + 0.1 * j as f64))),
    );
    let (s0, i0) = (coarse.1, coarse.2);
    let best = best_of(&mut (-10..=10).flat_map(|i| {
        (-10..=10).map(move |j| ((s0 + 0.005 * i as f64).max(0.0), i0 + 0.01 * j as f64))
    }));
    Calibration::Platt {
        slope: best.1,
        intercept: best.2,
    }
}

/// The grid temperature under which leave-one-answer-out posteriors best predict the held-out
/// answers.
fn from_answers(data: &Dataset, by_task: &ByTask, log_prior: &[f64], log_conf: &[f64]) -> f64 {
    let k = data.n_labels();
    if k < 2 || data.answers.is_empty() {
        return 1.0;
    }
    let step = data.answers.len().div_ceil(SAMPLE).max(1);
    let mut ll = [0.0; GRID.len()];
    let mut score = vec![0.0; k];
    let mut without = vec![0.0; k];
    for t in (0..data.n_tasks()).step_by(step) {
        if data.gold[t].is_some() {
            continue;
        }
        let cells = &by_task.cells[by_task.offsets[t]..by_task.offsets[t + 1]];
        if cells.len() < 2 {
            continue;
        }
        self::score(by_task, t, k, log_prior, log_conf, &mut score);
        for &cell in cells {
            let (w, l) = (cell as usize / k, cell as usize % k);
            for (i, &temp) in GRID.iter().enumerate() {
                for (c, v) in without.iter_mut().enumerate() {
                    *v = (score[c] - log_conf[(w * k + c) * k + l]) / temp;
                }
                normalize_log(&mut without);
                let p: f64 = (0..k)
                    .map(|c| without[c] * log_conf[(w * k + c) * k + l].exp())
                    .sum();
                ll[i] += p.max(1e-300).ln();
            }
        }
    }
    let best = (0..GRID.len()).fold(2, |b, i| if ll[i] > ll[b] { i } else { b });
    GRID[best]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibration_keeps_the_label_and_moves_the_confidence() {
        let mut row = [0.9, 0.08, 0.02];
        Calibration::Temperature(2.0).apply(&mut row);
        assert!(row[0] > row[1] && row[0] < 0.9 && row[0] > 0.6, "{row:?}");
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        let mut certain = [0.0, 1.0, 0.0];
        Calibration::Temperature(2.0).apply(&mut certain);
        assert_eq!(certain, [0.0, 1.0, 0.0]);
        let mut row = [0.9, 0.08, 0.02];
        Calibration::Platt {
            slope: 0.5,
            intercept: 0.0,
        }
        .apply(&mut row);
        assert!(row[0] < 0.9 && row[0] > 0.6, "{row:?}");
        assert!(
            (row[1] / row[2] - 4.0).abs() < 1e-9,
            "the rest keeps its proportions"
        );
        // A close runner-up is never pushed above the chosen label.
        let mut close = [0.5, 0.45, 0.05];
        Calibration::Platt {
            slope: 0.1,
            intercept: -2.0,
        }
        .apply(&mut close);
        assert!(close[0] >= close[1], "{close:?}");
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn platt_scaling_recovers_how_often_a_stated_confidence_is_right() {
        // Stated 0.99 but right 80% of the time; stated 0.6 and right 60%.
        let mut cases = Vec::new();
        for i in 0..1000 {
            cases.push((logit(0.99), i % 5 != 0));
            cases.push((logit(0.6), i % 5 < 3));
        }
        let calibration = platt(&cases);
        let mapped = |p: f64| {
            let mut row = [p, 1.0 - p];
            calibration.apply(&mut row);
            row[0]
        };
        assert!((mapped(0.99) - 0.8).abs() < 0.02, "{}", mapped(0.99));
        assert!((mapped(0.6) - 0.6).abs() < 0.02, "{}", mapped(0.6));
    }
}
