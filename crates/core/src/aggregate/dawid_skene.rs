//! Dawid–Skene: each worker has a full confusion matrix π_w[k][l] = P(answer l | true label k),
//! and tasks' true labels have a prior ρ_k. EM alternates:
//! - E-step: P(y_i = k) ∝ ρ_k · Π_{answers (w, l) of i} π_w[k][l], computed in log space (the
//!   product of hundreds of small probabilities underflows otherwise);
//! - M-step: ρ and π re-estimated from the posteriors, with a symmetric Dirichlet pseudo-count
//!   `smoothing` so a worker who never saw a class gets no zero (whose log would be −∞).
//!
//! Stops by [`EmLimits`]: when the objective's relative gain falls below a tolerance, but
//! never before a minimum number of iterations (stopping after 2–5, as a plain tolerance rule
//! often does, leaves the estimates far from the optimum).
//!
//! With `worker_prior` > 0, each worker's confusion rows get Dirichlet pseudo-counts shaped
//! like that worker's own one-coin matrix (an empirical-Bayes prior in the spirit of Bayesian
//! classifier combination, Kim & Ghahramani 2012), instead of only the uniform `smoothing`.
//!
//! A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using the
//! EM Algorithm", Applied Statistics 28(1), 1979.
//!
//! ```
//! use tessera_core::aggregate::{Aggregator, Dataset, DawidSkene};
//! let rows = [("t1", "a", "yes"), ("t1", "b", "yes"), ("t1", "c", "no"),
//!             ("t2", "a", "no"), ("t2", "b", "no"), ("t2", "c", "no")];
//! let data = Dataset::from_triples(rows).unwrap();
//! let fit = DawidSkene::default().fit(&data);
//! assert_eq!(fit.labels(), [1, 0]); // labels sort as ["no", "yes"]
//! ```

use super::calibration::Calibration;
use super::{
    Aggregator, Dataset, EmLimits, EmRun, Fit, Posteriors, fell, normalize_log, par_ranges,
    par_rows_mut,
};

#[derive(Debug, Clone, Copy)]
pub struct DawidSkene {
    pub limits: EmLimits,
    /// Dirichlet pseudo-count added to every confusion-matrix cell and class count.
    pub smoothing: f64,
    /// Extra Dirichlet pseudo-count on each confusion matrix's diagonal: the prior belief
    /// that a worker is better than chance. Breaks the symmetry where the data cannot (a
    /// lone worker, label switching) in favour of taking answers at face value.
    pub diagonal_prior: f64,
    /// Pseudo-answers per confusion-matrix *cell* (so K per row) shaped like the worker's
    /// own one-coin matrix: their overall accuracy on the diagonal, the rest spread evenly.
    /// Shrinks a worker's K·(K−1) per-class parameters toward their one overall accuracy, so
    /// few answers over many classes do not overfit, while hundreds of answers still speak
    /// for themselves.
    pub worker_prior: f64,
    /// Re-choose `worker_prior` from the evidence of the answers after each fit (see
    /// `evidence.rs`) and fit again with it, until the choice settles (at most three times).
    pub learn_worker_prior: bool,
    /// Temper the posteriors so their confidence matches how well they predict a held-out
    /// answer (see `calibration.rs`); labels are unchanged.
    pub calibrate: bool,
}

impl Default for DawidSkene {
    fn default() -> Self {
        Self {
            limits: EmLimits::default(),
            smoothing: 0.01,
            diagonal_prior: 0.1,
            worker_prior: 0.0,
            learn_worker_prior: false,
            calibrate: false,
        }
    }
}

impl DawidSkene {
    /// Tessera's default (`auto`): Dawid–Skene with each worker's confusion rows under a
    /// Dirichlet prior centred on their one-coin matrix, as strong as the evidence of the
    /// answers says (`learn_worker_prior`, judged on a pilot fit at ½ per cell), with
    /// calibrated confidences (`calibrate`). Full confusion matrices where the crowd's
    /// records support them, one-coin behaviour where they do not. How it was chosen:
    /// docs/consensus.md.
    pub fn auto() -> Self {
        Self {
            worker_prior: 0.5,
            learn_worker_prior: true,
            calibrate: true,
            ..Self::default()
        }
    }
}

