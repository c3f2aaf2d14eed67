use super::*;

#[test]
fn orders_from_short_names_keys_are_their_bytes_orders() {
    // Names of 0 to 15 bytes over a few byte values, zero and 0xFF among them, so that
    // prefixes, trailing zeros and equal names all come up.
    let mut next = super::super::xorshift(0x9E37_79B9_7F4A_7C15);
    let bytes = [0u8, 1, b'0', b'9', b'a', 0x7F, 0x80, 0xFF];
    let every = [
        Sorted::default(),
        Sorted::BY_LENGTH,
        Sorted::BY_BYTES,
        Sorted::NEITHER,
    ];
    for _ in 0..200_000 {
        let mut names = [Vec::new(), Vec::new()];
        for name in &mut names {
            let len = next(16);
            name.extend((0..len).map(|_| bytes[next(bytes.len())]));
        }
        let [a, mut b] = names;
        if next(4) == 0 {
            // `a` then a few bytes, maybe none: a name and its extensions.
            b = [&a[..], &b[..b.len().min(next(3))]].concat();
            b.truncate(15);
        }
        for sorted in every {
            assert_eq!(
                sorted.then_keys(key(&a), key(&b)),
                sorted.then(&a, &b),
                "{a:?} then {b:?}"
            );
        }
    }
}

#[test]
fn long_names_and_names_that_pack_alike_stay_apart() {
    let mut interner = Interner::default();
    let long = "a name well over fifteen bytes";
    let names = [
        "a",
        "a\0",
        "\0a",
        "",
        "\0",
        long,
        "a name well over fifteen bytez",
        long,
        "a\0",
        "fifteen bytes!!",
        "sixteen bytes!!!",
    ];
    let ids: Vec<u32> = names
        .iter()
        .map(|n| interner.intern(n.as_bytes()))
        .collect();
    assert_eq!(ids, [0, 1, 2, 3, 4, 5, 6, 5, 1, 7, 8]);
    // Every length, names differing in one byte anywhere (the words read for 4 to 15
    // bytes overlap), with and without NUL bytes: one number per distinct name.
    let mut names: Vec<Vec<u8>> = Vec::new();
    for n in 0..=20 {
        let base: Vec<u8> = (0..n).map(|i| b'a' + i as u8).collect();
        names.push(base.clone());
        for at in 0..n {
            for b in [0u8, b'z'] {
                let mut changed = base.clone();
                changed[at] = b;
                names.push(changed);
            }
        }
        names.push(vec![0; n]);
    }
    let mut interner = Interner::default();
    let mut distinct = std::collections::HashMap::new();
    for name in names.iter().chain(&names) {
        let name = std::str::from_utf8(name).expect("ASCII");
        let next = distinct.len() as u32;
        let expected = *distinct.entry(name).or_insert(next);
        assert_eq!(interner.intern(name.as_bytes()), expected, "{name:?}");
    }
    // A collision of long names' hashes is settled by their bytes: force one.
    let mut forged = Interner::default();
    forged.intern(long.as_bytes());
    forged.intern("a".as_bytes());
    let other = key(b"another name over fifteen bytes");
    forged.keys[0] = other;
    forged.index.clear();
    forged
        .index
        .insert_unique(spread(hash(other)), (0, hash(other)), |&(_, h)| spread(h));
    assert_eq!(
        forged.intern("another name over fifteen bytes".as_bytes()),
        2
    );
}

/// One interner per piece, each fed that piece's names.
fn interners_of<S: AsRef<str>>(pieces: &[Vec<S>]) -> Vec<Interner> {
    pieces
        .iter()
        .map(|names| {
            let mut interner = Interner::default();
            names.iter().for_each(|n| {
                interner.intern(n.as_ref().as_bytes());
            });
            interner
        })
        .collect()
}

#[test]
fn pieces_numbered_together_match_one_reading() {
    let pieces: Vec<Vec<&str>> = vec![
        vec!["a", "b"],
        vec!["c", "a", "d"],
        vec![
            "d",
            "e",
            "g",
            "h",
            "b",
            "c",
            "a name well over fifteen bytes",
        ],
        vec!["a name well over fifteen bytes", "f"],
    ];
    let interners = interners_of(&pieces);
    let (names, numbers) = number_together(interners).expect("text");
    let mut whole = Interner::default();
    let expected: Vec<Vec<u32>> = pieces
        .iter()
        .map(|names| names.iter().map(|n| whole.intern(n.as_bytes())).collect())
        .collect();
    assert_eq!(names, whole.into_names().expect("text"));
    assert_eq!(numbers, expected[1..]);
    assert_eq!(numbers[1], [3, 4, 5, 6, 1, 2, 7]);
}

