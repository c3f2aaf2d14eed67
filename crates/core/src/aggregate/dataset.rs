//! Answers as dense indices: tasks, workers and labels are numbered in order of first
//! appearance (labels sorted), so methods work on integers and slices.

use rustc_hash::FxHashMap as HashMap;

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
    pub tasks: Vec<String>,
    pub workers: Vec<String>,
    pub labels: Vec<String>,
    pub answers: Vec<Answer>,
    /// Known true labels (gold), by task index; methods clamp these tasks.
    pub gold: Vec<Option<u16>>,
}

pub(crate) fn intern(names: &mut Vec<String>, index: &mut HashMap<String, u32>, name: &str) -> u32 {
    if let Some(&i) = index.get(name) {
        return i;
    }
    let i = names.len() as u32;
    names.push(name.to_owned());
    index.insert(name.to_owned(), i);
    i
}

/// A CSV reader past its header, and the positions of the `names` columns in it.
pub(crate) fn csv_with_columns<'a>(
    text: &'a str,
    names: &[&str],
) -> Result<(csv::Reader<&'a [u8]>, Vec<usize>), DatasetError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let header_err = |message: String| DatasetError::Line { line: 1, message };
    let headers = reader
        .headers()
        .map_err(|e| header_err(e.to_string()))?
        .clone();
    let columns = names
        .iter()
        .map(|name| {
            headers
                .iter()
                .position(|h| h.trim() == *name)
                .ok_or_else(|| {
                    header_err(format!(
                        "the header needs a {name:?} column ({})",
                        names.join(",")
                    ))
                })
        })
        .collect::<Result<_, _>>()?;
    Ok((reader, columns))
}

/// Numbers names as they arrive; labels get their final, sorted numbering in `finish`.
#[derive(Default)]
struct Builder {
    data: Dataset,
    task_index: HashMap<String, u32>,
    worker_index: HashMap<String, u32>,
    label_index: HashMap<String, u32>,
    labels: Vec<String>,
}

impl Builder {
    fn push(&mut self, task: &str, worker: &str, label: &str) -> Result<(), DatasetError> {
        let t = intern(&mut self.data.tasks, &mut self.task_index, task);
        let w = intern(&mut self.data.workers, &mut self.worker_index, worker);
        let l = intern(&mut self.labels, &mut self.label_index, label);
        if self.labels.len() > u16::MAX as usize {
            return Err(DatasetError::TooManyLabels);
        }
        self.data.answers.push((t, w, l as u16));
        Ok(())
    }

    /// Renumbers labels in sorted order, so results do not depend on row order.
    fn finish(mut self) -> Result<Dataset, DatasetError> {
        if self.data.answers.is_empty() {
            return Err(DatasetError::Empty);
        }
        let mut order: Vec<usize> = (0..self.labels.len()).collect();
        order.sort_unstable_by(|&a, &b| self.labels[a].cmp(&self.labels[b]));
        let mut rank = vec![0u16; order.len()];
        for (r, &i) in order.iter().enumerate() {
            rank[i] = r as u16;
        }
        self.data.labels = order
            .iter()
            .map(|&i| std::mem::take(&mut self.labels[i]))
            .collect();
        for a in &mut self.data.answers {
            a.2 = rank[a.2 as usize];
        }
        self.data.gold = vec![None; self.data.tasks.len()];
        Ok(self.data)
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
        let (mut reader, columns) = csv_with_columns(text, &["task", "worker", "label"])?;
        let mut builder = Builder::default();
        let mut record = csv::StringRecord::new();
        loop {
            match reader.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    return Err(DatasetError::Line {
                        line: e.position().map_or(0, |p| p.line() as usize),
                        message: e.to_string(),
                    });
                }
            }
            let mut fields = [""; 3];
            for (slot, (&column, name)) in fields
                .iter_mut()
                .zip(columns.iter().zip(["task", "worker", "label"]))
            {
                *slot = match record.get(column).map(str::trim) {
                    Some(v) if !v.is_empty() => v,
                    _ => {
                        return Err(DatasetError::Line {
                            line: record.position().map_or(0, |p| p.line() as usize),
                            message: format!("empty {name}"),
                        });
                    }
                };
            }
            builder.push(fields[0], fields[1], fields[2])?;
        }
        builder.finish()
    }

    /// Reads gold labels from a `task,label` CSV. Tasks without answers are ignored (there is
    /// nothing to aggregate for them); a label no answer uses is an error naming its line.
    pub fn read_gold_csv(&mut self, text: &str) -> Result<usize, DatasetError> {
        let (mut reader, columns) = csv_with_columns(text, &["task", "label"])?;
        let (ti, li) = (columns[0], columns[1]);
        let line_err = |line: usize, message: String| DatasetError::Line { line, message };
        let tasks: HashMap<&str, usize> = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.as_str(), i))
            .collect();
        let mut clamped = 0;
        for record in reader.records() {
            let record = record.map_err(|e| {
                line_err(e.position().map_or(0, |p| p.line() as usize), e.to_string())
            })?;
            let line = record.position().map_or(0, |p| p.line() as usize);
            let (task, label) = (
                record.get(ti).unwrap_or("").trim(),
                record.get(li).unwrap_or("").trim(),
            );
            let Some(&t) = tasks.get(task) else { continue };
            let l = self.labels.iter().position(|x| x == label).ok_or_else(|| {
                line_err(
                    line,
                    format!("gold label {label:?} is not among the answers' labels"),
                )
            })?;
            self.gold[t] = Some(l as u16);
            clamped += 1;
        }
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
    fn csv_is_read_and_bad_rows_name_their_line() {
        let d = Dataset::from_csv("task,worker,label\nt1,w1,b\nt1,w2,a\nt2,w1,b\n").expect("valid");
        assert_eq!(
            (d.n_tasks(), d.n_workers(), d.labels.clone()),
            (2, 2, vec!["a".to_owned(), "b".to_owned()])
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
