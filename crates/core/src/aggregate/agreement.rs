//! Agreement between annotators, for nominal labels with any number of answers per task
//! (missing answers allowed): percent agreement, Fleiss' κ (Fleiss 1971, generalised to a
//! varying number of raters per task), Krippendorff's α (nominal; Krippendorff 2011,
//! "Computing Krippendorff's Alpha-Reliability") and Cohen's κ averaged over annotator pairs.
//! Tasks with fewer than two answers carry no agreement information and are left out.

use std::collections::HashMap;

use super::Dataset;

#[derive(Debug, Clone, PartialEq)]
pub struct Agreement {
    /// Tasks with at least two answers (the ones the metrics see).
    pub tasks: usize,
    /// Mean over tasks of the share of agreeing answer pairs.
    pub percent_agreement: f64,
    pub fleiss_kappa: f64,
    pub krippendorff_alpha: f64,
    /// Mean of Cohen's κ over annotator pairs with at least `MIN_SHARED` tasks in common
    /// (None when no pair qualifies or every qualifying pair's κ is undefined).
    pub cohen_kappa: Option<f64>,
    /// How many annotator pairs that mean covers.
    pub cohen_pairs: usize,
}

/// Fewest shared tasks for an annotator pair to enter the Cohen's κ mean.
pub const MIN_SHARED: usize = 5;

/// Label counts per task (every answer counts, duplicates too).
fn counts_per_task(data: &Dataset) -> Vec<Vec<f64>> {
    let mut counts = vec![vec![0.0; data.n_labels()]; data.n_tasks()];
    for &(t, _, l) in &data.answers {
        counts[t as usize][l as usize] += 1.0;
    }
    counts
}

pub fn agreement(data: &Dataset) -> Agreement {
    let k = data.n_labels();
    let counts = counts_per_task(data);
    let (mut tasks, mut p_sum, mut answers) = (0usize, 0.0, 0.0);
    let mut totals = vec![0.0; k];
    let mut coincidence = vec![0.0; k * k];
    for row in &counts {
        let n: f64 = row.iter().sum();
        if n < 2.0 {
            continue;
        }
        tasks += 1;
        answers += n;
        p_sum += row.iter().map(|c| c * (c - 1.0)).sum::<f64>() / (n * (n - 1.0));
        for (c, &nc) in row.iter().enumerate() {
            totals[c] += nc;
            for (d, &nd) in row.iter().enumerate() {
                let pairs = if c == d { nc * (nc - 1.0) } else { nc * nd };
                coincidence[c * k + d] += pairs / (n - 1.0);
            }
        }
    }
    let percent_agreement = if tasks > 0 {
        p_sum / tasks as f64
    } else {
        f64::NAN
    };
    let p_e: f64 = totals.iter().map(|t| (t / answers).powi(2)).sum();
    let fleiss_kappa = (percent_agreement - p_e) / (1.0 - p_e);

    let margins: Vec<f64> = (0..k)
        .map(|c| coincidence[c * k..(c + 1) * k].iter().sum())
        .collect();
    let n: f64 = margins.iter().sum();
    let (mut observed, mut expected) = (0.0, 0.0);
    for c in 0..k {
        for d in 0..k {
            if c != d {
                observed += coincidence[c * k + d];
                expected += margins[c] * margins[d];
            }
        }
    }
    let krippendorff_alpha = 1.0 - (n - 1.0) * observed / expected;

    let (cohen_kappa, cohen_pairs) = mean_cohen_kappa(data);
    Agreement {
        tasks,
        percent_agreement,
        fleiss_kappa,
        krippendorff_alpha,
        cohen_kappa,
        cohen_pairs,
    }
}

/// Cohen's κ for two label sequences over the same items.
pub fn cohen_kappa(a: &[u16], b: &[u16], n_labels: usize) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let n = a.len() as f64;
    let (mut ma, mut mb) = (vec![0.0; n_labels], vec![0.0; n_labels]);
    let mut agree = 0.0;
    for (&x, &y) in a.iter().zip(b) {
        ma[x as usize] += 1.0;
        mb[y as usize] += 1.0;
        if x == y {
            agree += 1.0;
        }
    }
    let p_o = agree / n;
    let p_e: f64 = ma.iter().zip(&mb).map(|(x, y)| (x / n) * (y / n)).sum();
    (p_e < 1.0).then(|| (p_o - p_e) / (1.0 - p_e))
}

