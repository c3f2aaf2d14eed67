//! Each task's vote count per label, read straight from an answers file: majority vote
//! with nothing else asked of the answers needs no more. Reading a [`Dataset`] numbers
//! the workers and keeps every answer, which is most of its cost and none of majority
//! vote's; the result is the same as [`MajorityVoteFit`] on that dataset.
//!
//! [`Dataset`]: super::Dataset
//! [`MajorityVoteFit`]: super::MajorityVoteFit

use super::DatasetError;
use super::dataset::sort_labels;
use super::names::{Interner, Names, number_together, tasks_room};
use super::records::{
    ReadAt, read_all, read_records_parallel, read_records_streamed, rows_guess, text_of,
};

/// Tasks (in order of first appearance), labels (sorted) and how many answers gave each
/// task each label. Duplicate rows count as votes, as in [`super::MajorityVoteFit`].
#[derive(Debug, Clone)]
pub struct VoteCounts {
    pub tasks: Names,
    pub labels: Names,
    /// `counts[task * labels.len() + label]`
    counts: Vec<u32>,
}

/// One piece of the rows, counted with its own numbering of tasks and labels.
#[derive(Default)]
struct Piece {
    tasks: Interner,
    labels: Interner,
    /// Room per task for this many labels; grows when more are seen.
    stride: usize,
    /// How many tasks the counts have room for without growing.
    room: usize,
    /// `counts[task * stride + label]`
    counts: Vec<u32>,
}

impl Piece {
    /// A piece with room for the tasks of the rows of `len` bytes that begin with
    /// `start`, and for their counts, so that neither grows (see [`Interner::for_rows`]).
    /// The counts' rows start with room for 2 labels, but the room set aside (address
    /// space until written) holds [`ROOM_LABELS`], so that widening them moves rows in
    /// place rather than writing a fresh copy.
    fn for_rows(start: &[u8], len: usize) -> Self {
        let rows = rows_guess(start, len);
        let room = tasks_room(rows);
        Self {
            tasks: Interner::for_rows(rows, len),
            stride: 2,
            room,
            counts: Vec::with_capacity(room * ROOM_LABELS),
            ..Self::default()
        }
    }

    fn push(&mut self, task: &[u8], label: &[u8]) -> Result<(), DatasetError> {
        let t = self.tasks.intern(task) as usize;
        let l = self.labels.intern(label) as usize;
        if l >= self.stride {
            self.widen()?;
        }
        let at = t * self.stride + l;
        if at >= self.counts.len() {
            self.add_rows(t);
        }
        self.counts[at] += 1;
        Ok(())
    }

    /// Rows of zero counts up to task `t`'s and for [`ROWS_AT_ONCE`] more tasks (within
    /// the room set aside, unless `t` is past it): one `memset` per thousand new tasks
    /// rather than per task. The rows past the tasks seen count nothing.
    #[cold]
    fn add_rows(&mut self, t: usize) {
        let needed = (t + 1) * self.stride;
        let ahead = (t + ROWS_AT_ONCE) * self.stride;
        self.counts
            .resize(ahead.min(self.counts.capacity()).max(needed), 0);
    }

    /// Makes room for more labels per task: one more while few tasks are counted (labels
    /// are mostly all seen in a file's first rows), else half as many again. The rows are
    /// moved in place when the room set aside holds them, so that no fresh memory is
    /// written for counts already there.
    #[cold]
    fn widen(&mut self) -> Result<(), DatasetError> {
        if self.labels.len() > u16::MAX as usize {
            return Err(DatasetError::TooManyLabels);
        }
        let tasks = self.counts.len() / self.stride.max(1);
        let stride = if tasks <= CHEAP_WIDEN {
            self.stride + 1
        } else {
            (self.stride * 3 / 2).max(self.stride + 1)
        };
        let wanted = tasks.max(self.room) * stride;
        self.counts
            .reserve_exact(wanted.saturating_sub(self.counts.len()));
        // Fewer than the labels, themselves at most u16::MAX.
        let identity: Vec<u16> = (0..self.stride as u16).collect();
        self.counts = relabel(
            std::mem::take(&mut self.counts),
            self.stride,
            tasks,
            &identity,
            stride,
        );
        self.stride = stride;
        Ok(())
    }
}

