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
    for (slot, &column) in row.iter_mut().zip(at) {
        *slot = fields[column];
    }
    trimmed(line, row, names)
}

/// The fields trimmed of white space; an empty one is an error naming its column.
#[inline]
fn trimmed<'f, const N: usize>(
    line: usize,
    mut row: [&'f str; N],
    names: &[&str; N],
) -> Result<[&'f str; N], DatasetError> {
    // White space is ASCII up to a space, or a character whose bytes are all non-ASCII:
    // a field whose end bytes are neither is already trimmed, as most fields are.
    let plain = |b: Option<&u8>| b.is_some_and(|&b| (0x21..0x80).contains(&b));
    for (field, name) in row.iter_mut().zip(names) {
        let bytes = field.as_bytes();
        if !(plain(bytes.first()) && plain(bytes.last())) {
            *field = field.trim();
            if field.is_empty() {
                return Err(line_error(line, format!("empty {name}")));
            }
        }
    }
    Ok(row)
}

/// The bytes of a little-endian `word` that are `byte`, as the low 8 bits (bit `i` for
/// byte `i`).
fn bytes_in(word: u64, byte: u8) -> u32 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let x = word ^ (ONES * u64::from(byte));
    // The high bit of each byte of `x` that is zero (exact: no carries between bytes).
    let zero = !(((x & (ONES * 0x7F)) + ONES * 0x7F) | x) & (ONES * 0x80);
    // Gathers the eight high bits into the top byte, byte 0's lowest.
    ((zero >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u32
}

/// The line breaks and the commas in a [`WINDOW`] of bytes, as bit masks (bit `i` for
/// byte `i`), read eight bytes at a time.
fn separators(window: &[u8]) -> (u32, u32) {
    let (mut breaks, mut commas) = (0, 0);
    for (i, word) in window.chunks_exact(8).enumerate() {
        let mut w = [0; 8];
        w.copy_from_slice(word);
        let word = u64::from_le_bytes(w);
        breaks |= bytes_in(word, b'\n') << (8 * i);
        commas |= bytes_in(word, b',') << (8 * i);
    }
    (breaks, commas)
}

/// Bytes read at once from a row's start by [`PlainHeader::rows`].
const WINDOW: usize = 32;

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
        let bytes = body.as_bytes();
        let mut fields: Vec<&str> = Vec::with_capacity(self.width);
        let mut line = first_line - 1;
        let mut start = 0;
        while start < body.len() {
            line += 1;
            // Nearly every line ends within the window read from its start: its line break
            // and commas are found together, without a branch per byte.
            let (end, commas) = match bytes.get(start..start + WINDOW).map(separators) {
                Some((breaks, commas)) if breaks != 0 => {
                    (start + breaks.trailing_zeros() as usize, Some(commas))
                }
                _ => (
                    memchr::memchr(b'\n', &bytes[start..]).map_or(body.len(), |i| start + i),
                    None,
                ),
            };
            let row_start = start;
            start = end + 1;
            let row_end = if end > row_start && bytes[end - 1] == b'\r' {
                end - 1
            } else {
                end
            };
            if row_end == row_start {
                continue;
            }
            let short = commas.and_then(|commas| self.cut(body, row_start, row_end, commas));
            let picked = match short {
                Some(picked) => picked,
                None => self.split(&body[row_start..row_end], &mut fields, line)?,
            };
            row(line, trimmed(line, picked, &self.names)?)?;
        }
        Ok(())
    }

    /// The wanted fields of the row `body[start..end]`, which lies in the window whose
    /// commas are `commas` (bit `i` for byte `start + i`). `None` for a wrong number of
    /// fields, which [`Self::split`] reports.
    #[inline]
    fn cut<'b>(
        &self,
        body: &'b str,
        start: usize,
        end: usize,
        commas: u32,
    ) -> Option<[&'b str; N]> {
        let len = end - start;
        let mut commas = commas & ((1u64 << len) - 1) as u32;
        // Where each field ends, in the row.
        let mut ends = [len as u8; WINDOW + 1];
        let mut n = 0;
        while commas != 0 {
            ends[n] = commas.trailing_zeros() as u8;
            commas &= commas - 1;
            n += 1;
        }
        if n + 1 != self.width {
            return None;
        }
        let mut row = [""; N];
        for (field, &column) in row.iter_mut().zip(&self.at) {
            let from = column
                .checked_sub(1)
                .map_or(0, |before| usize::from(ends[before]) + 1);
            // Commas are ASCII, so every cut is a char boundary.
            *field = body.get(start + from..start + usize::from(ends[column]))?;
        }
        Some(row)
    }

    /// The wanted fields of any row, split on every comma; a wrong number of fields is an
    /// error naming the line.
    fn split<'r>(
        &self,
        row_text: &'r str,
        fields: &mut Vec<&'r str>,
        line: usize,
    ) -> Result<[&'r str; N], DatasetError> {
        // Commas are ASCII, so every split point is a char boundary.
        fields.clear();
        fields.extend(row_text.split(','));
        if fields.len() != self.width {
            return Err(line_error(
                line,
                format!(
                    "{} fields where the header has {}",
                    fields.len(),
                    self.width
                ),
            ));
        }
        let mut row = [""; N];
        for (field, &column) in row.iter_mut().zip(&self.at) {
            *field = fields[column];
        }
        Ok(row)
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
    fn separators_are_found_in_every_byte_of_a_word() {
        // The separators, bytes next to them, them with the high bit flipped, and zero,
        // anywhere in a word.
        let bytes = [
            b',',
            b'\n',
            b',' ^ 0x80,
            b'\n' ^ 0x80,
            b'+',
            b'-',
            0x0B,
            0,
            0xFF,
            b'a',
        ];
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            let mut word = [0u8; 8];
            for b in &mut word {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = bytes[(state % bytes.len() as u64) as usize];
            }
            for separator in [b',', b'\n'] {
                let expected = word
                    .iter()
                    .enumerate()
                    .filter(|&(_, &b)| b == separator)
                    .fold(0, |m, (i, _)| m | 1 << i);
                assert_eq!(
                    bytes_in(u64::from_le_bytes(word), separator),
                    expected,
                    "{word:?}"
                );
            }
        }
    }

    #[test]
    fn rows_of_every_length_read_as_split_on_commas() {
        // Lines from 8 to 48 bytes with their line ends (the window holds the line break of
        // those up to 32 bytes, not of the rest), the last ones too close to the end to
        // read a window; fields with spaces, CR line ends, non-ASCII text, and rows with a
        // field too many or too few.
        let mut text = String::from("label,x,task\n");
        let mut expected = Vec::new();
        let mut line = 1;
        for n in 1..=36 {
            line += 1;
            let task = "é".repeat(n / 4) + &"t".repeat(n % 4 + 1);
            let label = if n % 5 == 0 {
                format!(" l{n} ")
            } else {
                format!("l{n}")
            };
            let end = if n % 3 == 0 { "\r\n" } else { "\n" };
            let x = "x".repeat(n % 7 + n / 2);
            text.push_str(&format!("{label},{x},{task}{end}"));
            expected.push((line, [task, label.trim().to_owned()]));
        }
        assert_eq!(rows(&text).expect("valid"), expected);
        for bad in ["a,b\n", "a,b,c,d\n", "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n"] {
            let fields = bad.split(',').count();
            for tail in ["", "t,x,y\n".repeat(10).as_str()] {
                let text = format!("label,x,task\nl,x,t\n{bad}{tail}");
                assert_eq!(
                    rows(&text),
                    Err(DatasetError::Line {
                        line: 3,
                        message: format!("{fields} fields where the header has 3")
                    }),
                    "{text:?}"
                );
            }
        }
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
