//! Calibrated confidences without gold: a fitted model's task posteriors treat every answer
//! as an independent witness, which real crowds are not (annotators share blind spots), so
//! they are overconfident. The posteriors are tempered — softmax(score / T), which keeps
//! each task's label and changes only its confidence — with the temperature T under which
//! the tempered posterior of a task, computed without one of its answers, best predicts that
//! answer (leave-one-answer-out log-likelihood over a grid of T). Where answers on a task
//! agree more or less than independent witnesses would, T moves away from 1.
//!
//! Where the requester gave gold, the temperature is instead the one under which the gold
//! tasks' posteriors — computed from their answers as if they were not gold — give the gold
//! labels the highest likelihood (temperature scaling, Guo et al., ICML 2017). The answers
//! cannot tell how often the crowd as a whole is wrong together; gold can.

use super::dawid_skene::ByTask;
use super::{Dataset, normalize_log};

/// Temperatures tried: from slightly under-confident to strongly tempered.
const GRID: [f64; 16] = [
    0.8, 0.9, 1.0, 1.1, 1.2, 1.35, 1.5, 1.7, 1.9, 2.2, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0,
];

/// Gold tasks with answers needed before gold, not the answers, sets the calibration.
const MIN_GOLD: usize = 30;

/// At most this many answers are scored (spread evenly over the tasks): one number is being
/// estimated, and the rest would only cost time.
const SAMPLE: usize = 50_000;

/// The temperature for a fit: from gold where there is enough of it, else from the answers.
/// `log_prior` is the class prior, `log_conf` the workers' confusion matrices
/// (`[w][truth][answer]`), both in log space.
pub(crate) fn temperature(
    data: &Dataset,
    by_task: &ByTask,
    log_prior: &[f64],
    log_conf: &[f64],
) -> f64 {
    from_gold(data, by_task, log_prior, log_conf)
        .unwrap_or_else(|| from_answers(data, by_task, log_prior, log_conf))
}

/// One posterior row softmax(ln p / T), in place: the same label, a tempered confidence.
pub fn temper(row: &mut [f64], temperature: f64) {
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

/// Temperature scaling on the gold tasks, their posteriors computed from their answers as if
/// they were not gold; `None` with fewer than [`MIN_GOLD`] answered gold tasks.
fn from_gold(data: &Dataset, by_task: &ByTask, log_prior: &[f64], log_conf: &[f64]) -> Option<f64> {
    let k = data.n_labels();
    let mut scores: Vec<(Vec<f64>, usize)> = Vec::new();
    for (t, gold) in data.gold.iter().enumerate() {
        let Some(g) = gold else { continue };
        if by_task.offsets[t] == by_task.offsets[t + 1] {
            continue;
        }
        let mut s = vec![0.0; k];
        score(by_task, t, k, log_prior, log_conf, &mut s);
        scores.push((s, *g as usize));
    }
    if scores.len() < MIN_GOLD {
        return None;
    }
    let mut row = vec![0.0; k];
    let mut best = (f64::NEG_INFINITY, 1.0);
    // 0.5 to about 60, each step 10% above the last.
    for temp in (0..=50).map(|i| 0.5 * 1.1f64.powi(i)) {
        let mut ll = 0.0;
        for (s, g) in &scores {
            row.iter_mut().zip(s).for_each(|(r, v)| *r = v / temp);
            normalize_log(&mut row);
            ll += row[*g].max(1e-300).ln();
        }
        if ll > best.0 {
            best = (ll, temp);
        }
    }
    Some(best.1)
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
    use crate::aggregate::Posteriors;

    #[test]
    fn tempering_keeps_the_label_and_softens_the_confidence() {
        let mut p = Posteriors::zeros(2, 3);
        p[0].copy_from_slice(&[0.9, 0.08, 0.02]);
        p[1].copy_from_slice(&[0.0, 1.0, 0.0]);
        p.iter_mut().for_each(|row| temper(row, 2.0));
        assert!(
            p[0][0] > p[0][1] && p[0][0] < 0.9 && p[0][0] > 0.6,
            "{:?}",
            &p[0]
        );
        assert!((p[0].iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(&p[1], &[0.0, 1.0, 0.0]);
    }
}
