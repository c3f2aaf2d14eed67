//! Bayesian classifier combination by mean-field variational inference.
//!
//! - **EBCC** — Y. Li, B. Rubinstein, T. Cohn, "Exploiting Worker Correlation for Label
//!   Aggregation in Crowdsourcing", ICML 2019. Each true class k has M subtypes; a task's
//!   (class, subtype) pair is drawn from τ_k·π_km, and worker w answers l with probability
//!   v_wkm[l]. Workers who err alike on the same kind of item (correlation) are explained by a
//!   subtype instead of being counted as independent witnesses. Priors: τ ~ Dir(α) with α the
//!   majority vote's class counts (the paper's empirical prior), π_k ~ Dir(a_π/M), each row
//!   v_wkm ~ Dir(β) with β = 4 on the true label and 1 elsewhere. M = 10, a_π = 0.1, as
//!   published; the run with the highest evidence lower bound (ELBO) among the restarts is
//!   kept.
//! - **IBCC** — H.-C. Kim, Z. Ghahramani, "Bayesian Classifier Combination", AISTATS 2012:
//!   the same model with one subtype per class, i.e. Dawid–Skene with Dirichlet priors
//!   integrated over rather than maximised.
//!
//! Updates (per iteration): q(τ), q(π), q(v) are Dirichlet with counts from the task
//! posteriors ζ_ikm; then ζ_ikm ∝ exp(E ln τ_k + E ln π_km + Σ_answers E ln v_wkm[l]). Stops when
//! no task's class posterior moves by more than `tolerance`. The ELBO is Σ_i ln Z_i (each task's
//! normaliser) minus the Dirichlet posteriors' divergence from their priors.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statrs::function::gamma::{digamma, ln_gamma};

use super::dawid_skene::{ByTask, group_by_task};
use super::{Aggregator, Dataset, Fit, Posteriors, majority_vote, normalize_log, par_map};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ebcc {
    /// Subtypes per true class (M); 1 makes it IBCC.
    pub subtypes: usize,
    /// Total Dirichlet weight over a class's subtypes (a_π; each gets a_π / M): small, so
    /// only subtypes the data asks for keep any mass.
    pub subtype_prior: f64,
    /// Dirichlet pseudo-count of each confusion row on its true label (β_kk).
    pub diagonal: f64,
    /// … and on every other label (β_kl, l ≠ k).
    pub off_diagonal: f64,
    pub max_iterations: usize,
    /// Stop when no task's class posterior moved by more than this in an iteration.
    pub tolerance: f64,
    /// Independent random starts of the subtype assignment; the best ELBO wins.
    pub restarts: usize,
    pub seed: u64,
}

impl Default for Ebcc {
    /// EBCC with the published parameters.
    fn default() -> Self {
        Self {
            subtypes: 10,
            subtype_prior: 0.1,
            diagonal: 4.0,
            off_diagonal: 1.0,
            max_iterations: 500,
            tolerance: 1e-3,
            restarts: 5,
            seed: 1234,
        }
    }
}

impl Ebcc {
    /// IBCC: one subtype per class (nothing random to restart).
    pub fn ibcc() -> Self {
        Self {
            subtypes: 1,
            restarts: 1,
            ..Self::default()
        }
    }

    /// Fits the model and returns the fit with its ELBO (an approximation of the log evidence
    /// of the answers under the model, comparable across models of the same answers).
    pub fn fit_with_evidence(&self, data: &Dataset) -> (Fit, f64) {
        let by_task = group_by_task(data);
        let by_worker = ByWorker::of(data);
        let mut best: Option<(Posteriors, f64)> = None;
        for restart in 0..self.restarts.max(1) {
            let seed = self.seed.wrapping_add(restart as u64);
            let (post, elbo) = self.fit_once(data, &by_task, &by_worker, seed);
            if best.as_ref().is_none_or(|(_, b)| elbo > *b) {
                best = Some((post, elbo));
            }
        }
        let (posteriors, elbo) = best.unwrap_or_else(|| (Posteriors::zeros(0, 0), 0.0));
        (
            Fit {
                posteriors,
                log_likelihood: vec![elbo],
            },
            elbo,
        )
    }

