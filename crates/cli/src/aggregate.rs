//! `tessera aggregate`: consensus for a crowd-kit style answers file, on stdout as CSV.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use tessera_core::aggregate::agreement::agreement;
use tessera_core::aggregate::{
    Aggregator, Bwa, Dataset, DawidSkene, Ebcc, Glad, Mace, MajorityVoteFit, Names, NumericDataset,
    NumericMethod, OneCoinDawidSkene, ReadAt, VoteCounts, Wawa, WeightedMajorityVote, WorkerSkill,
    argmax, cores, par_map, text_of, worker_skills,
};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Method {
    /// The default: Dawid–Skene with each worker's confusion matrix shrunk toward their own
    /// one-coin accuracy, as strongly as the evidence of the answers says; calibrated.
    Auto,
    /// Majority vote.
    Mv,
    /// Weighted majority vote, log-odds weights from each worker's estimated accuracy.
    Wmv,
    /// Weighted vote, each worker weighted by agreement with majority vote.
    Wawa,
    /// Dawid–Skene with full confusion matrices.
    Ds,
    /// Dawid–Skene with one accuracy per worker.
    #[value(name = "onecoin-ds")]
    OnecoinDs,
    /// GLAD: worker ability × task difficulty.
    Glad,
    /// MACE: each worker either knows the answer or spams by habit.
    Mace,
    /// BWA (Li et al. 2019): answers averaged with Bayesian worker precisions.
    Bwa,
    /// IBCC (Kim & Ghahramani 2012): Dawid–Skene by variational Bayes.
    Ibcc,
    /// EBCC (Li et al. 2019): IBCC with subtypes per class for correlated workers.
    Ebcc,
    /// Numeric labels: the mean of each task's answers.
    Mean,
    /// Numeric labels: the median of each task's answers.
    Median,
    /// Numeric labels: the median weighted by each worker's typical error.
    Wmedian,
}

#[derive(Args)]
pub struct AggregateArgs {
    /// CSV with a `task,worker,label` header.
    answers: PathBuf,
    #[arg(long, value_enum, default_value_t = Method::Auto)]
    method: Method,
    /// CSV with a `task,label` header: known answers, clamped while fitting.
    #[arg(long)]
    gold: Option<PathBuf>,
    /// Write per-annotator skill here (CSV: worker, answers, accuracy, confusion as JSON).
    #[arg(long)]
    workers: Option<PathBuf>,
    /// Print agreement metrics to stderr.
    #[arg(long)]
    metrics: bool,
}