fn mean_cohen_kappa(data: &Dataset) -> (Option<f64>, usize) {
    // Each worker's first answer per task.
    let mut by_task: Vec<Vec<(u32, u16)>> = vec![Vec::new(); data.n_tasks()];
    for &(t, w, l) in &data.answers {
        let answers = &mut by_task[t as usize];
        if !answers.iter().any(|&(x, _)| x == w) {
            answers.push((w, l));
        }
    }
    let mut pairs: HashMap<(u32, u32), (Vec<u16>, Vec<u16>)> = HashMap::new();
    for answers in &mut by_task {
        answers.sort_unstable();
        for (i, &(w1, l1)) in answers.iter().enumerate() {
            for &(w2, l2) in &answers[i + 1..] {
                let entry = pairs.entry((w1, w2)).or_default();
                entry.0.push(l1);
                entry.1.push(l2);
            }
        }
    }
    let mut keys: Vec<_> = pairs.keys().copied().collect();
    keys.sort_unstable();
    let kappas: Vec<f64> = keys
        .iter()
        .filter_map(|key| {
            let (a, b) = &pairs[key];
            (a.len() >= MIN_SHARED)
                .then(|| cohen_kappa(a, b, data.n_labels()))
                .flatten()
        })
        .collect();
    if kappas.is_empty() {
        (None, 0)
    } else {
        (
            Some(kappas.iter().sum::<f64>() / kappas.len() as f64),
            kappas.len(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dataset(rows: &[(String, String, String)]) -> Dataset {
        Dataset::from_rows(rows)
    }

    #[test]
    fn krippendorff_alpha_matches_the_published_nominal_example() {
        // Krippendorff (2011), reliability data with missing values: 4 coders, 12 units;
        // the paper gives α = 0.743 for nominal data.
        let coders = [
            "1 2 3 3 2 1 4 1 2 . . .",
            "1 2 3 3 2 2 4 1 2 5 . 3",
            ". 3 3 3 2 3 4 2 2 5 1 .",
            "1 2 3 3 2 4 4 1 2 5 1 .",
        ];
        let mut rows = Vec::new();
        for (c, values) in coders.iter().enumerate() {
            for (u, v) in values.split_whitespace().enumerate() {
                if v != "." {
                    rows.push((format!("u{u}"), format!("c{c}"), v.to_owned()));
                }
            }
        }
        let data = dataset(&rows);
        let a = agreement(&data);
        assert!(
            (a.krippendorff_alpha - 0.743).abs() < 0.0005,
            "{}",
            a.krippendorff_alpha
        );
        assert_eq!(
            a.tasks, 11,
            "the unit with a single value carries no information"
        );
    }

    #[test]
    fn fleiss_kappa_matches_the_textbook_example() {
        // Fleiss' κ worked example: 10 subjects, 14 raters each, 5 categories; κ ≈ 0.210.
        let table = [
            [0, 0, 0, 0, 14],
            [0, 2, 6, 4, 2],
            [0, 0, 3, 5, 6],
            [0, 3, 9, 2, 0],
            [2, 2, 8, 1, 1],
            [7, 7, 0, 0, 0],
            [3, 2, 6, 3, 0],
            [2, 5, 3, 2, 2],
            [6, 5, 2, 1, 0],
            [0, 2, 2, 3, 7],
        ];
        let mut rows = Vec::new();
        for (s, counts) in table.iter().enumerate() {
            let mut rater = 0;
            for (c, &n) in counts.iter().enumerate() {
                for _ in 0..n {
                    rows.push((format!("s{s}"), format!("r{rater}"), format!("c{c}")));
                    rater += 1;
                }
            }
        }
        let data = dataset(&rows);
        let a = agreement(&data);
        assert!((a.fleiss_kappa - 0.210).abs() < 0.001, "{}", a.fleiss_kappa);
    }

    #[test]
    fn cohen_kappa_matches_a_hand_computed_table() {
        // 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 → p_o 0.7, p_e 0.5.
        let mut a = Vec::new();
        let mut b = Vec::new();
        for (x, y, n) in [(0, 0, 20), (0, 1, 5), (1, 0, 10), (1, 1, 15)] {
            for _ in 0..n {
                a.push(x);
                b.push(y);
            }
        }
        let kappa = cohen_kappa(&a, &b, 2).expect("defined");
        assert!((kappa - 0.4).abs() < 1e-12, "{kappa}");
        assert_eq!(
            cohen_kappa(&[0, 0], &[0, 0], 2),
            None,
            "undefined when chance agreement is 1"
        );
    }

    #[test]
    fn perfect_agreement_is_one_everywhere() {
        let rows: Vec<(String, String, String)> = (0..10)
            .flat_map(|t| {
                (0..3).map(move |w| {
                    (
                        format!("t{t}"),
                        format!("w{w}"),
                        if t % 2 == 0 { "a" } else { "b" }.to_owned(),
                    )
                })
            })
            .collect();
        let data = dataset(&rows);
        let a = agreement(&data);
        assert_eq!(a.percent_agreement, 1.0);
        assert!((a.fleiss_kappa - 1.0).abs() < 1e-12 && (a.krippendorff_alpha - 1.0).abs() < 1e-12);
        assert_eq!((a.cohen_kappa, a.cohen_pairs), (Some(1.0), 3));
    }
}