/// Labels per task the counts of a piece set room aside for at first.
const ROOM_LABELS: usize = 8;

/// Rows of counts added at a time as new tasks come.
const ROWS_AT_ONCE: usize = 1024;

/// Tasks counted up to which the counts widen by one label at a time.
const CHEAP_WIDEN: usize = 4096;

impl VoteCounts {
    /// Reads crowd-kit's CSV format (`task,worker,label`), with the same checks and errors
    /// as [`super::Dataset::from_csv`]: a worker is required on every row, though not kept.
    pub fn from_csv(text: &str) -> Result<Self, DatasetError> {
        Self::read(text.as_bytes())
    }

    /// [`VoteCounts::from_csv`] from a file or other source, read a block at a time on
    /// each core (see [`ReadAt`]), or whole when it has quoted fields. Bytes that are not
    /// UTF-8 are an error naming their line.
    pub fn read(source: &(impl ReadAt + ?Sized)) -> Result<Self, DatasetError> {
        const NAMES: [&str; 3] = ["task", "worker", "label"];
        let push = |piece: &mut Piece, _, [task, _, label]: [&[u8]; 3]| piece.push(task, label);
        let pieces = match read_records_streamed(source, NAMES, Piece::for_rows, push)? {
            Some(pieces) => pieces,
            None => {
                let bytes = read_all(source)?;
                read_records_parallel(
                    text_of(&bytes)?,
                    NAMES,
                    |pieces| vec![(); pieces.len()],
                    |(), text| Piece::for_rows(text.as_bytes(), text.len()),
                    push,
                )?
            }
        };
        Self::merge(pieces)
    }

    /// One numbering for all pieces, as [`super::Dataset::from_csv`] gives, and their
    /// counts added up: into the first piece's counts, relabelled in place, so that only
    /// the tasks the first piece lacks take fresh memory.
    fn merge(pieces: Vec<Piece>) -> Result<Self, DatasetError> {
        let mut counted = Vec::with_capacity(pieces.len());
        let (mut tasks, mut labels) = (Vec::new(), Vec::new());
        for piece in pieces {
            counted.push((piece.stride, piece.counts));
            tasks.push(piece.tasks);
            labels.push(piece.labels);
        }
        let first_tasks = tasks.first().map_or(0, Interner::len);
        let (tasks, task_numbers) = number_together(tasks)?;
        let (labels, label_ranks) = sort_labels(labels)?;
        let k = labels.len();
        let mut counted = counted.into_iter().zip(label_ranks);
        let mut counts = match counted.next() {
            Some(((stride, counts), ranks)) => relabel(counts, stride, first_tasks, &ranks, k),
            None => Vec::new(),
        };
        counts.resize(tasks.len() * k, 0);
        for (((stride, piece), ranks), numbers) in counted.zip(&task_numbers) {
            for (row, &t) in piece.chunks_exact(stride.max(1)).zip(numbers) {
                let to = t as usize * k;
                for (&n, &r) in row.iter().zip(&ranks) {
                    counts[to + usize::from(r)] += n;
                }
            }
        }
        Ok(Self {
            tasks,
            labels,
            counts,
        })
    }

    /// Task `task`'s majority label, ties going to the label that sorts first, and that
    /// label's share of the task's votes.
    pub fn majority(&self, task: usize) -> (usize, f64) {
        let k = self.labels.len();
        let row = &self.counts[task * k..(task + 1) * k];
        // Without branching on which label leads: votes come in no order a branch
        // predictor could learn. Ties keep the earlier label.
        let (mut best, mut top, mut total) = (0, 0, 0u64);
        for (l, &n) in row.iter().enumerate() {
            let ahead = n > top;
            best = if ahead { l } else { best };
            top = if ahead { n } else { top };
            total += u64::from(n);
        }
        (best, f64::from(top) / total as f64)
    }
}

