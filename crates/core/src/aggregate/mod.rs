//! Whole-dataset aggregation: methods that see every answer at once and learn per-annotator
//! parameters (Dawid–Skene and kin), besides simple voting. Each method is a file; all return
//! an immutable [`Fit`].
//!
//! The per-task [`ConsensusMethod`](crate::ConsensusMethod) used by the server on each answer is
//! the incremental face of the same idea.

pub mod agreement;
mod bwa;
mod calibration;
mod dataset;
mod dawid_skene;
mod ebcc;
mod evidence;
mod fitted;
mod glad;
mod mace;
mod majority_vote;
mod names;
mod numeric;
mod one_coin;
mod records;
pub mod reliability;
pub mod robustness;
pub mod synthetic;
mod vote_counts;
mod wawa;
mod weighted_majority;

pub use bwa::Bwa;
pub use dataset::{Answer, Dataset, DatasetError};
pub use dawid_skene::{DawidSkene, DawidSkeneModel, TaskPosterior};
pub use ebcc::Ebcc;
pub use fitted::FittedConsensus;
pub use glad::Glad;
pub use mace::Mace;
pub use majority_vote::MajorityVoteFit;
pub use names::Names;
pub use numeric::{NumericDataset, NumericFit, NumericMethod};
pub use one_coin::OneCoinDawidSkene;
pub use records::{ReadAt, answers_column, text_of};
pub use vote_counts::VoteCounts;
pub use wawa::Wawa;
pub use weighted_majority::WeightedMajorityVote;

/// What the fitted posteriors say about one worker.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerSkill {
    pub answers: usize,
    /// Expected share of this worker's answers that are correct.
    pub accuracy: f64,
    /// `confusion[k][l]`: how often the worker answered l when the true label was k (rows
    /// sum to 1; a row the worker never met is uniform).
    pub confusion: Vec<Vec<f64>>,
}

/// One probability distribution over the dataset's labels per task, stored as one flat
/// row-major n × K matrix (a million small vectors cost more to build and free than the
/// arithmetic done on them). `posteriors[t]` is task t's row.
#[derive(Debug, Clone, PartialEq)]
pub struct Posteriors {
    k: usize,
    values: Vec<f64>,
}

impl Posteriors {
    /// `tasks` rows of `k` zeros.
    pub fn zeros(tasks: usize, k: usize) -> Self {
        Self {
            k,
            values: vec![0.0; tasks * k],
        }
    }

    /// Labels per row.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Tasks (rows).
    pub fn len(&self) -> usize {
        self.values.len() / self.k.max(1)
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    pub fn iter(&self) -> std::slice::ChunksExact<'_, f64> {
        self.values.chunks_exact(self.k.max(1))
    }

    pub fn iter_mut(&mut self) -> std::slice::ChunksExactMut<'_, f64> {
        self.values.chunks_exact_mut(self.k.max(1))
    }

    /// The whole matrix, row after row.
    pub fn as_slice(&self) -> &[f64] {
        &self.values
    }

    pub fn as_mut_slice(&mut self) -> &mut [f64] {
        &mut self.values
    }
}

impl std::ops::Index<usize> for Posteriors {
    type Output = [f64];
    fn index(&self, task: usize) -> &[f64] {
        &self.values[task * self.k..(task + 1) * self.k]
    }
}

impl std::ops::IndexMut<usize> for Posteriors {
    fn index_mut(&mut self, task: usize) -> &mut [f64] {
        &mut self.values[task * self.k..(task + 1) * self.k]
    }
}

impl<'a> IntoIterator for &'a Posteriors {
    type Item = &'a [f64];
    type IntoIter = std::slice::ChunksExact<'a, f64>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Per-worker skill from a fit's posteriors: soft counts of (true label, answer) pairs.
pub fn worker_skills(data: &Dataset, fit: &Fit) -> Vec<WorkerSkill> {
    let k = data.n_labels();
    let mut counts = vec![vec![vec![0.0; k]; k]; data.n_workers()];
    let mut answers = vec![0usize; data.n_workers()];
    for &(t, w, l) in &data.answers {
        answers[w as usize] += 1;
        for (c, &p) in fit.posteriors[t as usize].iter().enumerate() {
            counts[w as usize][c][l as usize] += p;
        }
    }
    counts
        .into_iter()
        .zip(answers)
        .map(|(matrix, n)| {
            let correct: f64 = (0..k).map(|c| matrix[c][c]).sum();
            let confusion = matrix
                .into_iter()
                .map(|row| {
                    let sum: f64 = row.iter().sum();
                    if sum > 0.0 {
                        row.iter().map(|v| v / sum).collect()
                    } else {
                        vec![1.0 / k as f64; k]
                    }
                })
                .collect();
            WorkerSkill {
                answers: n,
                accuracy: if n > 0 { correct / n as f64 } else { 0.0 },
                confusion,
            }
        })
        .collect()
}

/// Sets gold tasks' posteriors to certainty in their known label.
pub(crate) fn clamp_gold(data: &Dataset, posteriors: &mut Posteriors) {
    for (p, gold) in posteriors.iter_mut().zip(&data.gold) {
        if let Some(g) = gold {
            p.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = if i == *g as usize { 1.0 } else { 0.0 });
        }
    }
}

