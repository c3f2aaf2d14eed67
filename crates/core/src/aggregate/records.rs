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
/// The crowd-kit column a header names: `task` (also `question`), `worker` (also
/// `performer`) or `label` (also `output` and `answer`), as crowd-kit and Toloka write them.
pub fn answers_column(header: &str) -> Option<&'static str> {
    match header {
        "task" | "question" => Some("task"),
        "worker" | "performer" => Some("worker"),
        "label" | "output" | "answer" => Some("label"),
        _ => None,
    }
}

fn columns<'h, const N: usize>(
    header: impl Iterator<Item = &'h str>,
    names: [&str; N],
) -> Result<([usize; N], usize), DatasetError> {
    let header: Vec<&str> = header
        .map(|h| h.trim().trim_start_matches('\u{feff}'))
        .collect();
    let mut at = [0; N];
    for (slot, name) in at.iter_mut().zip(names) {
        *slot = header
            .iter()
            .position(|h| answers_column(h) == Some(name))
            .ok_or_else(|| {
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
    fields: &[&'f [u8]],
    at: &[usize; N],
    names: &[&str; N],
) -> Result<[&'f [u8]; N], DatasetError> {
    trimmed(line, select(fields, at), names)
}

/// The fields at the wanted columns `at` (which the header check keeps within `fields`).
fn select<'f, const N: usize>(fields: &[&'f [u8]], at: &[usize; N]) -> [&'f [u8]; N] {
    at.map(|column| fields[column])
}

/// The fields trimmed of white space; an empty one is an error naming its column.
#[inline(always)]
fn trimmed<'f, const N: usize>(
    line: usize,
    mut row: [&'f [u8]; N],
    names: &[&str; N],
) -> Result<[&'f [u8]; N], DatasetError> {
    // White space is ASCII up to a space, or a character whose bytes are all non-ASCII:
    // a field whose end bytes are neither is already trimmed, as most fields are.
    let plain = |b: Option<&u8>| b.is_some_and(|&b| (0x21..0x80).contains(&b));
    for (field, name) in row.iter_mut().zip(names) {
        if !(plain(field.first()) && plain(field.last())) {
            *field = trim(line, field, name)?;
        }
    }
    Ok(row)
}

/// `field` trimmed of white space, Unicode's too; empty, an error naming its column.
#[cold]
fn trim<'f>(line: usize, field: &'f [u8], name: &str) -> Result<&'f [u8], DatasetError> {
    let trimmed = text(field)?.trim();
    if trimmed.is_empty() {
        return Err(line_error(line, format!("empty {name}")));
    }
    Ok(trimmed.as_bytes())
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

/// Where the commas and line breaks of `bytes` are, as offsets from its start, in order:
/// 64 bytes at a time, each word tested for both at once, so finding a row's end waits on
/// nothing from the row before it.
fn separators(bytes: &[u8], found: &mut Vec<u32>) {
    found.clear();
    let mut chunks = bytes.chunks_exact(64);
    let mut at = 0u32;
    for chunk in &mut chunks {
        let mut mask = 0u64;
        for (i, word) in chunk.chunks_exact(8).enumerate() {
            let mut w = [0; 8];
            w.copy_from_slice(word);
            let word = u64::from_le_bytes(w);
            mask |= u64::from(bytes_in(word, b',') | bytes_in(word, b'\n')) << (8 * i);
        }
        while mask != 0 {
            found.push(at + mask.trailing_zeros());
            mask &= mask - 1;
        }
        at += 64;
    }
    for (i, &b) in chunks.remainder().iter().enumerate() {
        if b == b',' || b == b'\n' {
            found.push(at + i as u32);
        }
    }
}

/// Bytes scanned for separators at a time by [`PlainHeader::rows`].
const BLOCK: usize = 4096;

/// Bytes per piece below which the rows are not split between cores.
const MIN_PIECE: usize = 1 << 20;

/// Commas remembered per row; a row with more is split again by [`PlainHeader::split`].
const MAX_COMMAS: usize = 16;

/// A field as text: fields are cut from text at ASCII separators, so this never fails.
fn text(field: &[u8]) -> Result<&str, DatasetError> {
    std::str::from_utf8(field).map_err(|_| DatasetError::NotText)
}

/// Calls `row(line, fields)` for each data row with the `names` columns' values, in file
/// order; `line` is 1-based and counts the header. Blank lines are skipped.
pub(crate) fn read_records<const N: usize>(
    text: &str,
    names: [&str; N],
    mut row: impl FnMut(usize, [&str; N]) -> Result<(), DatasetError>,
) -> Result<(), DatasetError> {
    let mut row = |line, fields: [&[u8]; N]| {
        let mut texts = [""; N];
        for (to, field) in texts.iter_mut().zip(fields) {
            *to = self::text(field)?;
        }
        row(line, texts)
    };
    if text.contains('"') {
        return read_quoted(text, names, row);
    }
    let (header, body) = plain_header(text, names)?;
    header.rows(body.as_bytes(), 2, &mut row).map(drop)
}

/// [`read_records`] on all cores, the fields as bytes (see [`super::names::RawNames`]):
/// the rows are cut into one contiguous piece per core at line breaks, and each piece
/// feeds its own accumulator. `plan` gets the text of each piece (whose [`line_counts`]
/// bound its rows) and returns what each piece's accumulator starts from; `start` makes
/// the accumulator from that and the piece's text on the piece's own thread, so that the
/// fresh memory it sets aside (costly to touch first on a VM) is touched on all cores.
/// The accumulators come back in file order for the caller to merge. Files with quotes,
/// or too small to be worth it, are one piece.
pub(crate) fn read_records_parallel<const N: usize, P: Send, B: Send>(
    text: &str,
    names: [&str; N],
    plan: impl FnOnce(&[&str]) -> Vec<P>,
    start: impl Fn(P, &str) -> B + Sync,
    row: impl Fn(&mut B, usize, [&[u8]; N]) -> Result<(), DatasetError> + Sync,
) -> Result<Vec<B>, DatasetError> {
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
            let Some(plan) = plan(&[text]).into_iter().next() else {
                return Ok(Vec::new());
            };
            let mut one = start(plan, text);
            match plain {
                Some((header, body)) => {
                    header.rows(body.as_bytes(), 2, &mut |line, fields| {
                        row(&mut one, line, fields)
                    })?;
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
    let texts: Vec<&str> = pieces.iter().map(|&(_, piece)| piece).collect();
    let plans = plan(&texts);
    let work: Vec<(&str, P)> = texts.into_iter().zip(plans).collect();
    let results = super::par_map(work, |(piece, plan)| {
        let mut acc = start(plan, piece);
        // Lines are counted from the piece's start; fixed below on error.
        header.rows(piece.as_bytes(), 1, &mut |line, fields| {
            row(&mut acc, line, fields)
        })?;
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

/// Bytes that several threads can read at any offset at once: a file, or bytes already in
/// memory. [`read_records_streamed`] reads a big answers file through this a block at a
/// time on each core, so that the file never has to be in memory whole: on a VM, the first
/// write to each fresh page of a buffer that size cost as much as counting its rows.
pub trait ReadAt: Sync {
    /// How many bytes there are.
    fn size(&self) -> u64;

    /// Reads into `buf` the bytes from `offset` on; how many it read, 0 at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize>;

    /// Fills `buf` from `offset` on, short only at the end; how many bytes it read.
    fn read_full(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read_at(&mut buf[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(filled)
    }
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let rest = usize::try_from(offset)
            .ok()
            .and_then(|offset| self.get(offset..))
            .unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }
}

/// All of `source`'s bytes.
pub(crate) fn read_all(source: &(impl ReadAt + ?Sized)) -> Result<Vec<u8>, DatasetError> {
    let size = usize::try_from(source.size())
        .map_err(|_| DatasetError::Read("too big to hold in memory".to_owned()))?;
    let mut bytes = vec![0; size];
    if read_full(source, &mut bytes, 0)? < size {
        return Err(shrank());
    }
    Ok(bytes)
}

/// `bytes` as UTF-8 text, checked 32 bytes at a time (simdutf8: the standard library's
/// check, a word at a time, was a millisecond of a million-answer run, on one core);
/// bytes that are not UTF-8 are an error naming their line.
pub fn text_of(bytes: &[u8]) -> Result<&str, DatasetError> {
    text_from_line(bytes, 1)
}

/// [`text_of`] for `bytes` whose first line is number `first_line`.
fn text_from_line(bytes: &[u8], first_line: usize) -> Result<&str, DatasetError> {
    simdutf8::basic::from_utf8(bytes).map_err(|_| {
        // Checked again, only to find where.
        let valid = std::str::from_utf8(bytes).map_or_else(|e| e.valid_up_to(), str::len);
        let line = first_line + memchr::memchr_iter(b'\n', &bytes[..valid]).count();
        line_error(line, "bytes that are not UTF-8".to_owned())
    })
}

/// A source shorter than its size said it was when reading began.
fn shrank() -> DatasetError {
    DatasetError::Read("the file shrank while it was read".to_owned())
}

/// [`ReadAt::read_full`], its error as the dataset's.
fn read_full(
    source: &(impl ReadAt + ?Sized),
    buf: &mut [u8],
    offset: u64,
) -> Result<usize, DatasetError> {
    source
        .read_full(buf, offset)
        .map_err(|e| DatasetError::Read(e.to_string()))
}

/// How many line breaks the source has before `offset`.
fn line_breaks_before(source: &(impl ReadAt + ?Sized), offset: u64) -> Result<usize, DatasetError> {
    let mut buf = vec![0; READ_BLOCK];
    let (mut at, mut breaks) = (0, 0);
    while at < offset {
        let want = usize::try_from(offset - at).map_or(buf.len(), |left| left.min(buf.len()));
        let n = read_full(source, &mut buf[..want], at)?;
        if n == 0 {
            break;
        }
        breaks += memchr::memchr_iter(b'\n', &buf[..n]).count();
        at += n as u64;
    }
    Ok(breaks)
}

/// Bytes read from the source at a time by each piece of [`read_records_streamed`]; a row
/// longer than this grows the piece's buffer. 64 KiB rather than more: a bigger buffer is
/// a page of the allocator's own, fresh memory (a huge page on Linux) touched per core,
/// which cost more than the extra reads save.
const READ_BLOCK: usize = 1 << 16;

/// [`read_records_parallel`] reading from `source` a block at a time: one contiguous piece
/// of the rows per core, each read through its own buffer into its own accumulator, which
/// `start` makes (on the piece's thread) from the piece's first bytes and length. Returns
/// the accumulators in file order, or `None` for a file with a quote character, which the
/// caller reads whole through the quoting reader. Checks that the rows are UTF-8 text.
pub(crate) fn read_records_streamed<const N: usize, B: Send>(
    source: &(impl ReadAt + ?Sized),
    names: [&str; N],
    start: impl Fn(&[u8], usize) -> B + Sync,
    row: impl Fn(&mut B, usize, [&[u8]; N]) -> Result<(), DatasetError> + Sync,
) -> Result<Option<Vec<B>>, DatasetError> {
    let size = source.size();
    let parts = if size >= 2 * MIN_PIECE as u64 {
        super::cores()
    } else {
        1
    };
    read_streamed(source, names, parts, READ_BLOCK, start, row)
}

/// [`read_records_streamed`] in `parts` pieces, reading `block` bytes at a time.
fn read_streamed<const N: usize, B: Send>(
    source: &(impl ReadAt + ?Sized),
    names: [&str; N],
    parts: usize,
    block: usize,
    start: impl Fn(&[u8], usize) -> B + Sync,
    row: impl Fn(&mut B, usize, [&[u8]; N]) -> Result<(), DatasetError> + Sync,
) -> Result<Option<Vec<B>>, DatasetError> {
    const HEADER_ROOM: usize = 1 << 16;
    let size = source.size();
    let mut first = vec![0; block.max(HEADER_ROOM)];
    let got = read_full(source, &mut first, 0)?;
    let first = &first[..got];
    let Some(header_end) = memchr::memchr(b'\n', first).or((got as u64 == size).then_some(got))
    else {
        // A header longer than a block: read whole.
        return Ok(None);
    };
    if memchr::memchr(b'"', &first[..header_end]).is_some() {
        return Ok(None);
    }
    let (header, _) = plain_header(text_of(&first[..header_end])?, names)?;
    let body = (header_end as u64 + 1).min(size)..size;
    let parts = parts.max(1) as u64;
    let bounds: Vec<u64> = (0..=parts)
        .map(|i| body.start + (body.end - body.start) * i / parts)
        .collect();
    let pieces: Vec<(usize, std::ops::Range<u64>)> =
        bounds.windows(2).map(|w| w[0]..w[1]).enumerate().collect();
    let (header, start, row) = (&header, &start, &row);
    let results = super::par_map(pieces, |(i, range)| {
        read_piece(source, header, range, i == 0, block, start, row)
    });
    let mut out = Vec::with_capacity(results.len());
    for result in results {
        match result {
            Ok(Some(acc)) => out.push(acc),
            Ok(None) => return Ok(None),
            Err((counted_from, DatasetError::Line { line, message })) if counted_from > 0 => {
                // The piece counted its lines from its first row.
                let before = line_breaks_before(source, counted_from)?;
                return Err(line_error(before + line, message));
            }
            Err((_, e)) => return Err(e),
        }
    }
    Ok(Some(out))
}

/// One piece of [`read_streamed`]: the rows that start within `range` (and, unless `first`,
/// after a line break), read `block` bytes at a time. `None` when a quote turns up; an
/// error comes with the offset its lines were counted from (the piece's first row, or 0).
fn read_piece<const N: usize, B>(
    source: &(impl ReadAt + ?Sized),
    header: &PlainHeader<'_, N>,
    range: std::ops::Range<u64>,
    first: bool,
    block: usize,
    start: &impl Fn(&[u8], usize) -> B,
    row: &impl Fn(&mut B, usize, [&[u8]; N]) -> Result<(), DatasetError>,
) -> Result<Option<B>, (u64, DatasetError)> {
    let mut buf = vec![0; block.max(1)];
    // The piece's first row starts after the first line break from the byte before it on.
    let mut offset = range.start;
    if !first {
        offset -= 1;
        loop {
            let n = read_full(source, &mut buf, offset).map_err(|e| (0, e))?;
            if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
                offset += i as u64 + 1;
                break;
            }
            offset += n as u64;
            if n < buf.len() {
                break;
            }
        }
    }
    // Lines of the first piece are counted from the file's start, the others' from here.
    let counted_from = if first { 0 } else { offset };
    let fail = |e| (counted_from, e);
    let mut filled = if offset < range.end {
        read_full(source, &mut buf, offset).map_err(fail)?
    } else {
        0
    };
    let len = usize::try_from(range.end.saturating_sub(offset)).unwrap_or(usize::MAX);
    let mut acc = start(&buf[..filled], len);
    if offset >= range.end {
        return Ok(Some(acc));
    }
    // The first piece's first row follows the header.
    let mut line = if first { 2 } else { 1 };
    loop {
        let end = filled < buf.len();
        if end && offset + (filled as u64) < range.end {
            return Err(fail(shrank()));
        }
        // The rows the piece has whole in the buffer, up to the one the piece ends with.
        let whole = if end {
            filled
        } else {
            memchr::memrchr(b'\n', &buf[..filled]).map_or(0, |i| i + 1)
        };
        let own = usize::try_from(range.end - offset).unwrap_or(usize::MAX);
        let (cut, last) = if own <= whole {
            let from = own.saturating_sub(1);
            (
                memchr::memchr(b'\n', &buf[from..whole]).map_or(whole, |i| from + i + 1),
                true,
            )
        } else {
            (whole, end)
        };
        if cut == 0 && !last {
            // A row longer than the buffer: room for more of it.
            buf.resize(buf.len() * 2, 0);
            filled +=
                read_full(source, &mut buf[filled..], offset + filled as u64).map_err(fail)?;
            continue;
        }
        let rows = &buf[..cut];
        if memchr::memchr(b'"', rows).is_some() {
            return Ok(None);
        }
        text_from_line(rows, line).map_err(fail)?;
        line = header
            .rows(rows, line, &mut |line, fields| row(&mut acc, line, fields))
            .map_err(fail)?;
        if last {
            return Ok(Some(acc));
        }
        buf.copy_within(cut..filled, 0);
        filled -= cut;
        offset += cut as u64;
        filled += read_full(source, &mut buf[filled..], offset + filled as u64).map_err(fail)?;
    }
}

/// How many lines each of `pieces` has (a line break ends a line; a last line needs none),
/// counted on all cores: a bound on its rows.
pub(crate) fn line_counts(pieces: &[&str]) -> Vec<usize> {
    super::par_map(pieces.to_vec(), |piece| {
        memchr::memchr_iter(b'\n', piece.as_bytes()).count() + usize::from(!piece.ends_with('\n'))
    })
}

/// About how many rows a piece of `len` bytes that starts with `start` has, a little over
/// rather than under: the line breaks in the first 64 KiB of `start`, scaled to `len`.
/// Room set aside by this guess is address space until it is written.
pub(crate) fn rows_guess(start: &[u8], len: usize) -> usize {
    const SAMPLE: usize = 1 << 16;
    let sample = &start[..start.len().min(SAMPLE).min(len)];
    let lines = memchr::memchr_iter(b'\n', sample).count() + 1;
    let guess = lines as f64 * (len as f64 / sample.len().max(1) as f64) * 1.125;
    guess as usize + 16
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
    /// The rows of `body`, whose first line is number `first_line`; returns the number the
    /// line after `body` would have.
    fn rows(
        &self,
        body: &[u8],
        first_line: usize,
        row: &mut impl FnMut(usize, [&[u8]; N]) -> Result<(), DatasetError>,
    ) -> Result<usize, DatasetError> {
        let mut found = Vec::with_capacity(BLOCK);
        let mut fields: Vec<&[u8]> = Vec::with_capacity(self.width);
        let mut line = first_line - 1;
        let (mut row_start, mut commas, mut n_commas) = (0, [0; MAX_COMMAS], 0);
        for (b, block) in body.chunks(BLOCK).enumerate() {
            separators(block, &mut found);
            for &at in &found {
                let at = b * BLOCK + at as usize;
                if body[at] == b',' {
                    if let Some(slot) = commas.get_mut(n_commas) {
                        *slot = at;
                    }
                    n_commas += 1;
                    continue;
                }
                line += 1;
                let cuts = commas.get(..n_commas);
                self.row(body, row_start..at, cuts, line, &mut fields, row)?;
                (row_start, n_commas) = (at + 1, 0);
            }
        }
        if row_start < body.len() {
            let cuts = commas.get(..n_commas);
            self.row(
                body,
                row_start..body.len(),
                cuts,
                line + 1,
                &mut fields,
                row,
            )?;
        }
        Ok(line + 1)
    }

    /// Hands on the row `body[span]` (its line break excluded), whose commas are at `cuts`
    /// when they were all remembered; a blank row is skipped.
    #[inline]
    fn row<'b>(
        &self,
        body: &'b [u8],
        span: std::ops::Range<usize>,
        cuts: Option<&[usize]>,
        line: usize,
        fields: &mut Vec<&'b [u8]>,
        row: &mut impl FnMut(usize, [&[u8]; N]) -> Result<(), DatasetError>,
    ) -> Result<(), DatasetError> {
        let (start, mut end) = (span.start, span.end);
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
        if end == start {
            return Ok(());
        }
        let cut = cuts
            .filter(|cuts| cuts.len() + 1 == self.width)
            .and_then(|cuts| self.cut(body, start, end, cuts));
        let picked = match cut {
            Some(picked) => picked,
            None => self.split(body.get(start..end).unwrap_or_default(), fields, line)?,
        };
        row(line, trimmed(line, picked, &self.names)?)
    }

    /// The wanted fields of the row `body[start..end]` whose commas are at `cuts` (one
    /// fewer than the fields).
    #[inline]
    fn cut<'b>(
        &self,
        body: &'b [u8],
        start: usize,
        end: usize,
        cuts: &[usize],
    ) -> Option<[&'b [u8]; N]> {
        let mut row: [&[u8]; N] = [&[]; N];
        for (field, &column) in row.iter_mut().zip(&self.at) {
            let from = column
                .checked_sub(1)
                .map_or(start, |before| cuts[before] + 1);
            let to = cuts.get(column).copied().unwrap_or(end);
            *field = body.get(from..to)?;
        }
        Some(row)
    }

    /// The wanted fields of any row, split on every comma; a wrong number of fields is an
    /// error naming the line.
    fn split<'r>(
        &self,
        row_text: &'r [u8],
        fields: &mut Vec<&'r [u8]>,
        line: usize,
    ) -> Result<[&'r [u8]; N], DatasetError> {
        fields.clear();
        fields.extend(row_text.split(|&b| b == b','));
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
        Ok(select(fields, &self.at))
    }
}

/// The `csv` crate's reader, for files with quoted fields.
fn read_quoted<const N: usize>(
    text: &str,
    names: [&str; N],
    mut row: impl FnMut(usize, [&[u8]; N]) -> Result<(), DatasetError>,
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
        let fields: Vec<&[u8]> = record.iter().map(str::as_bytes).collect();
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
mod tests;
