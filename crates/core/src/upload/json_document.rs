//! A JSON document of tasks — an array of task objects, or one task object — as Label Studio
//! exports them (and as people write them by hand). The document is cut into its elements
//! by one scan that follows strings and nesting, so each element is parsed on its own (on
//! all cores) and an error names the line and column in the file.

use serde_json::Value;

use super::{ParsedPiece, UploadError, UploadReport, err, spacy, task_object};
use crate::schema::LabelSchema;
use crate::task::ParsedTask;

/// One element of the document: its bytes and the line and column it starts at.
struct Element<'a> {
    bytes: &'a [u8],
    line: usize,
    column: usize,
}

/// Where the scan is: byte offset, line, and the offset of the line's start.
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
    line: usize,
    line_start: usize,
}

impl<'a> Cursor<'a> {
    fn column(&self) -> usize {
        // Columns count characters, as serde_json's do.
        String::from_utf8_lossy(&self.bytes[self.line_start..self.at])
            .chars()
            .count()
            + 1
    }

    fn fail(&self, message: impl Into<String>) -> UploadError {
        err(self.line, Some(self.column()), message)
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Moves one byte on; never past the end (an escape's backslash may be the last byte).
    fn bump(&mut self) {
        match self.peek() {
            None => {}
            Some(b'\n') => {
                self.line += 1;
                self.at += 1;
                self.line_start = self.at;
            }
            Some(_) => self.at += 1,
        }
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.bump();
        }
    }

    /// Moves past one value (an object, an array, a string or a scalar) and returns it.
    fn value(&mut self) -> Result<Element<'a>, UploadError> {
        let (start, line, column) = (self.at, self.line, self.column());
        let mut depth = 0usize;
        loop {
            match self.peek() {
                None if depth == 0 => break,
                None => return Err(self.fail("the document ends inside a value")),
                Some(b'"') => self.string()?,
                Some(b'{' | b'[') => {
                    depth += 1;
                    self.bump();
                }
                Some(b'}' | b']') if depth == 0 => break,
                Some(b'}' | b']') => {
                    depth -= 1;
                    self.bump();
                    if depth == 0 {
                        break;
                    }
                }
                Some(b',') if depth == 0 => break,
                Some(_) => self.bump(),
            }
        }
        Ok(Element {
            bytes: &self.bytes[start..self.at],
            line,
            column,
        })
    }

    fn string(&mut self) -> Result<(), UploadError> {
        self.bump();
        loop {
            match self.peek() {
                None => return Err(self.fail("the document ends inside a string")),
                Some(b'\\') => {
                    self.bump();
                    self.bump();
                }
                Some(b'"') => {
                    self.bump();
                    return Ok(());
                }
                Some(_) => self.bump(),
            }
        }
    }
}

/// Cuts `bytes` into the document's task elements.
fn elements(bytes: &[u8]) -> Result<Vec<Element<'_>>, UploadError> {
    let mut c = Cursor {
        bytes,
        at: 0,
        line: 1,
        line_start: 0,
    };
    if bytes.starts_with("\u{feff}".as_bytes()) {
        c.at = 3;
        c.line_start = 3;
    }
    c.skip_space();
    let mut out = Vec::new();
    match c.peek() {
        Some(b'{') => out.push(c.value()?),
        Some(b'[') => {
            c.bump();
            c.skip_space();
            if c.peek() == Some(b']') {
                c.bump();
            } else {
                loop {
                    c.skip_space();
                    out.push(c.value()?);
                    c.skip_space();
                    match c.peek() {
                        Some(b',') => c.bump(),
                        Some(b']') => {
                            c.bump();
                            break;
                        }
                        None => return Err(c.fail("the array is not closed: \"]\" is missing")),
                        Some(_) => return Err(c.fail("expected \",\" or \"]\" after a task")),
                    }
                }
            }
        }
        None => return Ok(out),
        Some(_) => return Err(c.fail("a JSON upload is an array of tasks or one task object")),
    }
    c.skip_space();
    if c.peek().is_some() {
        return Err(c.fail("more after the end of the document"));
    }
    Ok(out)
}