/// Answers grouped by task: `cells[offsets[t]..offsets[t + 1]]` are task t's answers, each
/// as `worker · K + label` — the row of the tables below that the answer reads or feeds.
pub(crate) struct ByTask {
    pub(crate) offsets: Vec<usize>,
    pub(crate) cells: Vec<u32>,
}

pub(crate) fn group_by_task(data: &Dataset) -> ByTask {
    let k = data.n_labels();
    let mut offsets = vec![0usize; data.n_tasks() + 1];
    for &(t, _, _) in &data.answers {
        offsets[t as usize + 1] += 1;
    }
    for i in 1..offsets.len() {
        offsets[i] += offsets[i - 1];
    }
    let mut fill = offsets.clone();
    let mut cells = vec![0u32; data.answers.len()];
    for &(t, w, l) in &data.answers {
        cells[fill[t as usize]] = (w as usize * k + l as usize) as u32;
        fill[t as usize] += 1;
    }
    ByTask { offsets, cells }
}

/// Soft counts from posteriors, in one vector: per class (the first K), then per (worker,
/// answer, true class) — the transpose of a confusion matrix, so one answer's counts are
/// one contiguous row.
struct Counts {
    k: usize,
    values: Vec<f64>,
}

impl Counts {
    fn zeros(workers: usize, k: usize) -> Self {
        Self {
            k,
            values: vec![0.0; k + workers * k * k],
        }
    }

    fn classes(&self) -> &[f64] {
        &self.values[..self.k]
    }

    /// `[w][answer][truth]`.
    fn cells(&self) -> &[f64] {
        &self.values[self.k..]
    }

    /// Adds one task's posterior, for each of its answers.
    #[inline(always)]
    fn add(&mut self, p: &[f64], cells: &[u32]) {
        let k = p.len();
        let (classes, table) = self.values.split_at_mut(k);
        classes.iter_mut().zip(p).for_each(|(a, v)| *a += v);
        for &cell in cells {
            let row = &mut table[cell as usize * k..(cell as usize + 1) * k];
            row.iter_mut().zip(p).for_each(|(a, v)| *a += v);
        }
    }

    /// Sums chunk partials in chunk order, so the result does not depend on the core count.
    fn sum_into(&mut self, parts: &[Self]) {
        let Some((first, rest)) = parts.split_first() else {
            return;
        };
        self.values.copy_from_slice(&first.values);
        for part in rest {
            self.values
                .iter_mut()
                .zip(&part.values)
                .for_each(|(a, v)| *a += v);
        }
    }

    /// SQUAREM's jump from `self` (c₀) through `c1`, `c2`: writes c₀ + 2|α|r + α²v (clipped
    /// at 0, as counts are) into `out` and returns |α| = ‖r‖/‖v‖ (1 when v vanishes).
    fn extrapolate(&self, c1: &Self, c2: &Self, out: &mut Self) -> f64 {
        let steps = || {
            self.values
                .iter()
                .zip(&c1.values)
                .zip(&c2.values)
                .map(|((a, b), c)| (*a, b - a, c - 2.0 * b + a))
        };
        let (rr, vv) = steps().fold((0.0, 0.0), |(rr, vv), (_, r, v)| (rr + r * r, vv + v * v));
        if vv <= 0.0 || !vv.is_finite() {
            return 1.0;
        }
        let alpha = (rr / vv).sqrt();
        for (o, (a, r, v)) in out.values.iter_mut().zip(steps()) {
            *o = (a + 2.0 * alpha * r + alpha * alpha * v).max(0.0);
        }
        alpha
    }

    fn of(data: &Dataset, by_task: &ByTask, post: &Posteriors) -> Self {
        let k = data.n_labels();
        let parts = par_ranges(post.len(), |tasks| {
            let mut counts = Self::zeros(data.n_workers(), k);
            for t in tasks {
                counts.add(
                    &post[t],
                    &by_task.cells[by_task.offsets[t]..by_task.offsets[t + 1]],
                );
            }
            counts
        });
        let mut total = Self::zeros(data.n_workers(), k);
        total.sum_into(&parts);
        total
    }
}

