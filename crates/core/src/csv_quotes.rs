//! Strict CSV quoting, checked beside the `csv` reader (which is lenient by design and has no
//! strict mode): a quote inside an unquoted field, text after a closing quote, or a quoted
//! field never closed is an error naming its line — never the rest of a file read silently
//! as one field. Only the quote state is followed here; the `csv` crate does the parsing.

use std::io::Read;

/// A quoting error: where it is, and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a field.
    FieldStart,
    /// Inside a field that did not start with a quote.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// Just after a quote inside a quoted field: a second quote is an escaped quote, a
    /// delimiter or line break ends the field.
    QuoteInQuoted,
}

/// Follows the quote state of CSV bytes as they are read.
#[derive(Debug, Clone)]
pub struct QuoteCheck {
    state: State,
    line: usize,
    /// The field's number on its record's first line (1-based), for messages.
    column: usize,
    /// Where the open quoted field began.
    opened: (usize, usize),
    /// The byte before, to count a CR LF line end once.
    last: u8,
    /// The field separator: `,`, or a tab for TSV.
    delimiter: u8,
    error: Option<QuoteError>,
}

impl Default for QuoteCheck {
    fn default() -> Self {
        Self {
            state: State::FieldStart,
            line: 1,
            column: 1,
            opened: (1, 1),
            last: 0,
            delimiter: b',',
            error: None,
        }
    }
}

impl QuoteCheck {
    /// The first quoting error so far.
    pub fn error(&self) -> Option<&QuoteError> {
        self.error.as_ref()
    }

    fn fail(&mut self, message: String) {
        if self.error.is_none() {
            self.error = Some(QuoteError {
                line: self.line,
                column: self.column,
                message,
            });
        }
    }

    /// Follows `bytes`, the next part of the file.
    pub fn feed(&mut self, bytes: &[u8]) {
        // Tab-separated files (Toloka's among them) quote nothing: a quote is text.
        if self.delimiter == b'\t' {
            return;
        }
        for &b in bytes {
            if self.error.is_some() {
                return;
            }
            self.step(b);
            self.last = b;
        }
    }

    fn step(&mut self, b: u8) {
        let line_break = b == b'\n' && self.last != b'\r' || b == b'\r';
        match (self.state, b) {
            (State::FieldStart, b'"') => {
                self.state = State::Quoted;
                self.opened = (self.line, self.column);
            }
            (State::Quoted, b'"') => self.state = State::QuoteInQuoted,
            (State::QuoteInQuoted, b'"') => self.state = State::Quoted,
            (State::Quoted, _) => {}
            (State::Unquoted, b'"') => self.fail(
                "a quote inside an unquoted field: quote the whole field and double the quote \
                 (\"a \"\"b\"\" c\")"
                    .to_owned(),
            ),
            (State::QuoteInQuoted | State::Unquoted | State::FieldStart, d)
                if d == self.delimiter =>
            {
                self.state = State::FieldStart;
                self.column += 1;
            }
            (State::QuoteInQuoted | State::Unquoted | State::FieldStart, b'\n' | b'\r') => {
                self.state = State::FieldStart;
                self.column = 1;
            }
            (State::QuoteInQuoted, _) => self.fail(
                "text after a closing quote: a quote inside a quoted field is written twice"
                    .to_owned(),
            ),
            (State::FieldStart | State::Unquoted, _) => self.state = State::Unquoted,
        }
        if line_break {
            self.line += 1;
        }
    }

    /// The end of the file: a quoted field still open is an error at its opening quote.
    pub fn finish(&mut self) {
        if self.state == State::Quoted && self.error.is_none() {
            let (line, column) = self.opened;
            self.error = Some(QuoteError {
                line,
                column,
                message: "a quoted field opened here is never closed: a stray quote?".to_owned(),
            });
        }
    }
}

/// A reader that follows the quote state of what passes through it.
pub struct QuoteChecked<R> {
    inner: R,
    check: std::sync::Arc<std::sync::Mutex<QuoteCheck>>,
}

impl<R: Read> QuoteChecked<R> {
    /// Wraps `inner`; the returned handle reads the check's state.
    pub fn new(inner: R) -> (Self, std::sync::Arc<std::sync::Mutex<QuoteCheck>>) {
        Self::with_delimiter(inner, b',')
    }

    /// [`QuoteChecked::new`] for fields separated by `delimiter`.
    pub fn with_delimiter(
        inner: R,
        delimiter: u8,
    ) -> (Self, std::sync::Arc<std::sync::Mutex<QuoteCheck>>) {
        let check = std::sync::Arc::new(std::sync::Mutex::new(QuoteCheck {
            delimiter,
            ..QuoteCheck::default()
        }));
        (
            Self {
                inner,
                check: std::sync::Arc::clone(&check),
            },
            check,
        )
    }
}

impl<R: Read> Read for QuoteChecked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut check = self.check.lock().unwrap_or_else(|e| e.into_inner());
        if n == 0 {
            check.finish();
        } else {
            check.feed(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str) -> Option<QuoteError> {
        let mut c = QuoteCheck::default();
        c.feed(text.as_bytes());
        c.finish();
        c.error
    }

    #[test]
    fn well_quoted_files_pass() {
        for text in [
            "a,b\n1,2\n",
            "a,b\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n",
            "a,b\n\"two\nlines\",2\n",
            "a,b\n\"\",x\n",
            "a\n",
            "",
        ] {
            assert_eq!(check(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_stray_quote_names_its_line() {
        let e = check("text,label\nfine,a\n\"oops,b\nmore,c\nlast,d\n").expect("unclosed");
        assert_eq!((e.line, e.column), (3, 1), "{e:?}");
        assert!(e.message.contains("never closed"), "{e:?}");
        let e = check("text,label\nsay \"hi\",a\n").expect("quote in unquoted field");
        assert_eq!((e.line, e.column), (2, 1), "{e:?}");
        let e = check("text,label\nx,\"a\"b\n").expect("text after the closing quote");
        assert_eq!((e.line, e.column), (2, 2), "{e:?}");
    }

    #[test]
    fn lines_are_counted_across_pieces_and_crlf() {
        let text = "a,b\r\n1,2\r\n3,\"4\r\n";
        let mut c = QuoteCheck::default();
        for piece in text.as_bytes().chunks(1) {
            c.feed(piece);
        }
        c.finish();
        let e = c.error.expect("unclosed");
        assert_eq!((e.line, e.column), (3, 2), "{e:?}");
    }
}
