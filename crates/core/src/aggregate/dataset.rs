//! Answers as dense indices: tasks, workers and labels are numbered in order of first
//! appearance (labels sorted), so methods work on integers and slices.

use rustc_hash::FxHashMap as HashMap;

use super::names::{Interner, Names, number_together};
use super::par_map;
use super::records::{line_counts, read_records, read_records_parallel};

/// One answer: (task, worker, label) indices.
pub type Answer = (u32, u32, u16);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DatasetError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("too many distinct labels (at most 65535)")]
    TooManyLabels,
    #[error("no answers")]
    Empty,
    /// Names are cut from text at ASCII separators, so this is never expected.
    #[error("a name that is not UTF-8 text")]
    NotText,
    /// The source of the rows (a file) could not be read.
    #[error("reading: {0}")]
    Read(String),
}

#[derive(Debug, Clone, Default)]
pub struct Dataset {
    pub tasks: Names,
    pub workers: Names,
    pub labels: Names,
    pub answers: Vec<Answer>,
    /// Known true labels (gold), by task index; methods clamp these tasks.
    pub gold: Vec<Option<u16>>,
}

/// One piece of the rows: numbers its names as they arrive and writes its answers, so
/// numbered, into its own slot of the dataset's answers. [`merge`] then gives all pieces
/// one numbering.
struct Piece<'a> {
    tasks: Interner,
    workers: Interner,
    labels: Interner,
    /// Room for as many answers as the piece has lines (rows never outnumber lines).
    slot: &'a mut [Answer],
    filled: usize,
}

impl<'a> Piece<'a> {
    fn new(slot: &'a mut [Answer]) -> Self {
        Self {
            tasks: Interner::default(),
            workers: Interner::default(),
            labels: Interner::default(),
            slot,
            filled: 0,
        }
    }

    fn push(&mut self, task: &[u8], worker: &[u8], label: &[u8]) -> Result<(), DatasetError> {
        let t = self.tasks.intern(task);
        let w = self.workers.intern(worker);
        let l = self.labels.intern(label);
        if self.labels.len() > u16::MAX as usize {
            return Err(DatasetError::TooManyLabels);
        }
        self.slot[self.filled] = (t, w, l as u16);
        self.filled += 1;
        Ok(())
    }
}

/// `answers` cut into consecutive slots of the given lengths.
fn slots<'a>(mut answers: &'a mut [Answer], lengths: &[usize]) -> Vec<&'a mut [Answer]> {
    lengths
        .iter()
        .map(|&n| {
            let (slot, rest) = std::mem::take(&mut answers).split_at_mut(n);
            answers = rest;
            slot
        })
        .collect()
}

/// The dataset's names, numbered once for all pieces.
struct Numbered {
    tasks: Names,
    workers: Names,
    labels: Names,
}

/// One numbering for all pieces, what one reader of the whole file would have given: the
/// first piece's tasks and workers keep their numbers, each later piece's new ones take
/// the next free numbers in order of first sight; labels are numbered in sorted order, so
/// results do not depend on row order. Each piece's answers are renumbered in its slot,
/// on all cores. Returns the names and each slot's (length, answers in it).
fn merge(pieces: Vec<Piece<'_>>) -> Result<(Numbered, Vec<(usize, usize)>), DatasetError> {
    let mut slots = Vec::with_capacity(pieces.len());
    let (mut tasks, mut workers, mut labels) = (Vec::new(), Vec::new(), Vec::new());
    for piece in pieces {
        slots.push((piece.slot, piece.filled));
        tasks.push(piece.tasks);
        workers.push(piece.workers);
        labels.push(piece.labels);
    }
    let (tasks, task_numbers) = number_together(tasks)?;
    let (workers, worker_numbers) = number_together(workers)?;
    let (labels, label_ranks) = sort_labels(labels)?;
    let sizes = slots
        .iter()
        .map(|(slot, filled)| (slot.len(), *filled))
        .collect();
    // Each piece's answers with the new numbers of its tasks and workers (the first
    // piece's are unchanged) and the sorted rank of its labels. Built here, not on the
    // threads: a thread's first allocation costs it fresh memory.
    let mut label_ranks = label_ranks.into_iter();
    let first = (None, None, label_ranks.next().unwrap_or_default());
    let later = task_numbers
        .into_iter()
        .zip(worker_numbers)
        .zip(label_ranks)
        .map(|((t, w), l)| (Some(t), Some(w), l));
    let work: Vec<_> = slots
        .into_iter()
        .zip(std::iter::once(first).chain(later))
        .collect();
    par_map(work, |((slot, filled), (tasks, workers, labels))| {
        for a in &mut slot[..filled] {
            if let Some(t) = &tasks {
                a.0 = t[a.0 as usize];
            }
            if let Some(w) = &workers {
                a.1 = w[a.1 as usize];
            }
            a.2 = labels[a.2 as usize];
        }
    });
    Ok((
        Numbered {
            tasks,
            workers,
            labels,
        },
        sizes,
    ))
}