/// Fitted parameters in log space.
struct Params {
    log_prior: Vec<f64>,
    /// `[w][truth][answer]`.
    log_conf: Vec<f64>,
    /// The Dirichlet priors' log-density at these parameters (up to a constant).
    density: f64,
}

/// `[w][a][b]` → `[w][b][a]` for square K × K blocks.
fn transpose_blocks(from: &[f64], k: usize) -> Vec<f64> {
    let mut to = vec![0.0; from.len()];
    for (to, from) in to.chunks_mut(k * k).zip(from.chunks(k * k)) {
        for a in 0..k {
            for b in 0..k {
                to[b * k + a] = from[a * k + b];
            }
        }
    }
    to
}

/// The pilot fit's stopping tolerance (see [`DawidSkene::learned`]).
const PILOT_TOLERANCE: f64 = 1e-5;

/// A log-probability this far below a task's best class is left out of its posterior
/// (exp(−40) ≈ 4·10⁻¹⁸: below what a 64-bit sum with the best class's 1 can hold anyway).
const NEGLIGIBLE: f64 = -40.0;

impl DawidSkene {
    /// M-step: priors and confusion matrices from soft counts, with the Dirichlet priors.
    fn m_step(&self, k: usize, counts: &Counts) -> Params {
        let mut prior: Vec<f64> = counts
            .classes()
            .iter()
            .map(|c| c + self.smoothing)
            .collect();
        let mut conf = transpose_blocks(counts.cells(), k);
        // Each cell's pseudo-count beyond the uniform smoothing, for the objective.
        let mut pseudo = vec![0.0; conf.len()];
        for (i, (v, e)) in conf.iter_mut().zip(pseudo.iter_mut()).enumerate() {
            *v += self.smoothing;
            if (i % (k * k)).is_multiple_of(k + 1) {
                *v += self.diagonal_prior;
                *e = self.diagonal_prior;
            }
        }
        if self.worker_prior > 0.0 && k > 1 {
            for (matrix, extra) in conf.chunks_mut(k * k).zip(pseudo.chunks_mut(k * k)) {
                let total: f64 = matrix.iter().sum();
                let right: f64 = (0..k).map(|c| matrix[c * k + c]).sum();
                let accuracy = right / total;
                let strength = self.worker_prior * k as f64;
                let off = strength * (1.0 - accuracy) / (k - 1) as f64;
                for (i, (v, e)) in matrix.iter_mut().zip(extra.iter_mut()).enumerate() {
                    let add = if i % (k + 1) == 0 {
                        strength * accuracy
                    } else {
                        off
                    };
                    *v += add;
                    *e += add;
                }
            }
        }
        let total: f64 = prior.iter().sum();
        prior.iter_mut().for_each(|v| *v = (*v / total).ln());
        for row in conf.chunks_mut(k) {
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v = (*v / sum).ln());
        }
        let density = self.smoothing * (prior.iter().sum::<f64>() + conf.iter().sum::<f64>())
            + pseudo.iter().zip(&conf).map(|(a, v)| a * v).sum::<f64>();
        Params {
            log_prior: prior,
            log_conf: conf,
            density,
        }
    }

    /// E-step: posteriors in place (gold clamped), and — in the same pass, while each task's
    /// answers are in cache — the soft counts the next M-step needs, into `counts` (`parts`
    /// holds per-chunk buffers reused across iterations). Returns the log-likelihood.
    fn e_step(
        data: &Dataset,
        by_task: &ByTask,
        params: &Params,
        post: &mut Posteriors,
        parts: &mut Vec<Counts>,
        counts: &mut Counts,
    ) -> f64 {
        let k = data.n_labels();
        // `[w][answer][truth]`: one answer's evidence for every class is a contiguous row.
        let evidence = transpose_blocks(&params.log_conf, k);
        let make = || Counts::zeros(data.n_workers(), k);
        let lls = par_rows_mut(post, parts, make, |offset, rows, counts| {
            let chunk = EChunk {
                data,
                by_task,
                params,
                evidence: &evidence,
            };
            // The same body with K a constant for the usual label counts, so the short
            // per-class loops unroll.
            match k {
                2 => chunk.run(2, offset, rows, counts),
                3 => chunk.run(3, offset, rows, counts),
                4 => chunk.run(4, offset, rows, counts),
                5 => chunk.run(5, offset, rows, counts),
                _ => chunk.run(k, offset, rows, counts),
            }
        });
        counts.sum_into(&parts[..lls.len()]);
        lls.iter().sum()
    }
}

