//! How far each annotator's confusion matrix may stray from their one-coin matrix, learned
//! from the answers (empirical Bayes): the Dirichlet strength under which the workers' soft
//! answer counts are most probable.
//!
//! Each row k of worker w's confusion matrix is drawn from Dir(S·m_wk), where m_wk is the
//! worker's one-coin row (their overall accuracy on the true label, the rest spread evenly)
//! and S = K·s. The counts n_wk· of a row then have the Dirichlet–multinomial marginal
//! likelihood Γ(S)/Γ(S + N_wk) · Π_l Γ(S·m_wkl + n_wkl)/Γ(S·m_wkl): large S says every worker
//! is one-coin (one accuracy, errors spread evenly), small S says each worker's per-class
//! skill speaks for itself. The strength with the highest total over every row of every
//! worker is chosen from a log-spaced grid, so the model between one-coin and full
//! confusion is picked by the evidence of the answers, not by a constant tuned on data.

use statrs::function::gamma::ln_gamma;

/// Per-cell strengths tried (s; S = K·s per row): ⅛ to 4,096, doubling.
pub(crate) const GRID: [f64; 16] = [
    0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0,
    4096.0,
];

/// The grid strength under which the soft counts `cells` (`[w][answer][truth]`, K × K per
/// worker) are most probable.
pub(crate) fn strength(cells: &[f64], k: usize) -> f64 {
    if k < 2 {
        return GRID[0];
    }
    let mut best = (f64::NEG_INFINITY, GRID[0]);
    for &s in &GRID {
        let total: f64 = cells.chunks(k * k).map(|w| worker_evidence(w, k, s)).sum();
        if total > best.0 {
            best = (total, s);
        }
    }
    best.1
}

/// Σ over a worker's rows of the Dirichlet–multinomial log marginal of its counts.
fn worker_evidence(counts: &[f64], k: usize, s: f64) -> f64 {
    // counts[answer * k + truth]
    let total: f64 = counts.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let right: f64 = (0..k).map(|c| counts[c * k + c]).sum();
    // The one-coin mean, kept off 0 and 1 (a Dirichlet parameter must be positive).
    let accuracy = ((right + 0.5) / (total + 1.0)).clamp(1e-6, 1.0 - 1e-6);
    let off = (1.0 - accuracy) / (k - 1) as f64;
    let row_total = s * k as f64;
    let mut sum = 0.0;
    for truth in 0..k {
        let n: f64 = (0..k).map(|a| counts[a * k + truth]).sum();
        if n <= 0.0 {
            continue;
        }
        sum += ln_gamma(row_total) - ln_gamma(row_total + n);
        for answer in 0..k {
            let x = counts[answer * k + truth];
            if x > 0.0 {
                let alpha = row_total * if answer == truth { accuracy } else { off };
                sum += ln_gamma(alpha + x) - ln_gamma(alpha);
            }
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[answer][truth]` counts of one worker per row of `confusion` (`[truth][answer]`),
    /// `n` answers per true class.
    fn counts(confusion: &[[f64; 2]; 2], n: f64) -> Vec<f64> {
        let mut c = vec![0.0; 4];
        for truth in 0..2 {
            for answer in 0..2 {
                c[answer * 2 + truth] = confusion[truth][answer] * n;
            }
        }
        c
    }

    #[test]
    fn one_coin_workers_ask_for_a_strong_prior_and_class_biased_ones_for_a_weak_one() {
        // Workers whose accuracy is the same on both classes: the evidence leans one-coin.
        let mut one_coin = Vec::new();
        for acc in [0.6, 0.7, 0.8, 0.9, 0.95] {
            one_coin.extend(counts(&[[acc, 1.0 - acc], [1.0 - acc, acc]], 200.0));
        }
        // Workers who say "yes" to nearly everything: right on one class, wrong on the other.
        let mut biased = Vec::new();
        for bias in [0.1, 0.9, 0.2, 0.8, 0.15] {
            biased.extend(counts(&[[1.0 - bias, bias], [bias, 1.0 - bias]], 5.0));
            biased.extend(counts(&[[0.97, 0.03], [0.6, 0.4]], 200.0));
            biased.extend(counts(&[[0.4, 0.6], [0.02, 0.98]], 200.0));
        }
        let strong = strength(&one_coin, 2);
        let weak = strength(&biased, 2);
        assert!(strong >= 64.0, "one-coin crowd chose {strong}");
        assert!(weak <= 4.0, "class-biased crowd chose {weak}");
    }
}