    fn fit_once(
        &self,
        data: &Dataset,
        by_task: &ByTask,
        by_worker: &ByWorker,
        seed: u64,
    ) -> (Posteriors, f64) {
        let k = data.n_labels();
        let m = self.subtypes.max(1);
        let km = k * m;
        let mut classes = majority_vote::vote_shares(data);
        super::clamp_gold(data, &mut classes);
        if k == 0 || data.n_tasks() == 0 {
            return (classes, 0.0);
        }
        // The empirical class prior: the vote's expected class counts (at least 1 each).
        let alpha: Vec<f64> = (0..k)
            .map(|c| classes.iter().map(|p| p[c]).sum::<f64>().max(1.0))
            .collect();
        // ζ starts as the vote shares spread over subtypes at random (flat Dirichlet draws).
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut zeta = Posteriors::zeros(data.n_tasks(), km);
        for (row, shares) in zeta.iter_mut().zip(&classes) {
            for (cell, &share) in row.chunks_exact_mut(m).zip(shares) {
                let mut total = 0.0;
                for v in cell.iter_mut() {
                    *v = -(1.0 - rng.random::<f64>()).ln();
                    total += *v;
                }
                cell.iter_mut().for_each(|v| *v *= share / total);
            }
        }
        let mut elbo = 0.0;
        for _ in 0..self.max_iterations.max(1) {
            let params = self.update_params(data, by_worker, &zeta, &alpha, k, m);
            let (log_z, moved) = e_step(data, by_task, &params, &mut zeta, &mut classes, k, m);
            elbo = log_z - params.divergence;
            if moved <= self.tolerance {
                break;
            }
        }
        (classes, elbo)
    }