/// Numbers as one interner gives them, and as first sight does.
fn check_numbering(pieces: &[Vec<String>]) {
    let interners = interners_of(pieces);
    let mut first_sight: std::collections::HashMap<&str, u32> = Default::default();
    let expected: Vec<Vec<u32>> = pieces
        .iter()
        .map(|names| {
            names
                .iter()
                .map(|n| {
                    let next = first_sight.len() as u32;
                    *first_sight.entry(n).or_insert(next)
                })
                .collect()
        })
        .collect();
    let mut whole = Interner::default();
    for (names, expected) in pieces.iter().zip(&expected) {
        let got: Vec<u32> = names.iter().map(|n| whole.intern(n.as_bytes())).collect();
        assert_eq!(&got, expected, "{pieces:?}");
    }
    let (names, numbers) = number_together(interners).expect("text");
    assert_eq!(names, whole.into_names().expect("text"), "{pieces:?}");
    let dedup = |numbers: &Vec<u32>| {
        let mut seen = std::collections::HashMap::new();
        numbers
            .iter()
            .filter(|&&n| seen.insert(n, ()).is_none())
            .copied()
            .collect::<Vec<_>>()
    };
    // Each later piece's distinct names, in that piece's order of first sight.
    let later: Vec<Vec<u32>> = expected[1.min(expected.len())..]
        .iter()
        .map(dedup)
        .collect();
    assert_eq!(numbers, later, "{pieces:?}");
}

#[test]
fn sorted_names_and_names_that_stop_being_sorted_are_numbered_alike() {
    let mut draw = super::super::xorshift(0x2545_F491_4F6C_DD1D);
    let mut next = |n: u64| draw(n as usize) as u64;
    let id = |n: u64, long: bool| {
        if long {
            format!("task number {n:0>12} of a long export")
        } else {
            format!("t{n}")
        }
    };
    for round in 0..300 {
        let long = round % 5 == 0;
        // Ids in numeric order (sorted by length), or as text (byte order), each
        // repeated a few times, as rows grouped by task are.
        let mut ids: Vec<u64> = (0..40 + next(200)).map(|i| i * (1 + next(3))).collect();
        ids.dedup();
        let mut names: Vec<String> = ids.iter().map(|&n| id(n, long)).collect();
        if round % 2 == 1 {
            names.sort();
        }
        let mut rows: Vec<String> = names
            .iter()
            .flat_map(|n| std::iter::repeat_n(n.clone(), 1 + next(4) as usize))
            .collect();
        // Out of order from some row on: an earlier name again, or one that sorts
        // before the last.
        match round % 3 {
            0 => {}
            1 => {
                let at = next(rows.len() as u64) as usize;
                let back = rows[next(at as u64 + 1) as usize].clone();
                rows.insert(at, back);
            }
            _ => {
                let at = next(rows.len() as u64) as usize;
                rows.insert(at, String::from("a"));
                rows.push(String::from("a"));
            }
        }
        // Cut into pieces at random rows: some sorted, some not, overlapping or not.
        let cuts = next(4) as usize;
        let mut bounds: Vec<usize> = (0..cuts)
            .map(|_| next(rows.len() as u64) as usize)
            .collect();
        bounds.sort();
        let mut pieces = Vec::new();
        let mut from = 0;
        for to in bounds.into_iter().chain([rows.len()]) {
            pieces.push(rows[from..to].to_vec());
            from = to;
        }
        check_numbering(&pieces);
        // The same names with the pieces' order swapped: later pieces' names now come
        // before earlier ones'.
        pieces.reverse();
        check_numbering(&pieces);
    }
}

#[test]
fn names_are_numbered_on_first_sight() {
    let mut interner = Interner::default();
    let ids: Vec<u32> = ["b", "a", "b", "", "a", "ab"]
        .iter()
        .map(|n| interner.intern(n.as_bytes()))
        .collect();
    assert_eq!(ids, [0, 1, 0, 2, 1, 3]);
    let names = interner.into_names().expect("text");
    assert_eq!(names.iter().collect::<Vec<_>>(), ["b", "a", "", "ab"]);
    assert_eq!((names.get(3), names.get(4)), (Some("ab"), None));
    assert_eq!(names.position(""), Some(2));
}