/// The first `tasks` rows of `counts` (`stride` per task, labels by the piece's numbers)
/// rewritten in place as rows of `k` in label rank order (`ranks[label]`).
fn relabel(mut counts: Vec<u32>, stride: usize, tasks: usize, ranks: &[u16], k: usize) -> Vec<u32> {
    counts.resize(tasks * stride.max(k), 0);
    // Rows that stay where they are (as long as the labels, the usual end of widening one
    // label at a time) are permuted with the row length known to the compiler: no call
    // per row to fill and copy a buffer, half the time.
    if k == stride {
        let rows = &mut counts[..tasks * k];
        let done = match k {
            2 => permute_rows::<2>(rows, ranks),
            3 => permute_rows::<3>(rows, ranks),
            4 => permute_rows::<4>(rows, ranks),
            5 => permute_rows::<5>(rows, ranks),
            6 => permute_rows::<6>(rows, ranks),
            7 => permute_rows::<7>(rows, ranks),
            8 => permute_rows::<8>(rows, ranks),
            _ => false,
        };
        if done {
            return counts;
        }
    }
    let mut row = vec![0; k];
    let mut move_row = |counts: &mut [u32], t: usize| {
        row.fill(0);
        for (&n, &r) in counts[t * stride..(t + 1) * stride].iter().zip(ranks) {
            row[usize::from(r)] += n;
        }
        counts[t * k..(t + 1) * k].copy_from_slice(&row);
    };
    // Shorter rows move towards the start, each into room the rows before it have left;
    // longer ones towards the end, so the last goes first.
    if k <= stride {
        (0..tasks).for_each(|t| move_row(&mut counts, t));
    } else {
        (0..tasks).rev().for_each(|t| move_row(&mut counts, t));
    }
    counts.truncate(tasks * k);
    counts
}

/// [`relabel`] of rows of `K` into rows of `K`: label `i` of each row goes to
/// `ranks[i]`. Returns whether it applied (`ranks` has at most `K` labels, each below `K`).
fn permute_rows<const K: usize>(rows: &mut [u32], ranks: &[u16]) -> bool {
    // Labels past those the piece saw have no votes: they add nothing wherever they go.
    let mut to = [0; K];
    for (to, &r) in to.iter_mut().zip(ranks) {
        *to = usize::from(r);
    }
    if ranks.len() > K || to.iter().any(|&r| r >= K) {
        return false;
    }
    for row in rows.chunks_exact_mut(K) {
        let mut moved = [0; K];
        for (&n, &r) in row.iter().zip(&to) {
            moved[r] += n;
        }
        row.copy_from_slice(&moved);
    }
    true
}

#[cfg(test)]
mod tests {
    use super::super::{Aggregator, Dataset, MajorityVoteFit};
    use super::*;

    /// An answers file of `rows` rows over `tasks` tasks, with duplicate rows, blank
    /// lines, labels first seen late and more labels than a piece first makes room for.
    fn answers(rows: usize, tasks: usize, seed: u64) -> String {
        answers_in_order(rows, tasks, seed, false)
    }

    /// [`answers`], or with `sorted` rows grouped by task in task order (then out of
    /// order for a few rows near the end).
    fn answers_in_order(rows: usize, tasks: usize, seed: u64, sorted: bool) -> String {
        let mut next = super::super::xorshift(seed | 1);
        let mut text = String::from("task,worker,label\n");
        let mut last = String::new();
        for i in 0..rows {
            let row = if i > 0 && next(20) == 0 {
                last.clone()
            } else {
                // The first piece of a big file meets few labels, the rest many more.
                let labels = if i < rows * 3 / 5 { 3 } else { 11 };
                let task = if sorted && i < rows - 10 {
                    i * tasks / rows
                } else {
                    next(tasks)
                };
                format!("t{task},w{},l{}\n", next(50), next(labels))
            };
            text.push_str(&row);
            if next(100) == 0 {
                text.push('\n');
            }
            last = row;
        }
        text
    }