pub fn run(args: &AggregateArgs) -> Result<()> {
    let started = std::time::Instant::now();
    if matches!(args.method, Method::Mv)
        && args.gold.is_none()
        && args.workers.is_none()
        && !args.metrics
    {
        // Majority vote and nothing else: the vote counts are all it needs, read from the
        // file a block at a time.
        let file = AnswersFile::open(&args.answers)
            .with_context(|| format!("reading {}", args.answers.display()))?;
        let counts = VoteCounts::read(&file).map_err(in_file(&args.answers))?;
        tracing::debug!(elapsed = ?started.elapsed(), tasks = counts.tasks.len(), "counted");
        write_stdout(&counts.tasks, &counts.labels, |t| counts.majority(t))?;
        tracing::debug!(elapsed = ?started.elapsed(), "written");
        return Ok(());
    }
    let bytes =
        read_file(&args.answers).with_context(|| format!("reading {}", args.answers.display()))?;
    let text = text_of(&bytes).with_context(|| format!("reading {}", args.answers.display()))?;
    tracing::debug!(elapsed = ?started.elapsed(), bytes = text.len(), "loaded");
    let numeric = match args.method {
        Method::Mean => Some(NumericMethod::Mean),
        Method::Median => Some(NumericMethod::Median),
        Method::Wmedian => Some(NumericMethod::WeightedMedian),
        _ => None,
    };
    if let Some(method) = numeric {
        return run_numeric(args, text, method);
    }
    let mut data = Dataset::from_csv(text).map_err(in_file(&args.answers))?;
    // Freed now, its memory serves what follows: fresh memory costs as much to touch as
    // reading the file did.
    drop(bytes);
    tracing::debug!(elapsed = ?started.elapsed(), answers = data.answers.len(), "read");
    if let Some(gold) = &args.gold {
        let text =
            std::fs::read_to_string(gold).with_context(|| format!("reading {}", gold.display()))?;
        data.read_gold_csv(&text).map_err(in_file(gold))?;
    }
    let fit = match args.method {
        Method::Mv => MajorityVoteFit.fit(&data),
        Method::Wmv => WeightedMajorityVote.fit(&data),
        Method::Glad => Glad::default().fit(&data),
        Method::Mace => Mace::default().fit(&data),
        Method::Bwa => Bwa::default().fit(&data),
        Method::Ibcc => Ebcc::ibcc().fit(&data),
        Method::Ebcc => Ebcc::default().fit(&data),
        Method::Wawa => Wawa.fit(&data),
        Method::OnecoinDs => OneCoinDawidSkene::default().fit(&data),
        Method::Ds => DawidSkene::default().fit(&data),
        Method::Auto => DawidSkene::auto().fit(&data),
        Method::Mean | Method::Median | Method::Wmedian => unreachable!("handled above"),
    };
    tracing::debug!(elapsed = ?started.elapsed(), iterations = fit.log_likelihood.len(), objective = ?fit.log_likelihood.last(), "fitted");
    write_stdout(&data.tasks, &data.labels, |t| {
        let p = &fit.posteriors[t];
        let label = argmax(p);
        (label, p[label])
    })?;
    tracing::debug!(elapsed = ?started.elapsed(), "written");
    if args.metrics {
        let a = agreement(&data);
        eprintln!("tasks with 2+ answers: {}", a.tasks);
        eprintln!("percent agreement:     {:.4}", a.percent_agreement);
        eprintln!("Fleiss' kappa:         {:.4}", a.fleiss_kappa);
        eprintln!("Krippendorff's alpha:  {:.4}", a.krippendorff_alpha);
        match a.cohen_kappa {
            Some(k) => eprintln!(
                "Cohen's kappa (mean):  {k:.4} over {} annotator pairs",
                a.cohen_pairs
            ),
            None => eprintln!("Cohen's kappa (mean):  n/a (no annotator pair shares enough tasks)"),
        }
    }
    if let Some(path) = &args.workers {
        write_workers(path, &data, &worker_skills(&data, &fit))?;
    }
    Ok(())
}

/// An error about the file at `path`, prefixed with its path.
fn in_file<E: std::fmt::Display>(path: &std::path::Path) -> impl Fn(E) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{}: {e}", path.display())
}

/// The file at `path`. A big file is read by one thread per core, each reading its own
/// part into place: the copying, and the first touch of the buffer's memory (costly on a
/// VM), then run on all cores, where one `read` made them a fifth of a million-answer run.
fn read_file(path: &std::path::Path) -> Result<Vec<u8>> {
    const MIN_PART: u64 = 4 << 20;
    let file = AnswersFile::open(path)?;
    let len = file.size();
    // One part only where reading at an offset moves a cursor the parts would share.
    let threads = if cfg!(unix) { cores() as u64 } else { 1 };
    let parts = threads.min(len / MIN_PART).max(1);
    let mut bytes = vec![0u8; usize::try_from(len)?];
    let part = bytes.len().div_ceil(parts as usize).max(1);
    par_map(
        bytes.chunks_mut(part).enumerate().collect(),
        |(i, chunk)| {
            let whole = file.read_full(chunk, (i * part) as u64)? == chunk.len();
            whole.then_some(()).ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the file shrank while it was read",
                )
            })
        },
    )
    .into_iter()
    .collect::<std::io::Result<()>>()?;
    // A file that grew while it was read is read again, whole.
    if file.read_full(&mut [0u8; 1], len)? > 0 {
        bytes = std::fs::read(path)?;
    }
    Ok(bytes)
}

/// An answers file, read at offsets by a thread per core (see [`ReadAt`]).
struct AnswersFile {
    file: std::fs::File,
    size: u64,
    /// Where reading at an offset moves a cursor the threads would share, one at a time.
    #[cfg(not(unix))]
    cursor: std::sync::Mutex<()>,
}

impl AnswersFile {
    fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            file,
            size,
            #[cfg(not(unix))]
            cursor: std::sync::Mutex::new(()),
        })
    }
}

impl ReadAt for AnswersFile {
    fn size(&self) -> u64 {
        self.size
    }

    #[cfg(unix)]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        std::os::unix::fs::FileExt::read_at(&self.file, buf, offset)
    }

    #[cfg(not(unix))]
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        use std::io::{Read, Seek};
        let _one = self
            .cursor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut file = &self.file;
        file.seek(std::io::SeekFrom::Start(offset))?;
        file.read(buf)
    }
}

