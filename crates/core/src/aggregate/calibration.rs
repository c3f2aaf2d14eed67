//! Calibrated confidences. A fitted model's task posteriors treat every answer as an
//! independent witness, which real crowds are not (annotators share blind spots), so the
//! stated confidence of the chosen label is mapped to one that matches how often it is right.
//! Every mapping keeps each task's label.
//!
//! - With gold (at least 30 answered gold tasks): isotonic regression of "the chosen label is
//!   right" on the chosen label's probability p over the gold tasks (Zadrozny & Elkan, KDD
//!   2002): the monotone map that fits the observed accuracy best, whatever its shape; the
//!   other labels share 1 − q in their proportions. Each gold task is scored by a fit that did
//!   not know its label (cross-fitting over five folds of the gold), since a fit that learnt
//!   the annotators' skill from a task's known label judges that task too kindly. The
//!   pool-adjacent-violators fit is a dozen lines written here: the Rust libraries that have
//!   it (linfa) would bring a linear-algebra stack for it.
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
const SAMPLE: usize = 20_000;

/// How a fit's posteriors become stated confidences.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calibration {
    /// softmax(ln p / T).
    Temperature(f64),
    /// The chosen label's probability p becomes the isotonic fit's value at p: knots (p, q),
    /// p rising, interpolated linearly between them and flat beyond the ends.
    Isotonic(Vec<(f64, f64)>),
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
        // Each gold task's chosen label's probability from a fit blind to its fold, and
        // whether that label is the gold one.
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
                cases.push((row[top], top == g as usize));
            }
        }
        isotonic(cases)
    }

    /// Applies the calibration to one posterior row in place; its most probable label stays
    /// the most probable.
    pub fn apply(&self, row: &mut [f64]) {
        match self {
            Calibration::Temperature(t) => temper(row, *t),
            Calibration::Isotonic(knots) => {
                let k = row.len();
                if k < 2 || knots.is_empty() {
                    return;
                }
                let top = argmax(row);
                let p = row[top];
                let rest = 1.0 - p;
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
                let q = interpolate(knots, p).max(floor);
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

/// The piecewise-linear function through `knots` (x rising) at x, flat beyond the ends.
fn interpolate(knots: &[(f64, f64)], x: f64) -> f64 {
    let i = knots.partition_point(|&(kx, _)| kx < x);
    match (i.checked_sub(1).map(|j| knots[j]), knots.get(i)) {
        (Some((x0, y0)), Some(&(x1, y1))) if x1 > x0 => y0 + (y1 - y0) * (x - x0) / (x1 - x0),
        (_, Some(&(_, y))) | (Some((_, y)), None) => y,
        (None, None) => x,
    }
}

/// Pool-adjacent-violators: the non-decreasing step function of p closest (least squares)
/// to the outcomes, as one knot per block (its mean p, its share right).
fn isotonic(mut cases: Vec<(f64, bool)>) -> Calibration {
    cases.sort_by(|a, b| a.0.total_cmp(&b.0));
    // Cases with the same p first become one group: (sum of p, number right, cases).
    let mut groups: Vec<(f64, f64, f64)> = Vec::new();
    let mut last_p = f64::NAN;
    for (p, right) in cases {
        let right = if right { 1.0 } else { 0.0 };
        match groups.last_mut() {
            Some(group) if p == last_p => *group = (group.0 + p, group.1 + right, group.2 + 1.0),
            _ => groups.push((p, right, 1.0)),
        }
        last_p = p;
    }
    // Then each group joins the block before it while that block is right as often or more.
    let mut blocks: Vec<(f64, f64, f64)> = Vec::with_capacity(groups.len());
    for group in groups {
        blocks.push(group);
        while let [.., a, b] = blocks[..] {
            if a.1 / a.2 < b.1 / b.2 {
                break;
            }
            blocks.pop();
            if let Some(last) = blocks.last_mut() {
                *last = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
            }
        }
    }
    Calibration::Isotonic(
        blocks
            .into_iter()
            .map(|(p, right, n)| (p / n, right / n))
            .collect(),
    )
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
        Calibration::Isotonic(vec![(0.5, 0.5), (1.0, 0.7)]).apply(&mut row);
        assert!((row[0] - 0.66).abs() < 1e-9, "{row:?}");
        assert!(
            (row[1] / row[2] - 4.0).abs() < 1e-9,
            "the rest keeps its proportions"
        );
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // A close runner-up is never pushed above the chosen label.
        let mut close = [0.5, 0.45, 0.05];
        Calibration::Isotonic(vec![(0.5, 0.2)]).apply(&mut close);
        assert!(close[0] >= close[1], "{close:?}");
    }

    #[test]
    fn isotonic_calibration_recovers_how_often_a_stated_confidence_is_right() {
        // Stated 0.99 but right 80% of the time; stated 0.6 and right 60%; stated 0.4 and
        // right 70% (out of order: pooled with 0.6).
        let mut cases = Vec::new();
        for i in 0..1000 {
            cases.push((0.99, i % 5 != 0));
            cases.push((0.6, i % 5 < 3));
            cases.push((0.4, i % 10 < 7));
        }
        let Calibration::Isotonic(knots) = isotonic(cases) else {
            panic!("isotonic");
        };
        assert_eq!(knots.len(), 2, "{knots:?}");
        assert!((knots[0].0 - 0.5).abs() < 1e-9 && (knots[0].1 - 0.65).abs() < 1e-9);
        assert!((knots[1].0 - 0.99).abs() < 1e-9 && (knots[1].1 - 0.8).abs() < 1e-9);
        assert!((interpolate(&knots, 0.745) - 0.725).abs() < 1e-9);
        assert_eq!(interpolate(&knots, 0.2), 0.65);
    }
}
