//! CSV rows by column name, for the aggregator's inputs (`task,worker,label`, `task,label`).
//!
//! Files without a quote character — nearly every answers file — are split on commas and
//! newlines directly, borrowing each field from the text; anything else goes through the
//! `csv` crate, which handles quoting. Both paths accept the same files and report the same
//! errors: the line, and what is wrong on it (a wrong number of fields, an empty field).

use super::DatasetError;

fn line_error(line: usize, message: String) -> DatasetError {
    DatasetError::Line { line, message }
}

/// Where each wanted column sits in the header, and how many fields the header has.
fn columns<'h, const N: usize>(
    header: impl Iterator<Item = &'h str>,
    names: [&str; N],
) -> Result<([usize; N], usize), DatasetError> {
    let header: Vec<&str> = header
        .map(|h| h.trim().trim_start_matches('\u{feff}'))
        .collect();
    let mut at = [0; N];
    for (slot, name) in at.iter_mut().zip(names) {
        *slot = header.iter().position(|h| *h == name).ok_or_else(|| {
            line_error(
                1,
                format!("the header needs a {name:?} column ({})", names.join(",")),
            )
        })?;
    }
    Ok((at, header.len()))
}

/// Picks the wanted fields of one row (trimmed); an empty one is an error naming its column.
fn pick<'f, const N: usize>(
    line: usize,
    fields: &[&'f str],
    at: &[usize; N],
    names: &[&str; N],
) -> Result<[&'f str; N], DatasetError> {
    let mut row = [""; N];
    for ((slot, &column), name) in row.iter_mut().zip(at).zip(names) {
        let field = fields[column];
        let padded = |b: Option<&u8>| b.is_some_and(|b| !b.is_ascii_alphanumeric());
        // Most fields are bare words: look at both ends before the full Unicode trim.
        *slot = if padded(field.as_bytes().first()) || padded(field.as_bytes().last()) {
            field.trim()
        } else {
            field
        };
        if slot.is_empty() {
            return Err(line_error(line, format!("empty {name}")));
        }
    }
    Ok(row)
}

/// Calls `row(line, fields)` for each data row with the `names` columns' values, in file
/// order; `line` is 1-based and counts the header. Blank lines are skipped.
pub(crate) fn read_records<const N: usize>(
    text: &str,
    names: [&str; N],
    mut row: impl FnMut(usize, [&str; N]) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    if text.contains('"') {
        return read_quoted(text, names, row);
    }
    let (header, body) = plain_header(text, names)?;
    header.rows(body, 2, &mut row)
}

/// [`read_records`] on all cores: the rows are cut into one contiguous piece per core at
/// line breaks, and each piece feeds its own accumulator. `make` gets the number of lines
/// of each piece (a bound on its rows; counted on all cores) and returns the pieces'
/// accumulators, which come back in file order for the caller to merge. Files with
/// quotes, or too small to be worth it, are one piece.
pub(crate) fn read_records_parallel<const N: usize, B: Send>(
    text: &str,
    names: [&str; N],
    make: impl FnOnce(&[usize]) -> Vec<B>,
    row: impl Fn(&mut B, usize, [&str; N]) -> Result<(), DatasetError> + Sync,
) -> Result<Vec<B>, DatasetError> {
    const MIN_PIECE: usize = 1 << 20;
    let threads = super::cores();
    let plain = if text.contains('"') {
        None
    } else {
        Some(plain_header(text, names)?)
    };
    let parallel = threads >= 2 && text.len() >= 2 * MIN_PIECE;
    let (header, body) = match plain {
        Some(plain) if parallel => plain,
        plain => {
            let lines = memchr::memchr_iter(b'\n', text.as_bytes()).count() + 1;
            let Some(mut one) = make(&[lines]).into_iter().next() else {
                return Ok(Vec::new());
            };
            match plain {
                Some((header, body)) => {
                    header.rows(body, 2, &mut |line, fields| row(&mut one, line, fields))?
                }
                None => read_quoted(text, names, |line, fields| row(&mut one, line, fields))?,
            }
            return Ok(vec![one]);
        }
    };
    // (offset in `text`, piece)
    let mut pieces: Vec<(usize, &str)> = Vec::with_capacity(threads);
    let mut rest = body;
    let mut offset = text.len() - body.len();
    for left in (1..=threads).rev() {
        let cut = if left == 1 {
            rest.len()
        } else {
            let target = rest.len() / left;
            memchr::memchr(b'\n', &rest.as_bytes()[target..]).map_or(rest.len(), |i| target + i + 1)
        };
        let (piece, tail) = rest.split_at(cut);
        pieces.push((offset, piece));
        offset += cut;
        rest = tail;
    }
    let lines: Vec<usize> = super::par_map(pieces.iter().collect(), |&(_, piece)| {
        memchr::memchr_iter(b'\n', piece.as_bytes()).count() + usize::from(!piece.ends_with('\n'))
    });
    let work: Vec<(&str, B)> = pieces
        .iter()
        .map(|&(_, piece)| piece)
        .zip(make(&lines))
        .collect();
    let results = super::par_map(work, |(piece, mut acc)| {
        // Lines are counted from the piece's start; fixed below on error.
        header.rows(piece, 1, &mut |line, fields| row(&mut acc, line, fields))?;
        Ok(acc)
    });
    let mut out = Vec::with_capacity(results.len());
    for (&(start, _), result) in pieces.iter().zip(results) {
        match result {
            Ok(acc) => out.push(acc),
            Err(DatasetError::Line { line, message }) => {
                // The piece's offset in `text` gives the lines before it.
                let before = memchr::memchr_iter(b'\n', &text.as_bytes()[..start]).count();
                return Err(line_error(before + line, message));
            }
            Err(other) => return Err(other),
        }
    }
    Ok(out)
}