/// Whether `field` must be quoted in CSV: it holds a comma, quote or line break.
fn needs_quotes(field: &str) -> bool {
    memchr::memchr3(b',', b'"', b'\n', field.as_bytes()).is_some() || field.contains('\r')
}

/// `field` as a CSV field: quoted when it holds a comma, quote or line break.
fn csv_field(field: &str) -> std::borrow::Cow<'_, str> {
    if needs_quotes(field) {
        format!("\"{}\"", field.replace('"', "\"\"")).into()
    } else {
        field.into()
    }
}

/// [`write_consensus`] to stdout.
fn write_stdout(
    tasks: &Names,
    labels: &Names,
    choice: impl Fn(usize) -> (usize, f64) + Sync,
) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    write_consensus(&mut out, tasks, labels, choice)?;
    out.flush()
}

/// `task,label,confidence` rows, `choice(task)` giving the label and its confidence (six
/// decimals). Written by hand, a big file's rows formatted on all cores: formatting
/// machinery per field, then formatting on one core, were a large share of a
/// million-answer run. Task names are checked for characters that need quoting all at
/// once, in one scan of them joined, rather than name by name.
fn write_consensus(
    out: &mut impl Write,
    tasks: &Names,
    labels: &Names,
    choice: impl Fn(usize) -> (usize, f64) + Sync,
) -> std::io::Result<()> {
    const MIN_PARALLEL: usize = 1 << 15;
    let labels: Vec<_> = labels.iter().map(csv_field).collect();
    let quote_tasks = needs_quotes(tasks.joined());
    let n = tasks.len();
    let parts = if n < MIN_PARALLEL { 1 } else { cores() };
    let per = n.div_ceil(parts).max(1);
    let rows = par_map((0..parts).collect(), |part| {
        let mut buf = Vec::with_capacity(per * 24);
        for t in part * per..((part + 1) * per).min(n) {
            let (label, confidence) = choice(t);
            if quote_tasks {
                buf.extend_from_slice(csv_field(&tasks[t]).as_bytes());
            } else {
                buf.extend_from_slice(tasks.bytes(t).unwrap_or_default());
            }
            buf.push(b',');
            buf.extend_from_slice(labels[label].as_bytes());
            buf.push(b',');
            push_fixed6(&mut buf, confidence);
            buf.push(b'\n');
        }
        buf
    });
    out.write_all(b"task,label,confidence\n")?;
    rows.iter().try_for_each(|rows| out.write_all(rows))
}

/// `value` (a probability) with six decimals, as `{:.6}` prints it but without the
/// formatter: 0.5 → "0.500000". Rounded half away from zero by hand: `f64::round` is a
/// library call on the baseline x86-64 target, once per row.
fn push_fixed6(buf: &mut Vec<u8>, value: f64) {
    let scaled = value.clamp(0.0, 1.0) * 1e6;
    let whole = scaled as u32;
    // Exact: `scaled` is below 2^52, so its fraction is representable.
    let micros = whole + u32::from(scaled - f64::from(whole) >= 0.5);
    let fraction = (micros % 1_000_000) as usize;
    let pairs = [fraction / 10_000, fraction / 100 % 100, fraction % 100];
    let mut text = [b'0' + (micros / 1_000_000) as u8, b'.', 0, 0, 0, 0, 0, 0];
    for (to, pair) in text[2..].chunks_exact_mut(2).zip(pairs) {
        to.copy_from_slice(&TWO_DIGITS[2 * pair..2 * pair + 2]);
    }
    buf.extend_from_slice(&text);
}

/// "00" to "99", one after the other: two digits per lookup.
const TWO_DIGITS: &[u8; 200] = b"\
    0001020304050607080910111213141516171819\
    2021222324252627282930313233343536373839\
    4041424344454647484950515253545556575859\
    6061626364656667686970717273747576777879\
    8081828384858687888990919293949596979899";