    /// q(τ), q(π), q(v) from ζ, as expected logs, and their divergence from the priors.
    fn update_params(
        &self,
        data: &Dataset,
        by_worker: &ByWorker,
        zeta: &Posteriors,
        alpha: &[f64],
        k: usize,
        m: usize,
    ) -> Params {
        let km = k * m;
        let mut counts = vec![0.0; km];
        for row in zeta {
            counts.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
        let eta: Vec<f64> = counts
            .iter()
            .map(|c| c + self.subtype_prior / m as f64)
            .collect();
        let nu: Vec<f64> = (0..k)
            .map(|c| alpha[c] + counts[c * m..(c + 1) * m].iter().sum::<f64>())
            .collect();
        let mut divergence = dirichlet_divergence(&nu, alpha);
        let pi_prior = vec![self.subtype_prior / m as f64; m];
        let digamma_nu_total = digamma(nu.iter().sum());
        let mut class_term = vec![0.0; km];
        for c in 0..k {
            let row = &eta[c * m..(c + 1) * m];
            divergence += dirichlet_divergence(row, &pi_prior);
            let total = digamma(row.iter().sum());
            let log_tau = digamma(nu[c]) - digamma_nu_total;
            for s in 0..m {
                class_term[c * m + s] = log_tau + digamma(row[s]) - total;
            }
        }
        // Per worker: counts μ[l][k·M + s], then E ln v in the same layout (an answer's
        // evidence for every (class, subtype) is one contiguous row).
        let per_worker = k * km;
        let workers: Vec<usize> = (0..data.n_workers()).collect();
        let ranges: Vec<&[usize]> = workers.chunks(256).collect();
        let beta = |truth: usize, label: usize| {
            if truth == label {
                self.diagonal
            } else {
                self.off_diagonal
            }
        };
        let blocks = par_map(ranges, |ws| {
            let mut out = vec![0.0; ws.len() * per_worker];
            let mut divergence = 0.0;
            let mut row = vec![0.0; k];
            let mut prior = vec![0.0; k];
            for (i, &w) in ws.iter().enumerate() {
                let mu = &mut out[i * per_worker..(i + 1) * per_worker];
                for l in 0..k {
                    for c in 0..k {
                        mu[l * km + c * m..l * km + (c + 1) * m].fill(beta(c, l));
                    }
                }
                for &(t, l) in by_worker.answers(w) {
                    let dst = &mut mu[l as usize * km..(l as usize + 1) * km];
                    dst.iter_mut()
                        .zip(&zeta[t as usize])
                        .for_each(|(a, v)| *a += v);
                }
                for cell in 0..km {
                    let c = cell / m;
                    for l in 0..k {
                        row[l] = mu[l * km + cell];
                        prior[l] = beta(c, l);
                    }
                    divergence += dirichlet_divergence(&row, &prior);
                    let total = digamma(row.iter().sum());
                    for l in 0..k {
                        mu[l * km + cell] = digamma(row[l]) - total;
                    }
                }
            }
            (out, divergence)
        });
        let mut log_v = Vec::with_capacity(data.n_workers() * per_worker);
        for (block, d) in blocks {
            log_v.extend_from_slice(&block);
            divergence += d;
        }
        Params {
            class_term,
            log_v,
            divergence,
        }
    }
}

/// Expected logs under the current q, and KL(q ‖ prior) over all the Dirichlets.
struct Params {
    /// E ln τ_k + E ln π_km, by k·M + s.
    class_term: Vec<f64>,
    /// E ln v_wkm[l], by ((w·K + l)·K + k)·M + s.
    log_v: Vec<f64>,
    divergence: f64,
}

/// ζ from the parameters (gold clamped), class posteriors summed from it; returns Σ ln Z and
/// the largest change of any class posterior.
fn e_step(
    data: &Dataset,
    by_task: &ByTask,
    params: &Params,
    zeta: &mut Posteriors,
    classes: &mut Posteriors,
    k: usize,
    m: usize,
) -> (f64, f64) {
    let km = k * m;
    let chunk = 4096;
    let items: Vec<_> = zeta
        .as_mut_slice()
        .chunks_mut(chunk * km)
        .zip(classes.as_mut_slice().chunks_mut(chunk * k))
        .enumerate()
        .collect();
    let parts = par_map(items, |(i, (zrows, crows))| {
        let (mut log_z, mut moved) = (0.0, 0.0f64);
        for (j, (z, c)) in zrows
            .chunks_exact_mut(km)
            .zip(crows.chunks_exact_mut(k))
            .enumerate()
        {
            let t = i * chunk + j;
            z.copy_from_slice(&params.class_term);
            for &cell in &by_task.cells[by_task.offsets[t]..by_task.offsets[t + 1]] {
                let evidence = &params.log_v[cell as usize * km..(cell as usize + 1) * km];
                z.iter_mut().zip(evidence).for_each(|(a, e)| *a += e);
            }
            if let Some(g) = data.gold[t] {
                for (cls, cell) in z.chunks_exact_mut(m).enumerate() {
                    if cls != g as usize {
                        cell.fill(f64::NEG_INFINITY);
                    }
                }
            }
            log_z += normalize_log(z);
            for (cls, v) in c.iter_mut().enumerate() {
                let now: f64 = z[cls * m..(cls + 1) * m].iter().sum();
                moved = moved.max((now - *v).abs());
                *v = now;
            }
        }
        (log_z, moved)
    });
    parts
        .into_iter()
        .fold((0.0, 0.0f64), |(a, b), (z, mv)| (a + z, b.max(mv)))
}

/// KL(Dir(posterior) ‖ Dir(prior)).
fn dirichlet_divergence(posterior: &[f64], prior: &[f64]) -> f64 {
    let a0: f64 = posterior.iter().sum();
    let b0: f64 = prior.iter().sum();
    let d0 = digamma(a0);
    let mut kl = ln_gamma(a0) - ln_gamma(b0);
    for (&a, &b) in posterior.iter().zip(prior) {
        kl += ln_gamma(b) - ln_gamma(a) + (a - b) * (digamma(a) - d0);
    }
    kl
}

/// Answers grouped by worker: `(task, label)` pairs.
struct ByWorker {
    offsets: Vec<usize>,
    pairs: Vec<(u32, u16)>,
}

impl ByWorker {
    fn of(data: &Dataset) -> Self {
        let mut offsets = vec![0usize; data.n_workers() + 1];
        for &(_, w, _) in &data.answers {
            offsets[w as usize + 1] += 1;
        }
        for i in 1..offsets.len() {
            offsets[i] += offsets[i - 1];
        }
        let mut fill = offsets.clone();
        let mut pairs = vec![(0, 0); data.answers.len()];
        for &(t, w, l) in &data.answers {
            pairs[fill[w as usize]] = (t, l);
            fill[w as usize] += 1;
        }
        Self { offsets, pairs }
    }