/// The labels of all pieces numbered together in sorted order, so that results do not
/// depend on row order: the sorted names, and for each piece the sorted number of each of
/// its own labels. No labels, or more than `u16` numbers, is an error.
pub(super) fn sort_labels(pieces: Vec<Interner>) -> Result<(Names, Vec<Vec<u16>>), DatasetError> {
    let first_len = pieces.first().map_or(0, Interner::len);
    let (labels, numbers) = number_together(pieces)?;
    if labels.is_empty() {
        return Err(DatasetError::Empty);
    }
    if labels.len() > u16::MAX as usize {
        return Err(DatasetError::TooManyLabels);
    }
    let mut order: Vec<usize> = (0..labels.len()).collect();
    order.sort_unstable_by(|&a, &b| labels[a].cmp(&labels[b]));
    let mut rank = vec![0u16; order.len()];
    for (r, &i) in order.iter().enumerate() {
        rank[i] = r as u16;
    }
    // The first piece's labels keep their numbers in the merged list.
    let ranks = std::iter::once(rank[..first_len].to_vec())
        .chain(
            numbers
                .iter()
                .map(|mine| mine.iter().map(|&l| rank[l as usize]).collect()),
        )
        .collect();
    Ok((order.iter().map(|&i| &labels[i]).collect(), ranks))
}

/// The dataset from its merged pieces: the slots closed up (a slot holds fewer answers
/// than lines where lines were blank). `sizes`: each slot's (length, answers in it).
fn finish(
    mut answers: Vec<Answer>,
    sizes: &[(usize, usize)],
    names: Numbered,
) -> Result<Dataset, DatasetError> {
    let (mut from, mut to) = (0, 0);
    for &(length, n) in sizes {
        if from != to {
            answers.copy_within(from..from + n, to);
        }
        from += length;
        to += n;
    }
    answers.truncate(to);
    if answers.is_empty() {
        return Err(DatasetError::Empty);
    }
    Ok(Dataset {
        gold: vec![None; names.tasks.len()],
        tasks: names.tasks,
        workers: names.workers,
        labels: names.labels,
        answers,
    })
}

impl Dataset {
    /// Builds a dataset from (task, worker, label) string triples. Labels are numbered in
    /// sorted order so results do not depend on row order.
    pub fn from_triples<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<Self, DatasetError> {
        let rows: Vec<_> = rows.into_iter().collect();
        let mut answers = vec![(0, 0, 0); rows.len()];
        let mut piece = Piece::new(&mut answers);
        for (task, worker, label) in rows {
            piece.push(task.as_bytes(), worker.as_bytes(), label.as_bytes())?;
        }
        let (names, sizes) = merge(vec![piece])?;
        finish(answers, &sizes, names)
    }

    /// Reads crowd-kit's CSV format: a `task,worker,label` header, then one answer per row.
    /// An empty field or a malformed row is an error naming its line.
    pub fn from_csv(text: &str) -> Result<Self, DatasetError> {
        // Sized once the pieces' lines are counted; each piece fills its own slot of it.
        let mut answers = Vec::new();
        let room = &mut answers;
        let pieces = read_records_parallel(
            text,
            ["task", "worker", "label"],
            move |pieces| {
                let lines = line_counts(pieces);
                let answers = room;
                *answers = vec![(0, 0, 0); lines.iter().sum()];
                slots(answers, &lines)
            },
            // Room set aside for the piece's tasks (see `Interner::for_rows`).
            |slot, text| Piece {
                tasks: Interner::for_rows(slot.len(), text.len()),
                ..Piece::new(slot)
            },
            |piece, _, [task, worker, label]| piece.push(task, worker, label),
        )?;
        let (names, sizes) = merge(pieces)?;
        finish(answers, &sizes, names)
    }

