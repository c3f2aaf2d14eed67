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
fn the_rows_guess_is_a_little_over_for_rows_of_even_length() {
    for (rows, width) in [(0, 10), (10, 12), (5_000, 14), (200_000, 17)] {
        let text: String = (0..rows)
            .map(|i| format!("{:0>w$}\n", i, w = width - 1))
            .collect();
        let guess = rows_guess(text.as_bytes(), text.len());
        assert!(
            guess >= rows && guess <= rows + rows / 4 + 16,
            "{rows}: {guess}"
        );
    }
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
    let mut next = super::super::xorshift(0x9E37_79B9_7F4A_7C15);
    for _ in 0..100_000 {
        let mut word = [0u8; 8];
        for b in &mut word {
            *b = bytes[next(bytes.len())];
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
fn separators_of_a_block_are_found_in_order() {
    let text: Vec<u8> = (0..1000u32)
        .map(|i| match i * 7 % 11 {
            0 => b',',
            1 => b'\n',
            2 => b'\r',
            _ => b'a' + (i % 26) as u8,
        })
        .collect();
    let mut found = Vec::new();
    for len in [0, 1, 63, 64, 65, 130, 1000] {
        separators(&text[..len], &mut found);
        let expected: Vec<u32> = (0..len as u32)
            .filter(|&i| matches!(text[i as usize], b',' | b'\n'))
            .collect();
        assert_eq!(found, expected, "{len}");
    }
}

#[test]
fn rows_of_every_length_read_as_split_on_commas() {
    // Lines from 8 to 48 bytes, over and over, so rows cross the 64-byte chunks and the
    // 4096-byte blocks separators are found in at every offset; fields with spaces, CR
    // line ends, blank lines, non-ASCII text; the last line without a line break.
    let mut text = String::from("label,x,task\n");
    let mut expected = Vec::new();
    let mut line = 1;
    for round in 0..300 {
        for n in 1..=36 {
            line += 1;
            let task = "é".repeat(n / 4) + &"t".repeat(n % 4 + 1);
            let label = if n % 5 == 0 {
                format!(" l{n} ")
            } else {
                format!("l{n}")
            };
            let end = if n % 3 == 0 { "\r\n" } else { "\n" };
            let x = "x".repeat(n % 7 + n / 2 + round % 3);
            text.push_str(&format!("{label},{x},{task}{end}"));
            expected.push((line, [task, label.trim().to_owned()]));
            if (n + round) % 17 == 0 {
                text.push_str("\r\n");
                line += 1;
            }
        }
    }
    text.push_str("l,x,last");
    expected.push((line + 1, ["last".to_owned(), "l".to_owned()]));
    assert!(text.len() > 3 * BLOCK);
    assert_eq!(rows(&text).expect("valid"), expected);
    // Too few fields, too many, and more commas than a row's remembered.
    for bad in [
        "a,b\n",
        "a,b,c,d\n",
        "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s\n",
    ] {
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
    // White space of both kinds: ASCII, and Unicode's (an ideographic space).
    let plain = "label,task\r\nx, t1\n\ny,\u{3000}t2\u{3000}\n";
    let quoted = "label,task\r\n\"x\", t1\n\ny,\"\u{3000}t2\u{3000}\"\n";
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

/// Bytes read back at most `most` at a time, and reporting `size` bytes whatever
/// they hold: a file read in short reads, or one that shrank after it was opened.
struct Trickle<'b> {
    bytes: &'b [u8],
    most: usize,
    size: u64,
}

impl ReadAt for Trickle<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let most = buf.len().min(self.most);
        self.bytes.read_at(&mut buf[..most], offset)
    }
}

type Rows = Vec<(usize, [String; 2])>;

/// The `task,label` rows of `source` read in `parts` pieces `block` bytes at a time;
/// `None` for a file with quotes.
fn streamed(
    source: &(impl ReadAt + ?Sized),
    parts: usize,
    block: usize,
) -> Result<Option<Rows>, DatasetError> {
    let pieces = read_streamed(
        source,
        ["task", "label"],
        parts,
        block,
        |_, _| Rows::new(),
        |rows, line, [t, l]| {
            let text = |field| Ok::<_, DatasetError>(text(field)?.to_owned());
            rows.push((line, [text(t)?, text(l)?]));
            Ok(())
        },
    )?;
    Ok(pieces.map(|pieces| pieces.concat()))
}

/// A file of `rows` rows of all lengths, with CR line ends, blank lines, non-ASCII
/// text, a row far longer than the others, and no line break at the end.
fn mixed_rows(rows: usize) -> String {
    let mut text = String::from("label,x,task\r\n");
    for i in 0..rows {
        let task = "é".repeat(i % 5) + &"t".repeat(i % 13 + 1) + &i.to_string();
        let x = if i == rows / 3 {
            "x".repeat(5000)
        } else {
            "x".repeat(i % 9)
        };
        let end = if i % 4 == 0 { "\r\n" } else { "\n" };
        text.push_str(&format!("l{},{x},{task}{end}", i % 7));
        if i % 11 == 0 {
            text.push('\n');
        }
    }
    text.push_str("l,x,last");
    text
}

/// The fields of `rows`, without their lines: rows come with their line only for
/// errors to name, counted from the piece's start, so right in the first piece only.
fn fields(rows: &Rows) -> Vec<[String; 2]> {
    rows.iter().map(|row| row.1.clone()).collect()
}

#[test]
fn rows_read_a_block_at_a_time_in_pieces_are_the_whole_texts_rows() {
    let text = mixed_rows(2_000);
    let whole = rows(&text).expect("whole");
    assert_eq!(whole.len(), 2_001);
    for parts in 1..=5 {
        for block in [1, 2, 17, 64, 1000, 1 << 16] {
            for most in [3, usize::MAX] {
                let source = Trickle {
                    bytes: text.as_bytes(),
                    most,
                    size: text.len() as u64,
                };
                let read = streamed(&source, parts, block).expect("valid");
                let read = read.expect("no quotes");
                assert_eq!(fields(&read), fields(&whole), "{parts} {block} {most}");
                if parts == 1 {
                    assert_eq!(read, whole);
                }
            }
        }
    }
    // The pieces' bounds fall at every byte of a row, a row's start among them, as a
    // longer last row moves them past the rows.
    let rows_text = mixed_rows(150);
    for pad in 1..=150 {
        let text = format!("{rows_text}{}", "y".repeat(pad));
        let whole = rows(&text).expect("whole");
        for parts in 2..=4 {
            for block in [7, 1 << 16] {
                let read = streamed(text.as_bytes(), parts, block).expect("valid");
                let read = read.expect("no quotes");
                assert_eq!(fields(&read), fields(&whole), "{pad} {parts} {block}");
            }
        }
    }
    // Files of no rows, or no header line break at all.
    for empty in ["task,label", "task,label\n", "task,label\n\n\n"] {
        for parts in 1..=3 {
            assert_eq!(streamed(empty.as_bytes(), parts, 4), Ok(Some(Vec::new())));
        }
    }
}

#[test]
fn rows_read_a_block_at_a_time_fail_as_the_whole_text_does() {
    let text = mixed_rows(1_500);
    for (at, bad) in [(100, "l,x\n"), (900, "l,x,y,z\n"), (1_400, "l,x, \n")] {
        // The bad row goes in after the `at`-th line break.
        let cut = text
            .match_indices('\n')
            .nth(at)
            .map(|(i, _)| i + 1)
            .expect("line");
        let bad_text = format!("{}{bad}{}", &text[..cut], &text[cut..]);
        let expected = rows(&bad_text).expect_err("bad row");
        assert!(matches!(expected, DatasetError::Line { line, .. } if line == at + 2));
        for parts in [1, 2, 3, 7] {
            for block in [5, 300, 1 << 14] {
                assert_eq!(
                    streamed(bad_text.as_bytes(), parts, block),
                    Err(expected.clone()),
                    "{bad:?} {parts} {block}"
                );
            }
        }
    }
    // A byte that is not UTF-8 names its line; a quote anywhere leaves the file to
    // the quoting reader; a file shorter than it said it was is an error.
    let mut bytes = text.clone().into_bytes();
    let cut = text
        .match_indices('\n')
        .nth(1_000)
        .map(|(i, _)| i + 3)
        .expect("line");
    bytes[cut] = 0xFF;
    let quoted = format!("{}\"q\",x,t\n", &text[..text.len() - 8]);
    for parts in [1, 2, 4] {
        assert_eq!(
            streamed(&bytes[..], parts, 256),
            Err(DatasetError::Line {
                line: 1_002,
                message: "bytes that are not UTF-8".to_owned()
            })
        );
        assert_eq!(streamed(quoted.as_bytes(), parts, 256), Ok(None));
        let shrunk = Trickle {
            bytes: text.as_bytes(),
            most: usize::MAX,
            size: text.len() as u64 + 10,
        };
        assert!(
            matches!(streamed(&shrunk, parts, 256), Err(DatasetError::Read(m)) if m.contains("shrank"))
        );
    }
}