/// What the E-step reads, for one chunk of tasks.
struct EChunk<'a> {
    data: &'a Dataset,
    by_task: &'a ByTask,
    params: &'a Params,
    evidence: &'a [f64],
}

impl EChunk<'_> {
    /// Posteriors of one chunk of tasks, their counts into `counts` (overwritten); returns
    /// their log-likelihood.
    #[inline(always)]
    fn run(
        &self,
        k: usize,
        offset: usize,
        rows: std::slice::ChunksExactMut<'_, f64>,
        counts: &mut Counts,
    ) -> f64 {
        counts.values.fill(0.0);
        let mut ll = 0.0;
        // Scores accumulate in a local array (registers, for a constant small K) rather
        // than through the posterior row in memory.
        let mut local = [0.0; 8];
        let mut heap = Vec::new();
        let scores: &mut [f64] = if k <= local.len() {
            &mut local[..k]
        } else {
            heap.resize(k, 0.0);
            &mut heap
        };
        for (i, p) in rows.enumerate() {
            let p = &mut p[..k];
            let t = offset + i;
            let cells = &self.by_task.cells[self.by_task.offsets[t]..self.by_task.offsets[t + 1]];
            scores.copy_from_slice(&self.params.log_prior[..k]);
            for &cell in cells {
                let row = &self.evidence[cell as usize * k..(cell as usize + 1) * k];
                scores.iter_mut().zip(row).for_each(|(v, e)| *v += e);
            }
            ll += normalize_log_sparse(scores);
            p.copy_from_slice(scores);
            if let Some(g) = self.data.gold[t] {
                p.iter_mut()
                    .enumerate()
                    .for_each(|(c, v)| *v = if c == g as usize { 1.0 } else { 0.0 });
            }
            counts.add(p, cells);
        }
        ll
    }
}

/// [`normalize_log`], leaving out classes [`NEGLIGIBLE`]ly unlikely (exactly 0 then): on
/// confident tasks most of the exponentials are skipped.
#[inline(always)]
fn normalize_log_sparse(p: &mut [f64]) -> f64 {
    let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in p.iter_mut() {
        let d = *v - max;
        *v = if d < NEGLIGIBLE { 0.0 } else { d.exp() };
        sum += *v;
    }
    p.iter_mut().for_each(|v| *v /= sum);
    max + sum.ln()
}

impl Aggregator for DawidSkene {
    fn name(&self) -> &'static str {
        "ds"
    }

    fn fit(&self, data: &Dataset) -> Fit {
        if self.calibrate {
            return self.fit_with_params(data).0;
        }
        self.learned(data, &group_by_task(data)).0
    }
}

impl DawidSkene {
    /// One EM step as a map on soft counts: parameters from `input` (M-step), posteriors
    /// from them (E-step, into `post`) and the counts of those posteriors (into `output`).
    /// Returns the objective at the M-step's parameters.
    fn step(
        &self,
        data: &Dataset,
        by_task: &ByTask,
        input: &Counts,
        post: &mut Posteriors,
        parts: &mut Vec<Counts>,
        output: &mut Counts,
    ) -> f64 {
        let params = self.m_step(data.n_labels(), input);
        Self::e_step(data, by_task, &params, post, parts, output) + params.density
    }