    /// Reads gold labels from a `task,label` CSV. Tasks without answers are ignored (there is
    /// nothing to aggregate for them); a label no answer uses is an error naming its line.
    pub fn read_gold_csv(&mut self, text: &str) -> Result<usize, DatasetError> {
        let tasks: HashMap<&str, usize> =
            self.tasks.iter().enumerate().map(|(i, t)| (t, i)).collect();
        let mut clamped = 0;
        read_records(text, ["task", "label"], |line, [task, label]| {
            let Some(&t) = tasks.get(task) else {
                return Ok(());
            };
            let l = self
                .labels
                .position(label)
                .ok_or_else(|| DatasetError::Line {
                    line,
                    message: format!("gold label {label:?} is not among the answers' labels"),
                })?;
            self.gold[t] = Some(l as u16);
            clamped += 1;
            Ok(())
        })?;
        Ok(clamped)
    }

    /// Test data from owned rows.
    #[cfg(test)]
    pub(crate) fn from_rows(rows: &[(String, String, String)]) -> Self {
        Self::from_triples(
            rows.iter()
                .map(|(t, w, l)| (t.as_str(), w.as_str(), l.as_str())),
        )
        .expect("test rows")
    }

    pub fn n_tasks(&self) -> usize {
        self.tasks.len()
    }

    pub fn n_workers(&self) -> usize {
        self.workers.len()
    }

    pub fn n_labels(&self) -> usize {
        self.labels.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_read_in_pieces_is_numbered_as_if_read_whole() {
        // Big enough (over 2 MiB) to be cut into pieces; names recur across the cut; a
        // label that sorts first and a worker are first seen late in the file; blank lines
        // leave the pieces' slots with room to close up.
        let mut text = String::from("task,worker,label\n");
        let mut rows = Vec::new();
        for i in 0..300_000 {
            let late = i > 250_000 && i % 11 == 0;
            let row = (
                format!("t{}", i / 3),
                if late {
                    "w-late".into()
                } else {
                    format!("w{}", i % 7)
                },
                if late {
                    "a-late".into()
                } else {
                    format!("l{}", i % 5)
                },
            );
            text.push_str(&format!("{},{},{}\n", row.0, row.1, row.2));
            if i % 1000 == 0 {
                text.push_str("\n\r\n");
            }
            rows.push(row);
        }
        assert!(text.len() > 2 << 20);
        let whole = Dataset::from_rows(&rows);
        let read = Dataset::from_csv(&text).expect("valid");
        assert_eq!(read.answers, whole.answers);
        assert_eq!(read.tasks, whole.tasks);
        assert_eq!(read.workers, whole.workers);
        assert_eq!(read.labels, whole.labels);
        assert_eq!(&read.labels[0], "a-late");
        // A bad row in the last piece is reported with its line in the whole file.
        text.push_str("t9,,l1\n");
        assert_eq!(
            Dataset::from_csv(&text).expect_err("empty worker"),
            DatasetError::Line {
                line: 300_002 + 2 * 300,
                message: "empty worker".into()
            }
        );
    }

    #[test]
    fn csv_is_read_and_bad_rows_name_their_line() {
        let d = Dataset::from_csv("task,worker,label\nt1,w1,b\nt1,w2,a\nt2,w1,b\n").expect("valid");
        assert_eq!(
            (
                d.n_tasks(),
                d.n_workers(),
                d.labels.iter().collect::<Vec<_>>()
            ),
            (2, 2, vec!["a", "b"])
        );
        assert_eq!(d.answers[1], (0, 1, 0));
        let e = Dataset::from_csv("task,worker,label\nt1,w1,b\nt2,,a\n").expect_err("empty worker");
        assert_eq!(
            e,
            DatasetError::Line {
                line: 3,
                message: "empty worker".into()
            }
        );
        assert!(Dataset::from_csv("task,annotator,label\n").is_err());
        assert_eq!(
            Dataset::from_csv("task,worker,label\n").expect_err("empty"),
            DatasetError::Empty
        );
    }
}