    fn answers(&self, worker: usize) -> &[(u32, u16)] {
        &self.pairs[self.offsets[worker]..self.offsets[worker + 1]]
    }
}

impl Aggregator for Ebcc {
    fn name(&self) -> &'static str {
        if self.subtypes <= 1 { "ibcc" } else { "ebcc" }
    }

    fn fit(&self, data: &Dataset) -> Fit {
        self.fit_with_evidence(data).0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_divergence_of_a_dirichlet_from_itself_is_zero_and_grows_with_evidence() {
        assert!(dirichlet_divergence(&[4.0, 1.0], &[4.0, 1.0]).abs() < 1e-12);
        let small = dirichlet_divergence(&[5.0, 1.0], &[4.0, 1.0]);
        let large = dirichlet_divergence(&[40.0, 1.0], &[4.0, 1.0]);
        assert!(small > 0.0 && large > small, "{small} {large}");
    }

    #[test]
    fn accurate_workers_outweigh_a_pair_who_copy_each_others_mistakes() {
        // Two copiers give the same answer, wrong on every third task; three independent
        // workers are right nine times in ten, each on different tasks.
        let mut rows: Vec<(String, String, String)> = Vec::new();
        let mut truth = Vec::new();
        for i in 0..300 {
            let y = if i % 2 == 0 { "a" } else { "b" };
            let wrong = if y == "a" { "b" } else { "a" };
            truth.push(y);
            for c in 0..2 {
                let said = if i % 3 == 0 { wrong } else { y };
                rows.push((format!("t{i}"), format!("copier{c}"), said.into()));
            }
            for h in 0..3 {
                let said = if (i + h * 3) % 10 == 0 { wrong } else { y };
                rows.push((format!("t{i}"), format!("honest{h}"), said.into()));
            }
        }
        let data = Dataset::from_rows(&rows);
        for method in [Ebcc::default(), Ebcc::ibcc()] {
            let (fit, elbo) = method.fit_with_evidence(&data);
            assert!(elbo.is_finite() && elbo < 0.0, "{elbo}");
            let right = fit
                .labels()
                .iter()
                .enumerate()
                .filter(|&(t, &l)| {
                    let i: usize = data
                        .tasks
                        .get(t)
                        .and_then(|n| n[1..].parse().ok())
                        .unwrap_or(0);
                    data.labels.get(l) == Some(truth[i])
                })
                .count();
            assert!(right >= 285, "{} right of 300 by {}", right, method.name());
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_fit() {
        let rows: Vec<(String, String, String)> = (0..60)
            .flat_map(|i| {
                (0..4).map(move |w| {
                    let l = if (i + w) % 5 == 0 { "x" } else { "y" };
                    (format!("t{i}"), format!("w{w}"), l.to_string())
                })
            })
            .collect();
        let data = Dataset::from_rows(&rows);
        let a = Ebcc::default().fit(&data);
        let b = Ebcc::default().fit(&data);
        assert_eq!(a, b);
    }
}