/// The result of fitting a method on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    /// For each task, the posterior over the dataset's labels (rows sum to 1).
    pub posteriors: Posteriors,
    /// The objective after each EM iteration: log-likelihood, plus the log-prior for methods
    /// with one (empty for non-iterative methods).
    pub log_likelihood: Vec<f64>,
}

impl Fit {
    /// The chosen label index of each task: the most probable one, ties to the lowest index.
    pub fn labels(&self) -> Vec<usize> {
        self.posteriors.iter().map(argmax).collect()
    }

    /// The posterior probability of each task's chosen label.
    pub fn confidences(&self) -> Vec<f64> {
        self.posteriors.iter().map(|p| p[argmax(p)]).collect()
    }
}

/// Log class priors from task posteriors: the expected share of each label, with a small
/// pseudo-count so no class gets probability 0.
pub(crate) fn class_log_prior(posteriors: &Posteriors) -> Vec<f64> {
    let k = posteriors.k();
    let mut prior = vec![0.01; k];
    for p in posteriors {
        prior.iter_mut().zip(p).for_each(|(a, b)| *a += b);
    }
    let total: f64 = prior.iter().sum();
    prior.iter().map(|v| (v / total).ln()).collect()
}

/// Index of the largest value; the first one on ties.
pub fn argmax(values: &[f64]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v > values[best] {
            best = i;
        }
    }
    best
}

/// Turns log-scores into probabilities in place; returns their log normaliser. One `exp`
/// per label: the shifted exponentials are kept and divided by their sum.
pub(crate) fn normalize_log(p: &mut [f64]) -> f64 {
    let max = p.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut sum = 0.0;
    for v in p.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    p.iter_mut().for_each(|v| *v /= sum);
    max + sum.ln()
}

/// How long EM runs, shared by the iterative methods.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EmLimits {
    pub max_iterations: usize,
    /// Never stop earlier: a tolerance rule alone often stops after 2–5 iterations, far from
    /// the optimum.
    pub min_iterations: usize,
    /// Stop when the objective's relative change falls below this.
    pub tolerance: f64,
}

impl Default for EmLimits {
    fn default() -> Self {
        Self {
            max_iterations: 100,
            min_iterations: 10,
            tolerance: 1e-7,
        }
    }
}

/// Whether an objective moved from `last` to `now` by less than the tolerance.
fn settled(limits: &EmLimits, last: f64, now: f64) -> bool {
    (now - last).abs() <= limits.tolerance * last.abs().max(1.0)
}

/// Whether the objective fell from `last` to `now` (beyond rounding).
pub(crate) fn fell(last: f64, now: f64) -> bool {
    now < last - 1e-9 * last.abs()
}

/// The accepted iterates of an EM run, and the stopping rule every iterative method shares:
/// stop when the objective has settled (after at least `min_iterations` evaluations), or at
/// once when it falls — which EM proper never does, but methods whose priors follow the
/// estimates can; the previous, better iterate is then kept.
pub(crate) struct EmRun {
    limits: EmLimits,
    /// The posteriors of the last accepted iterate.
    pub(crate) best: Posteriors,
    /// The objective of each accepted iterate.
    history: Vec<f64>,
    /// Objective evaluations so far (EM steps, accepted or not).
    pub(crate) evaluations: usize,
}

impl EmRun {
    pub(crate) fn new(limits: EmLimits, start: &Posteriors) -> Self {
        Self {
            limits,
            best: start.clone(),
            history: Vec::new(),
            evaluations: 0,
        }
    }

    /// Takes the iterate whose posteriors are in `post` and whose objective is `objective`;
    /// true when EM should stop (`post` then holds the result).
    pub(crate) fn accept(&mut self, objective: f64, post: &mut Posteriors) -> bool {
        self.evaluations += 1;
        if let Some(&last) = self.history.last() {
            if fell(last, objective) {
                std::mem::swap(post, &mut self.best);
                return true;
            }
            if settled(&self.limits, last, objective)
                && self.evaluations >= self.limits.min_iterations
            {
                self.history.push(objective);
                return true;
            }
        }
        self.history.push(objective);
        self.best.as_mut_slice().copy_from_slice(post.as_slice());
        self.evaluations >= self.limits.max_iterations
    }

    pub(crate) fn finish(self, posteriors: Posteriors) -> Fit {
        Fit {
            posteriors,
            log_likelihood: self.history,
        }
    }
}