    /// EM from majority vote (gold clamped), accelerated by SQUAREM (Varadhan & Roland,
    /// "Simple and Globally Convergent Methods for Accelerating the Convergence of Any EM
    /// Algorithm", Scand. J. Statistics 35(2), 2008): two EM steps c₀ → c₁ → c₂ on the soft
    /// counts, then a jump along the extrapolated path c₀ − 2αr + α²v (r = c₁ − c₀,
    /// v = c₂ − 2c₁ + c₀, α = −‖r‖/‖v‖), kept only if its objective beats the second EM
    /// step's. EM's slow tail (here, dozens of steps each moving the objective by 10⁻⁶)
    /// shrinks to a few cycles; the fixed point is the same.
    ///
    /// The objective is the likelihood plus the Dirichlet log-prior, which the M-step
    /// maximises. Every evaluation counts toward [`EmLimits`]. Stops when an accepted
    /// step moves the objective less than the tolerance (after the minimum number of
    /// evaluations), or at once when a plain EM step lowers it — possible only with the
    /// data-dependent worker prior; the previous, better iterate is kept then. Where the
    /// likelihood is flat (one worker: any confusion matrix explains the answers) this is
    /// what stops the prior from slowly washing the answers out.
    fn fit_em(&self, data: &Dataset, by_task: &ByTask) -> Fit {
        let limits = self.limits;
        let mut post = super::majority_vote::vote_shares(data);
        super::clamp_gold(data, &mut post);
        let zeros = || Counts::zeros(data.n_workers(), data.n_labels());
        let mut c0 = Counts::of(data, by_task, &post);
        let (mut c1, mut c2, mut c3, mut jump) = (zeros(), zeros(), zeros(), zeros());
        let mut parts = Vec::new();
        let mut run = EmRun::new(limits, &post);
        loop {
            let first = self.step(data, by_task, &c0, &mut post, &mut parts, &mut c1);
            if run.accept(first, &mut post) {
                break;
            }
            let second = self.step(data, by_task, &c1, &mut post, &mut parts, &mut c2);
            if run.accept(second, &mut post) {
                break;
            }
            let alpha = c0.extrapolate(&c1, &c2, &mut jump);
            if alpha <= 1.0 || run.evaluations >= limits.max_iterations {
                // No jump beyond the second step: go on from it.
                std::mem::swap(&mut c0, &mut c2);
                continue;
            }
            let jumped = self.step(data, by_task, &jump, &mut post, &mut parts, &mut c3);
            if fell(second, jumped) {
                // Overshot: back to the second EM step's iterate (still in `best`).
                run.evaluations += 1;
                post.as_mut_slice().copy_from_slice(run.best.as_slice());
                std::mem::swap(&mut c0, &mut c2);
                continue;
            }
            if run.accept(jumped, &mut post) {
                break;
            }
            std::mem::swap(&mut c0, &mut c3);
        }
        run.finish(post)
    }

    /// The fit with the worker prior the evidence chose (when `learn_worker_prior`), and
    /// the method with that prior. The evidence is judged once, on the soft counts of a
    /// pilot fit with the configured (weak) prior, and the model is then fitted afresh
    /// (from majority vote, as any fit starts) under the chosen one. Judging again on counts the chosen prior has
    /// shaped would feed on itself: a strong one-coin prior makes the counts look one-coin,
    /// which raises the evidence for a stronger prior, until every worker is one-coin.
    fn learned(&self, data: &Dataset, by_task: &ByTask) -> (Fit, Self) {
        let mut method = *self;
        if !self.learn_worker_prior {
            return (method.fit_em(data, by_task), method);
        }
        // The pilot only has to give the evidence its soft counts: a looser tolerance than
        // the fit's own does (the counts settle long before the objective's last digits).
        let pilot_method = Self {
            limits: EmLimits {
                tolerance: PILOT_TOLERANCE.max(self.limits.tolerance),
                ..self.limits
            },
            ..method
        };
        let pilot = pilot_method.fit_em(data, by_task);
        let counts = Counts::of(data, by_task, &pilot.posteriors);
        let strength = super::evidence::strength(counts.cells(), data.n_labels());
        if strength == method.worker_prior {
            return (pilot, method);
        }
        method.worker_prior = strength;
        (method.fit_em(data, by_task), method)
    }

    /// The fit (calibrated when `calibrate`), the parameters re-estimated from its final
    /// posteriors, and the calibration.
    fn fit_with_params(&self, data: &Dataset) -> (Fit, Params, Calibration) {
        let by_task = group_by_task(data);
        let (mut fit, method) = self.learned(data, &by_task);
        let params = method.m_step(
            data.n_labels(),
            &Counts::of(data, &by_task, &fit.posteriors),
        );
        let calibration = if self.calibrate {
            let refit = |other: &Dataset| {
                let (fit, method) = self.learned(other, &by_task);
                let p = method.m_step(
                    other.n_labels(),
                    &Counts::of(other, &by_task, &fit.posteriors),
                );
                (p.log_prior, p.log_conf)
            };
            Calibration::fit(data, &by_task, &params.log_prior, &params.log_conf, refit)
        } else {
            Calibration::default()
        };
        fit.posteriors
            .iter_mut()
            .for_each(|row| calibration.apply(row));
        (fit, params, calibration)
    }
}

