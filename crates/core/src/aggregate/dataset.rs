//! Answers as dense indices: tasks, workers and labels are numbered in order of first
//! appearance (labels sorted), so methods work on integers and slices.

use rustc_hash::FxHashMap as HashMap;

use super::names::{Interner, Names};
use super::records::{read_records, read_records_parallel};

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

/// Numbers names as they arrive; labels get their final, sorted numbering in `finish`.
#[derive(Default)]
struct Builder {
    tasks: Interner,
    workers: Interner,
    labels: Interner,
    answers: Vec<Answer>,
}

impl Builder {
    /// A builder with room for the rows `bytes` of CSV can hold at most (a row takes at
    /// least 6 bytes): reserved, not touched, so it costs address space only — and saves
    /// copying a million answers each time a vector would have doubled.
    fn for_bytes(bytes: usize) -> Self {
        let rows = bytes / 6;
        Self {
            tasks: Interner::with_capacity(rows),
            answers: Vec::with_capacity(rows),
            ..Self::default()
        }
    }

    fn push(&mut self, task: &str, worker: &str, label: &str) -> Result<(), DatasetError> {
        let t = self.tasks.intern(task);
        let w = self.workers.intern(worker);
        let l = self.labels.intern(label);
        if self.labels.len() > u16::MAX as usize {
            return Err(DatasetError::TooManyLabels);
        }
        self.answers.push((t, w, l as u16));
        Ok(())
    }

    /// Appends what `other` read after this builder's rows: its names take the next free
    /// numbers, in their order of first sight, so the result is what one builder reading
    /// both in turn would have made.
    fn append(&mut self, other: Builder) -> Result<(), DatasetError> {
        let renumber = |into: &mut Interner, from: Interner| -> Vec<u32> {
            from.into_names().iter().map(|n| into.intern(n)).collect()
        };
        let tasks = renumber(&mut self.tasks, other.tasks);
        let workers = renumber(&mut self.workers, other.workers);
        let labels = renumber(&mut self.labels, other.labels);
        if self.labels.len() > u16::MAX as usize {
            return Err(DatasetError::TooManyLabels);
        }
        self.answers.extend(other.answers.iter().map(|&(t, w, l)| {
            (
                tasks[t as usize],
                workers[w as usize],
                labels[l as usize] as u16,
            )
        }));
        Ok(())
    }

    /// Renumbers labels in sorted order, so results do not depend on row order.
    fn finish(mut self) -> Result<Dataset, DatasetError> {
        if self.answers.is_empty() {
            return Err(DatasetError::Empty);
        }
        let labels = self.labels.into_names();
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_unstable_by(|&a, &b| labels[a].cmp(&labels[b]));
        let mut rank = vec![0u16; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u16;
        }
        for a in &mut self.answers {
            a.2 = rank[a.2 as usize];
        }
        let tasks = self.tasks.into_names();
        Ok(Dataset {
            gold: vec![None; tasks.len()],
            tasks,
            workers: self.workers.into_names(),
            labels: order.iter().map(|&i| &labels[i]).collect(),
            answers: self.answers,
        })
    }
}

impl Dataset {
    /// Builds a dataset from (task, worker, label) string triples. Labels are numbered in
    /// sorted order so results do not depend on row order.
    pub fn from_triples<'a>(
        rows: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> Result<Self, DatasetError> {
        let mut builder = Builder::default();
        for (task, worker, label) in rows {
            builder.push(task, worker, label)?;
        }
        builder.finish()
    }

    /// Reads crowd-kit's CSV format: a `task,worker,label` header, then one answer per row.
    /// An empty field or a malformed row is an error naming its line.
    pub fn from_csv(text: &str) -> Result<Self, DatasetError> {
        let pieces = read_records_parallel(
            text,
            ["task", "worker", "label"],
            Builder::for_bytes,
            |builder, _, [task, worker, label]| builder.push(task, worker, label),
        )?;
        let mut pieces = pieces.into_iter();
        let mut builder = pieces.next().unwrap_or_default();
        for piece in pieces {
            builder.append(piece)?;
        }
        builder.finish()
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
        // Big enough (over 2 MiB) to be cut into pieces; names recur across the cut.
        let mut text = String::from("task,worker,label\n");
        let mut rows = Vec::new();
        for i in 0..300_000 {
            let row = (
                format!("t{}", i / 3),
                format!("w{}", i % 7),
                format!("l{}", i % 5),
            );
            text.push_str(&format!("{},{},{}\n", row.0, row.1, row.2));
            rows.push(row);
        }
        assert!(text.len() > 2 << 20);
        let whole = Dataset::from_rows(&rows);
        let read = Dataset::from_csv(&text).expect("valid");
        assert_eq!(read.answers, whole.answers);
        assert_eq!(read.tasks, whole.tasks);
        assert_eq!(read.workers, whole.workers);
        assert_eq!(read.labels, whole.labels);
        // A bad row in the last piece is reported with its line in the whole file.
        text.push_str("t9,,l1\n");
        assert_eq!(
            Dataset::from_csv(&text).expect_err("empty worker"),
            DatasetError::Line {
                line: 300_002,
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