/// Runs EM from majority vote (gold clamped): `step` re-estimates the method's parameters
/// from the posteriors, overwrites them with new ones and returns the objective (the
/// log-likelihood plus the log-prior for methods with one). Gold stays clamped after each
/// step; [`EmRun`] decides when to stop.
pub(crate) fn run_em(
    data: &Dataset,
    limits: EmLimits,
    mut step: impl FnMut(&mut Posteriors) -> f64,
) -> Fit {
    let mut post = majority_vote::vote_shares(data);
    clamp_gold(data, &mut post);
    let mut run = EmRun::new(limits, &post);
    if limits.max_iterations > 0 {
        loop {
            let objective = step(&mut post);
            clamp_gold(data, &mut post);
            if run.accept(objective, &mut post) {
                break;
            }
        }
    }
    run.finish(post)
}

/// Tasks per unit of parallel work. Fixed, and partial results are combined in chunk order,
/// so a fit gives bit-identical results on any number of cores.
const CHUNK: usize = 16_384;

/// The cores this process may run on (1 when that cannot be told), asked once: the
/// standard library reads the cgroup files on every call, and `par_map` runs once per EM
/// iteration.
pub fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Twelve tasks over three labels: r1 and r2 always right, s0..s2 answering by a fixed
/// pseudo-random pattern. Returns the rows and the true labels, for tests of methods that
/// should find the accurate pair.
#[cfg(test)]
pub(crate) fn accurate_pair_and_coin_flippers()
-> (Vec<(String, String, String)>, [&'static str; 12]) {
    let truth = ["a", "b", "c", "a", "b", "c", "a", "b", "c", "a", "b", "c"];
    let labels = ["a", "b", "c"];
    let mut rows: Vec<(String, String, String)> = Vec::new();
    for (i, y) in truth.iter().enumerate() {
        rows.push((format!("t{i}"), "r1".into(), (*y).into()));
        rows.push((format!("t{i}"), "r2".into(), (*y).into()));
        for s in 0..3 {
            rows.push((
                format!("t{i}"),
                format!("s{s}"),
                labels[(i * 7 + s * 5 + 1) % 3].into(),
            ));
        }
    }
    (rows, truth)
}

/// A seeded xorshift generator for tests: each call `next(n)` gives a number below `n`.
#[cfg(test)]
pub(crate) fn xorshift(seed: u64) -> impl FnMut(usize) -> usize {
    let mut state = seed;
    move |n| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    }
}

/// `f` applied to each work item on the machine's cores, each thread taking the next item
/// as it finishes one (so a slow core or a short last chunk does not hold the others back);
/// results in item order, whatever thread computed them.
pub fn par_map<T: Send, R: Send>(items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = cores();
    if threads < 2 || items.len() < 2 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let slots: Vec<std::sync::Mutex<Option<T>>> = items
        .into_iter()
        .map(|item| std::sync::Mutex::new(Some(item)))
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let (f, slots, next) = (&f, &slots, &next);
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(n))
            .map(|_| {
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(slot) = slots.get(i) else { break };
                        let item = slot
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .take();
                        if let Some(item) = item {
                            done.push((i, f(item)));
                        }
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    results.sort_unstable_by_key(|&(i, _)| i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// `f(first_task, rows, scratch)` on each chunk of [`CHUNK`] rows of `posteriors`, in
/// parallel, each chunk with its own element of `scratch` (buffers kept from one EM
/// iteration to the next; `make` fills in missing ones); results in chunk order.
pub(crate) fn par_rows_mut<S: Send, R: Send>(
    posteriors: &mut Posteriors,
    scratch: &mut Vec<S>,
    make: impl Fn() -> S,
    f: impl Fn(usize, std::slice::ChunksExactMut<'_, f64>, &mut S) -> R + Sync,
) -> Vec<R> {
    let k = posteriors.k().max(1);
    let chunks = posteriors.len().div_ceil(CHUNK);
    scratch.resize_with(chunks.max(scratch.len()), make);
    let items: Vec<_> = posteriors
        .as_mut_slice()
        .chunks_mut(CHUNK * k)
        .zip(scratch.iter_mut())
        .enumerate()
        .map(|(i, (rows, s))| (i * CHUNK, rows, s))
        .collect();
    par_map(items, |(offset, rows, s)| {
        f(offset, rows.chunks_exact_mut(k), s)
    })
}

/// `f` on each [`CHUNK`]-long piece of the index range `0..n`, in parallel; results in order.
pub(crate) fn par_ranges<R: Send>(
    n: usize,
    f: impl Fn(std::ops::Range<usize>) -> R + Sync,
) -> Vec<R> {
    let ranges: Vec<_> = (0..n)
        .step_by(CHUNK)
        .map(|start| start..(start + CHUNK).min(n))
        .collect();
    par_map(ranges, f)
}

/// A method that fits a whole dataset.
pub trait Aggregator {
    fn name(&self) -> &'static str;
    fn fit(&self, data: &Dataset) -> Fit;
}