    fn same_as_majority_vote(text: &str) {
        let counts = VoteCounts::from_csv(text).expect("counts");
        let data = Dataset::from_csv(text).expect("dataset");
        let fit = MajorityVoteFit.fit(&data);
        assert_eq!(counts.tasks, data.tasks);
        // Tasks in order of first sight, each once.
        let mut seen = std::collections::HashSet::new();
        let first_sight: Vec<&str> = text
            .lines()
            .skip(1)
            .filter_map(|l| l.split(',').next().filter(|t| !t.is_empty()))
            .filter(|t| seen.insert(*t))
            .collect();
        assert_eq!(counts.tasks.iter().collect::<Vec<_>>(), first_sight);
        assert_eq!(counts.labels, data.labels);
        let majority: Vec<(usize, f64)> = (0..counts.tasks.len())
            .map(|t| counts.majority(t))
            .collect();
        let expected: Vec<(usize, f64)> = fit.labels().into_iter().zip(fit.confidences()).collect();
        assert_eq!(majority, expected);
    }

    #[test]
    fn counts_give_majority_votes_result_for_small_and_big_files() {
        // Small (one piece; many ties) and over 2 MiB (a piece per core).
        same_as_majority_vote(&answers(2_000, 300, 7));
        let big = answers(200_000, 40_000, 11);
        assert!(big.len() > 2 << 20);
        same_as_majority_vote(&big);
        // Rows sorted by task: the pieces number their tasks without tables.
        same_as_majority_vote(&answers_in_order(200_000, 40_000, 13, true));
    }

    #[test]
    fn relabelling_moves_each_count_to_its_labels_rank() {
        let mut next = super::super::xorshift(0x2545_F491_4F6C_DD1D);
        // Rows shrinking, staying as long (the permuting path for 2 to 8 labels, and past
        // it) and growing; pieces that saw every label or only some.
        for (stride, k) in [
            (6, 3),
            (2, 2),
            (3, 3),
            (5, 5),
            (8, 8),
            (9, 9),
            (2, 5),
            (3, 11),
        ] {
            for seen in [stride.min(k), 1.max(stride.min(k) - 1)] {
                // The piece's labels in some order of the k labels there are.
                let mut ranks: Vec<u16> = (0..k as u16).collect();
                for i in (1..k).rev() {
                    ranks.swap(i, next(i + 1));
                }
                ranks.truncate(seen);
                let tasks = 50;
                let counts: Vec<u32> = (0..tasks * stride)
                    .map(|i| if i % stride < seen { next(9) as u32 } else { 0 })
                    .collect();
                let mut expected = vec![0; tasks * k];
                for t in 0..tasks {
                    for (l, &r) in ranks.iter().enumerate() {
                        expected[t * k + usize::from(r)] += counts[t * stride + l];
                    }
                }
                let moved = relabel(counts, stride, tasks, &ranks, k);
                assert_eq!(moved, expected, "rows of {stride} into {k}, {seen} seen");
            }
        }
    }

    #[test]
    fn bad_rows_get_the_datasets_errors() {
        let mut big = answers(200_000, 40_000, 3);
        for bad in ["t1,,l1\n", "t1,w1\n", "t1,w1,l1,x\n"] {
            big.push_str(bad);
            let line = big.lines().count();
            let counted = VoteCounts::from_csv(&big).expect_err("bad row");
            assert_eq!(
                Some(counted.clone()),
                Dataset::from_csv(&big).err(),
                "{bad:?}"
            );
            assert!(matches!(counted, DatasetError::Line { line: l, .. } if l == line));
            big.truncate(big.len() - bad.len());
        }
        assert_eq!(
            VoteCounts::from_csv("task,worker,label\n\n").expect_err("empty"),
            DatasetError::Empty
        );
    }
}