/// A fitted Dawid–Skene model — class priors and every worker's confusion matrix — kept to
/// fold new answers into a task's posterior one at a time, in O(K) per answer, without
/// re-fitting. A worker the fit never saw is judged by the crowd's average confusion matrix.
/// Re-fit (with [`DawidSkene::fit_model`]) when enough has changed.
///
/// ```
/// use tessera_core::aggregate::{Dataset, DawidSkene};
/// let rows = [("t1", "a", "yes"), ("t1", "b", "yes"), ("t2", "a", "no"), ("t2", "b", "no")];
/// let data = Dataset::from_triples(rows).unwrap();
/// let (_, model) = DawidSkene::auto().fit_model(&data);
/// let mut task = model.new_task();
/// model.add_answer(&mut task, Some(0), 1); // worker "a" says "yes"
/// model.add_answer(&mut task, None, 1); // someone new agrees
/// assert_eq!(task.label(), 1);
/// assert!(task.posterior()[1] > 0.9);
/// ```
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct DawidSkeneModel {
    k: usize,
    log_prior: Vec<f64>,
    /// `[w][truth][answer]`, flat.
    log_conf: Vec<f64>,
    /// The workers' average confusion matrix, for workers the fit did not see.
    log_crowd: Vec<f64>,
    /// How posteriors become stated confidences (see `calibration.rs`).
    #[serde(default)]
    calibration: Calibration,
}

/// One task's running posterior under a [`DawidSkeneModel`]: unnormalised log-scores.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskPosterior {
    log_scores: Vec<f64>,
    calibration: Calibration,
}

impl TaskPosterior {
    /// The calibrated posterior.
    pub fn posterior(&self) -> Vec<f64> {
        let mut p = self.log_scores.clone();
        normalize_log(&mut p);
        self.calibration.apply(&mut p);
        p
    }

    /// The most probable label (ties to the lowest index).
    pub fn label(&self) -> usize {
        super::argmax(&self.log_scores)
    }
}

impl DawidSkeneModel {
    /// A task with no answers yet: the class prior.
    pub fn new_task(&self) -> TaskPosterior {
        TaskPosterior {
            log_scores: self.log_prior.clone(),
            calibration: self.calibration.clone(),
        }
    }

    /// Folds one answer into a task's posterior. `worker` is the dataset's worker index, or
    /// `None` (or an index past the fitted ones) for a worker the fit did not see.
    pub fn add_answer(&self, task: &mut TaskPosterior, worker: Option<usize>, label: usize) {
        let k = self.k;
        if label >= k {
            return; // a label the model has no parameters for carries no evidence
        }
        let matrix = match worker {
            Some(w) if (w + 1) * k * k <= self.log_conf.len() => {
                &self.log_conf[w * k * k..(w + 1) * k * k]
            }
            _ => &self.log_crowd[..],
        };
        for (c, v) in task.log_scores.iter_mut().enumerate() {
            *v += matrix[c * k + label];
        }
        // Keep the scores near 0 so a long-lived task never drifts toward −∞.
        let max = task
            .log_scores
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        task.log_scores.iter_mut().for_each(|v| *v -= max);
    }
}