/// Numeric consensus: `task,label,confidence` with the number as the label.
fn run_numeric(args: &AggregateArgs, text: &str, method: NumericMethod) -> Result<()> {
    if args.gold.is_some() || args.metrics {
        anyhow::bail!("--gold and --metrics apply to categorical methods only");
    }
    let data = NumericDataset::from_csv(text).map_err(in_file(&args.answers))?;
    let fit = method.fit(&data);
    let stdout = std::io::stdout();
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(stdout.lock()));
    w.write_record(["task", "label", "confidence"])?;
    for ((task, value), confidence) in data.tasks.iter().zip(&fit.values).zip(&fit.confidences) {
        w.write_record([task, &value.to_string(), &format!("{confidence:.6}")])?;
    }
    w.flush()?;
    if let Some(path) = &args.workers {
        let mut out =
            csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
        out.write_record(["worker", "weight"])?;
        for (name, weight) in data.workers.iter().zip(&fit.weights) {
            out.write_record([name, &format!("{weight:.6}")])?;
        }
        out.flush()?;
    }
    Ok(())
}

fn write_workers(path: &std::path::Path, data: &Dataset, skills: &[WorkerSkill]) -> Result<()> {
    let mut w =
        csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
    w.write_record(["worker", "answers", "accuracy", "confusion"])?;
    for (name, s) in data.workers.iter().zip(skills) {
        let confusion: serde_json::Map<String, serde_json::Value> = data
            .labels
            .iter()
            .zip(&s.confusion)
            .map(|(truth, row)| {
                let row: serde_json::Map<String, serde_json::Value> = data
                    .labels
                    .iter()
                    .zip(row)
                    .map(|(l, p)| (l.to_owned(), serde_json::json!((p * 1e4).round() / 1e4)))
                    .collect();
                (truth.to_owned(), serde_json::Value::Object(row))
            })
            .collect();
        w.write_record([
            name,
            &s.answers.to_string(),
            &format!("{:.6}", s.accuracy),
            &serde_json::Value::Object(confusion).to_string(),
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed6(value: f64) -> String {
        let mut buf = Vec::new();
        push_fixed6(&mut buf, value);
        String::from_utf8(buf).expect("ASCII")
    }

    #[test]
    fn confidences_print_as_the_formatter_prints_them() {
        // Every fraction with a denominator up to 100 (none lands on a tie at six
        // decimals), and the ends.
        for d in 1..=100u32 {
            for n in 0..=d {
                let value = f64::from(n) / f64::from(d);
                assert_eq!(fixed6(value), format!("{value:.6}"), "{n}/{d}");
            }
        }
        // Half a millionth rounds away from zero; out-of-range values are clamped.
        assert_eq!(fixed6(0.25e-6 + 0.25e-6), "0.000001");
        assert_eq!(fixed6(1.5), "1.000000");
        assert_eq!(fixed6(-0.1), "0.000000");
    }

    #[test]
    fn task_and_label_names_are_quoted_only_when_they_must_be() {
        let tasks: Names = [
            "plain",
            "with,comma",
            "with \"quote\"",
            "line\nbreak",
            "cr\r",
        ]
        .into_iter()
        .collect();
        let labels: Names = ["x", "y,z"].into_iter().collect();
        let mut out = Vec::new();
        write_consensus(&mut out, &tasks, &labels, |t| (t % 2, 0.5)).expect("write");
        let mut reader = csv::Reader::from_reader(out.as_slice());
        let rows: Vec<Vec<String>> = reader
            .records()
            .map(|r| r.expect("CSV").iter().map(str::to_owned).collect())
            .collect();
        let expected: Vec<Vec<String>> = tasks
            .iter()
            .enumerate()
            .map(|(t, task)| vec![task.into(), labels[t % 2].into(), "0.500000".into()])
            .collect();
        assert_eq!(rows, expected);
        // A file of plain names is written without quotes at all.
        let plain: Names = ["a", "b"].into_iter().collect();
        let mut out = Vec::new();
        write_consensus(&mut out, &plain, &plain, |t| (t, 1.0)).expect("write");
        assert_eq!(out, b"task,label,confidence\na,a,1.000000\nb,b,1.000000\n");
    }

    #[test]
    fn a_big_file_written_in_parts_is_written_whole() {
        let n = 40_000;
        let tasks: Names = (0..n).map(|t| format!("task {t}")).collect();
        let labels: Names = ["no", "yes"].into_iter().collect();
        let confidence = |t: usize| (t % 1000) as f64 / 999.0;
        let mut out = Vec::new();
        write_consensus(&mut out, &tasks, &labels, |t| (t % 2, confidence(t))).expect("write");
        let expected: String = std::iter::once("task,label,confidence\n".to_owned())
            .chain((0..n).map(|t| format!("task {t},{},{:.6}\n", &labels[t % 2], confidence(t))))
            .collect();
        assert_eq!(String::from_utf8(out).expect("text"), expected);
    }
}