/// A quote-free file's header: where the wanted columns are.
struct PlainHeader<'n, const N: usize> {
    at: [usize; N],
    width: usize,
    names: [&'n str; N],
}

/// Reads a quote-free file's header; returns it and the text after it.
fn plain_header<'t, 'n, const N: usize>(
    text: &'t str,
    names: [&'n str; N],
) -> Result<(PlainHeader<'n, N>, &'t str), DatasetError> {
    let header_end = memchr::memchr(b'\n', text.as_bytes()).unwrap_or(text.len());
    let header = &text[..header_end];
    let (at, width) = columns(
        header.strip_suffix('\r').unwrap_or(header).split(','),
        names,
    )?;
    let body = text.get(header_end + 1..).unwrap_or("");
    Ok((PlainHeader { at, width, names }, body))
}

impl<const N: usize> PlainHeader<'_, N> {
    /// The rows of `body`, whose first line is number `first_line`.
    fn rows(
        &self,
        body: &str,
        first_line: usize,
        row: &mut impl FnMut(usize, [&str; N]) -> Result<(), DatasetError>,
    ) -> Result<(), DatasetError> {
        let width = self.width;
        let mut fields: Vec<&str> = Vec::with_capacity(width);
        let mut line = first_line - 1;
        let mut start = 0;
        while start < body.len() {
            line += 1;
            let end =
                memchr::memchr(b'\n', &body.as_bytes()[start..]).map_or(body.len(), |i| start + i);
            let row_text = &body[start..end];
            start = end + 1;
            let row_text = row_text.strip_suffix('\r').unwrap_or(row_text);
            if row_text.is_empty() {
                continue;
            }
            // Commas are ASCII, so every split point is a char boundary.
            fields.clear();
            let mut field_start = 0;
            for (i, &b) in row_text.as_bytes().iter().enumerate() {
                if b == b',' {
                    fields.push(&row_text[field_start..i]);
                    field_start = i + 1;
                }
            }
            fields.push(&row_text[field_start..]);
            if fields.len() != width {
                return Err(line_error(
                    line,
                    format!("{} fields where the header has {width}", fields.len()),
                ));
            }
            row(line, pick(line, &fields, &self.at, &self.names)?)?;
        }
        Ok(())
    }
}

/// The `csv` crate's reader, for files with quoted fields.
fn read_quoted<const N: usize>(
    text: &str,
    names: [&str; N],
    mut row: impl FnMut(usize, [&str; N]) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader
        .headers()
        .map_err(|e| line_error(1, e.to_string()))?
        .clone();
    let (at, width) = columns(header.iter(), names)?;
    // The reader's own line count skips blank lines and miscounts CRLF: count newlines up
    // to each record's byte offset instead.
    let (mut counted_to, mut line) = (0, 1);
    let mut line_at = |mut byte: usize| {
        // A record's offset may point at the line break before it (after a CR, a blank line).
        while matches!(text.as_bytes().get(byte), Some(b'\r' | b'\n')) {
            byte += 1;
        }
        let byte = byte.min(text.len());
        line += text.as_bytes()[counted_to.min(byte)..byte]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted_to = counted_to.max(byte);
        line
    };
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                let line = e.position().map_or(0, |p| line_at(p.byte() as usize));
                return Err(line_error(line, e.to_string()));
            }
        }
        let line = record.position().map_or(0, |p| line_at(p.byte() as usize));
        let fields: Vec<&str> = record.iter().collect();
        if fields.len() != width {
            return Err(line_error(
                line,
                format!("{} fields where the header has {width}", fields.len()),
            ));
        }
        row(line, pick(line, &fields, &at, &names)?)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Result<Vec<(usize, [String; 2])>, DatasetError> {
        let mut out = Vec::new();
        read_records(text, ["task", "label"], |line, [t, l]| {
            out.push((line, [t.to_owned(), l.to_owned()]));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn plain_and_quoted_files_read_alike() {
        let plain = "label,task\r\nx, t1\n\ny,t2\n";
        let quoted = "label,task\r\n\"x\", t1\n\ny,\"t2\"\n";
        let expected = vec![
            (2, ["t1".to_owned(), "x".to_owned()]),
            (4, ["t2".to_owned(), "y".to_owned()]),
        ];
        assert_eq!(rows(plain).expect("plain"), expected);
        assert_eq!(rows(quoted).expect("quoted"), expected);
        assert_eq!(
            rows("task,label\n\"a,b\",\"say \"\"hi\"\"\"\n").expect("escapes")[0].1,
            ["a,b".to_owned(), "say \"hi\"".to_owned()]
        );
    }

    #[test]
    fn errors_name_the_line_in_both_paths() {
        for (text, line, message) in [
            (
                "task,label\nt1,x\nt2\n",
                3,
                "1 fields where the header has 2",
            ),
            (
                "task,label\n\"t1\",x\nt2,x,z\n",
                3,
                "3 fields where the header has 2",
            ),
            ("task,label\nt1,x\nt2, \n", 3, "empty label"),
            ("task,label\n\"t1\",x\n\"\",y\n", 3, "empty task"),
            (
                "id,label\nt1,x\n",
                1,
                "the header needs a \"task\" column (task,label)",
            ),
        ] {
            assert_eq!(
                rows(text),
                Err(DatasetError::Line {
                    line,
                    message: message.to_owned()
                }),
                "{text:?}"
            );
        }
    }
}