impl DawidSkene {
    /// Fits, and returns the model (the parameters re-estimated from the final posteriors)
    /// for incremental updates.
    pub fn fit_model(&self, data: &Dataset) -> (Fit, DawidSkeneModel) {
        let (fit, params, calibration) = self.fit_with_params(data);
        let k = data.n_labels();
        let Params {
            log_prior,
            log_conf,
            ..
        } = params;
        let mut crowd = vec![0.0; k * k];
        for matrix in log_conf.chunks(k * k) {
            crowd
                .iter_mut()
                .zip(matrix)
                .for_each(|(c, v)| *c += v.exp());
        }
        for row in crowd.chunks_mut(k) {
            let sum: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v = (*v / sum).ln());
        }
        // A probability of 0 is −∞ in log space, which JSON cannot hold: keep it finite
        // (e^−700 is 0 to every sum it enters).
        let finite = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|x| x.max(-700.0)).collect() };
        let model = DawidSkeneModel {
            k,
            log_prior: finite(log_prior),
            log_conf: finite(log_conf),
            log_crowd: finite(crowd),
            calibration,
        };
        (fit, model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reliable_minority_beats_spammers_where_it_has_a_track_record() {
        // Workers r1, r2 agree with each other everywhere; s1..s3 answer "a" always.
        let mut rows = Vec::new();
        let truth = ["a", "b", "b", "a", "b", "b", "b", "a", "b", "b"];
        let tasks: Vec<String> = (0..truth.len()).map(|i| format!("t{i}")).collect();
        for (i, &y) in truth.iter().enumerate() {
            rows.push((tasks[i].as_str(), "r1", y));
            rows.push((tasks[i].as_str(), "r2", y));
            for s in ["s1", "s2", "s3"] {
                rows.push((tasks[i].as_str(), s, "a"));
            }
        }
        let data = Dataset::from_triples(rows).expect("data");
        let fit = DawidSkene::default().fit(&data);
        let got: Vec<&str> = fit.labels().iter().map(|&l| &data.labels[l]).collect();
        assert_eq!(got, truth);
        assert!(
            fit.log_likelihood.windows(2).all(|w| w[1] >= w[0] - 1e-9),
            "EM never decreases the likelihood"
        );
    }

    #[test]
    fn a_lone_dissenting_answer_does_not_flip_a_task() {
        // Three workers agree on 20 tasks; "n" answered one task, against them. With or
        // without the worker prior, the contested task stays with the crowd, confidently.
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for i in 0..20 {
            let y = if i % 2 == 0 { "x" } else { "y" };
            for w in ["a", "b", "c"] {
                rows.push((format!("t{i}"), w.to_owned(), y.to_owned()));
            }
        }
        rows.push(("t0".to_owned(), "n".to_owned(), "y".to_owned()));
        let data = Dataset::from_rows(&rows);
        for method in [DawidSkene::default(), DawidSkene::auto()] {
            assert_eq!(method.fit(&data).labels()[0], 0, "{method:?}");
        }
        let plain = DawidSkene::default().fit(&data).confidences()[0];
        let auto = DawidSkene::auto().fit(&data).confidences()[0];
        assert!(plain > 0.99 && auto > 0.99, "{plain} {auto}");
    }

    #[test]
    fn posteriors_are_distributions() {
        let data = Dataset::from_triples([("t", "a", "x"), ("t", "b", "y"), ("u", "a", "y")])
            .expect("data");
        for p in &DawidSkene::default().fit(&data).posteriors {
            assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn answers_folded_in_one_by_one_reproduce_the_fit() {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        for i in 0..40 {
            let y = ["x", "y", "z"][i % 3];
            for (j, w) in ["a", "b", "c", "d"].iter().enumerate() {
                // d is wrong on every fourth task; c answers only half the tasks.
                if *w == "c" && i % 2 == 1 {
                    continue;
                }
                let l = if *w == "d" && i % 4 == j % 4 { "x" } else { y };
                rows.push((format!("t{i}"), (*w).to_owned(), l.to_owned()));
            }
        }
        let data = Dataset::from_rows(&rows);
        let (fit, model) = DawidSkene::auto().fit_model(&data);
        let mut tasks = vec![model.new_task(); data.n_tasks()];
        for &(t, w, l) in &data.answers {
            model.add_answer(&mut tasks[t as usize], Some(w as usize), l as usize);
        }
        for (task, expected) in tasks.iter().zip(fit.posteriors.iter()) {
            let got = task.posterior();
            assert!(
                got.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-3),
                "{got:?} vs {expected:?}"
            );
        }
        // A newcomer's answer moves a fresh task toward it, though less than a known
        // reliable worker's would.
        let (mut by_newcomer, mut by_a) = (model.new_task(), model.new_task());
        model.add_answer(&mut by_newcomer, None, 2);
        model.add_answer(&mut by_a, Some(0), 2);
        assert_eq!(by_newcomer.label(), 2);
        assert!(by_a.posterior()[2] >= by_newcomer.posterior()[2]);
    }
}