/// Parses a whole JSON document of tasks.
pub(super) fn parse<T: ParsedTask>(
    bytes: &[u8],
    schema: &LabelSchema,
    lenient: bool,
) -> Result<(Vec<T>, Vec<usize>, UploadReport), UploadError> {
    if let Err(e) = simdutf8::compat::from_utf8(bytes) {
        let valid = &bytes[..e.valid_up_to()];
        let line_start = memchr::memrchr(b'\n', valid).map_or(0, |i| i + 1);
        return Err(err(
            1 + memchr::memchr_iter(b'\n', valid).count(),
            Some(valid.len() - line_start + 1),
            "invalid UTF-8",
        ));
    }
    let elements = elements(bytes)?;
    let threads = crate::aggregate::cores().clamp(1, 8);
    let per = elements.len().div_ceil(threads).max(1);
    let parsed: Vec<ParsedPiece<T>> = std::thread::scope(|scope| {
        let handles: Vec<_> = elements
            .chunks(per)
            .map(|chunk| scope.spawn(move || parse_elements(chunk, schema, lenient)))
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(err(1, None, "the upload parser failed")))
            })
            .collect()
    });
    let (mut tasks, mut lines, mut report) = (Vec::new(), Vec::new(), UploadReport::default());
    for piece in parsed {
        let (t, l, r) = piece?;
        tasks.extend(t);
        lines.extend(l);
        report.merge(r);
    }
    Ok((tasks, lines, report))
}

fn parse_elements<T: ParsedTask>(
    elements: &[Element<'_>],
    schema: &LabelSchema,
    lenient: bool,
) -> ParsedPiece<T> {
    let mut tasks = Vec::with_capacity(elements.len());
    let mut lines = Vec::with_capacity(elements.len());
    let mut cx = task_object::Reading::new(lenient);
    for e in elements {
        let value: Value = serde_json::from_slice(e.bytes).map_err(|j| {
            let line = e.line + j.line().saturating_sub(1);
            let column = if j.line() <= 1 {
                e.column + j.column().saturating_sub(1)
            } else {
                j.column()
            };
            err(line, Some(column.max(1)), format!("invalid JSON: {j}"))
        })?;
        cx.line = e.line;
        if spacy::is_v2(&value) {
            // A spaCy v2 document holds a task per paragraph.
            for task in spacy::v2(value, schema, &mut cx).map_err(|m| err(e.line, None, m))? {
                tasks.push(T::from_input(task).map_err(|m| err(e.line, None, m))?);
                lines.push(e.line);
            }
            continue;
        }
        let task = task_object::task(value, schema, &mut cx)
            .and_then(T::from_input)
            .map_err(|m| err(e.line, None, m))?;
        tasks.push(task);
        lines.push(e.line);
    }
    Ok((tasks, lines, cx.report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cut(text: &str) -> Result<Vec<(String, usize, usize)>, UploadError> {
        Ok(elements(text.as_bytes())?
            .into_iter()
            .map(|e| {
                (
                    String::from_utf8_lossy(e.bytes).into_owned(),
                    e.line,
                    e.column,
                )
            })
            .collect())
    }

    #[test]
    fn an_array_is_cut_into_its_elements_with_where_each_starts() {
        let got =
            cut("[\n  {\"a\": \"x,]}\"},\n  {\"b\": [1, {\"c\": \"\\\"\"}]}\n]\n").expect("cut");
        assert_eq!(
            got,
            [
                ("{\"a\": \"x,]}\"}".to_owned(), 2, 3),
                ("{\"b\": [1, {\"c\": \"\\\"\"}]}".to_owned(), 3, 3)
            ]
        );
        assert_eq!(cut("{\"text\": \"one\"}").expect("one").len(), 1);
        assert!(cut("[]").expect("empty").is_empty());
    }

    #[test]
    fn a_broken_document_names_its_line_and_column() {
        let e = cut("[\n {\"a\": 1}\n {\"b\": 2}\n]").expect_err("no comma");
        assert_eq!((e.line, e.column), (3, Some(2)), "{e}");
        let e = cut("[\n {\"a\": 1},\n").expect_err("not closed");
        assert_eq!(e.line, 3, "{e}");
        let e = cut("[{\"a\": \"open]").expect_err("string");
        assert!(e.message.contains("inside a string"), "{e}");
        // A string that ends in the backslash of an escape: the last byte.
        let e = cut("[{\"a\": \"x\\").expect_err("cut in an escape");
        assert_eq!((e.line, e.column), (1, Some(11)), "{e}");
        let e = cut("{\"a\": 1} {\"b\": 2}").expect_err("two documents");
        assert_eq!((e.line, e.column), (1, Some(10)), "{e}");
    }
}
