//! Answers made elsewhere to a project's tasks, as a crowd-kit CSV: one row per answer,
//! `task,worker,label` (also crowd-kit's `performer`/`output` and `question,worker,answer`, as
//! Toloka and the truth-inference datasets write them). Tasks are named by their external ids.

use std::io::Read;

use super::{UploadError, err};
use crate::aggregate::answers_column;
use crate::schema::LabelSchema;
use crate::task::ImportedAnswer;

/// One answer of the file, with its line and the task's external id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalAnswer {
    pub line: usize,
    pub task: String,
    pub answer: ImportedAnswer,
}

/// Whether a CSV file's first line is a crowd-kit answers header: it names a task, a worker
/// and a label column.
pub fn is_answers_header(head: &[u8]) -> bool {
    let head = head.strip_prefix("\u{feff}".as_bytes()).unwrap_or(head);
    let first = head.split(|&b| b == b'\n').next().unwrap_or(head);
    let Ok(first) = std::str::from_utf8(first) else {
        return false;
    };
    let named: Vec<&str> = first
        .split(',')
        .filter_map(|h| answers_column(h.trim().trim_matches('"')))
        .collect();
    ["task", "worker", "label"]
        .iter()
        .all(|c| named.contains(c))
}

/// Reads a crowd-kit answers file; each label must be one of the project's. Other columns
/// are not read. An empty file, a missing column or a bad row is an error naming its line.
pub fn parse_answers_csv(
    reader: impl Read,
    schema: &LabelSchema,
) -> Result<Vec<ExternalAnswer>, UploadError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(reader);
    let headers = reader
        .headers()
        .map_err(|e| err(1, None, e.to_string()))?
        .clone();
    let column = |name: &str| {
        headers
            .iter()
            .position(|h| answers_column(h.trim().trim_start_matches('\u{feff}')) == Some(name))
            .ok_or_else(|| {
                err(
                    1,
                    None,
                    format!("the header needs a {name:?} column (task,worker,label)"),
                )
            })
    };
    let (task, worker, label) = (column("task")?, column("worker")?, column("label")?);
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(1, |p| p.line() as usize);
            err(line, None, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize, name: &str| {
            let value = record.get(i).unwrap_or("").trim();
            if value.is_empty() {
                Err(err(line, Some(i + 1), format!("the {name} is empty")))
            } else {
                Ok(value.to_owned())
            }
        };
        let labels = vec![field(label, "label")?];
        schema
            .check_answer(&labels)
            .map_err(|e| err(line, Some(label + 1), e.to_string()))?;
        out.push(ExternalAnswer {
            line,
            task: field(task, "task")?,
            answer: ImportedAnswer {
                annotator: field(worker, "worker")?,
                labels,
                skipped: false,
                answered_at: None,
                unsure: false,
            },
        });
    }
    if out.is_empty() {
        return Err(err(1, None, "the file holds no answers"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> LabelSchema {
        LabelSchema::from_json(r#"{"kind": "classification", "labels": ["0", "1"]}"#)
            .expect("schema")
    }

    #[test]
    fn every_crowd_kit_header_is_read() {
        for header in [
            "task,worker,label",
            "task,performer,output",
            "question,worker,answer",
            "worker,label,task,extra",
        ] {
            let text = format!("{header}\n");
            assert!(is_answers_header(text.as_bytes()), "{header}");
        }
        assert!(!is_answers_header(b"id,text,prediction\n"));
        let text = "performer,task,output\nw1,t1,1\nw2,t1,0\n";
        let answers = parse_answers_csv(text.as_bytes(), &schema()).expect("answers");
        let read: Vec<(usize, &str, &str, &str)> = answers
            .iter()
            .map(|a| {
                (
                    a.line,
                    a.task.as_str(),
                    a.answer.annotator.as_str(),
                    a.answer.labels[0].as_str(),
                )
            })
            .collect();
        assert_eq!(read, [(2, "t1", "w1", "1"), (3, "t1", "w2", "0")]);
    }

    #[test]
    fn a_bad_row_names_its_line_and_column() {
        let e = parse_answers_csv(
            "task,worker,label\nt1,w1,1\nt2,w2,7\n".as_bytes(),
            &schema(),
        )
        .expect_err("unknown label");
        assert_eq!((e.line, e.column), (3, Some(3)), "{e}");
        let e = parse_answers_csv("task,worker,label\nt1,,1\n".as_bytes(), &schema())
            .expect_err("no worker");
        assert_eq!((e.line, e.column), (2, Some(2)), "{e}");
        let e = parse_answers_csv("task,label\nt1,1\n".as_bytes(), &schema())
            .expect_err("no worker column");
        assert!(e.message.contains("\"worker\""), "{e}");
        let e = parse_answers_csv("task,worker,label\n".as_bytes(), &schema()).expect_err("empty");
        assert!(e.message.contains("no answers"), "{e}");
    }
}
