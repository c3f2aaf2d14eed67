//! The built-in model: a fastText classifier (the `fasttext` crate, a maintained pure-Rust
//! fastText) over hashed word bigrams and character n-grams, trained on the project's
//! consensus and predicting its open tasks. No weights are downloaded: it learns from the
//! project alone.

use std::io::Write;

use serde_json::{Map, Value};
use tessera_core::Prediction;

use crate::store::{search_words, searched_text};

/// The model's hyper-parameters: small enough to train on 100,000 tasks in seconds on two
/// cores, and to hold in a few tens of megabytes (`bucket` × `dim` floats).
#[derive(Debug, Clone)]
pub struct Settings {
    pub dim: i32,
    /// Passes over the training set: enough for about `examples_seen` examples in all, within
    /// `min_epoch..=max_epoch` (a small set needs many passes to learn, a large one few).
    pub examples_seen: usize,
    pub min_epoch: i32,
    pub max_epoch: i32,
    pub lr: f64,
    pub word_ngrams: i32,
    pub minn: i32,
    pub maxn: i32,
    pub bucket: i32,
    pub seed: i32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            dim: 32,
            examples_seen: 50_000,
            min_epoch: 5,
            max_epoch: 25,
            lr: 0.5,
            word_ngrams: 2,
            minn: 3,
            maxn: 4,
            bucket: 1 << 18,
            seed: 7,
        }
    }
}

impl Settings {
    /// The passes over `n` examples.
    pub fn epochs(&self, n: usize) -> i32 {
        let wanted = self.examples_seen / n.max(1);
        i32::try_from(wanted)
            .unwrap_or(i32::MAX)
            .clamp(self.min_epoch, self.max_epoch)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("the built-in model needs two labels or more among its training tasks")]
    TooFewLabels,
    #[error("cannot write the training file: {0}")]
    Io(#[from] std::io::Error),
    #[error("training failed: {0}")]
    Training(String),
}

/// A trained model and the project's labels it predicts.
pub struct Model {
    fasttext: fasttext::FastText,
    labels: Vec<String>,
    version: String,
}

/// What the model reads of a task: the words of its string values, lower-cased.
pub fn text_of(data: &Map<String, Value>) -> String {
    search_words(&searched_text(&Value::Object(data.clone()))).join(" ")
}

/// Trains on `examples` (text, label); `labels` are the schema's (what the model may say).
/// One thread and a fixed seed: the same examples give the same model.
pub fn train(
    examples: &[(String, String)],
    labels: &[String],
    settings: &Settings,
    version: String,
) -> Result<Model, ModelError> {
    let seen: std::collections::BTreeSet<&str> = examples.iter().map(|(_, l)| l.as_str()).collect();
    if seen.len() < 2 {
        return Err(ModelError::TooFewLabels);
    }
    let mut file = tempfile::NamedTempFile::new()?;
    {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        for (text, label) in examples {
            // Labels by index: a label may hold spaces, fastText's may not.
            let Some(index) = labels.iter().position(|l| l == label) else {
                continue;
            };
            writeln!(out, "__label__{index} {text}")?;
        }
        out.flush()?;
    }
    let mut args = fasttext::args::Args {
        input: file.path().to_path_buf(),
        ..fasttext::args::Args::default()
    };
    args.apply_supervised_defaults();
    args.dim = settings.dim;
    args.epoch = settings.epochs(examples.len());
    args.lr = settings.lr;
    args.word_ngrams = settings.word_ngrams;
    args.minn = settings.minn;
    args.maxn = settings.maxn;
    args.bucket = settings.bucket;
    args.seed = settings.seed;
    args.thread = 1;
    args.verbose = 0;
    let fasttext =
        fasttext::FastText::train(args).map_err(|e| ModelError::Training(e.to_string()))?;
    Ok(Model {
        fasttext,
        labels: labels.to_vec(),
        version,
    })
}

impl Model {
    /// The model's best label for `text` with its probability; `None` for a text with no
    /// word it can read.
    pub fn predict(&self, text: &str) -> Option<Prediction> {
        let best = self.fasttext.predict(text, 1, 0.0).into_iter().next()?;
        let index: usize = best.label.strip_prefix("__label__")?.parse().ok()?;
        Some(Prediction {
            labels: vec![self.labels.get(index)?.clone()],
            score: Some(f64::from(best.prob).clamp(0.0, 1.0)),
            model_version: Some(self.version.clone()),
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> (Vec<(String, String)>, Vec<String>) {
        let labels = vec!["sport".to_owned(), "food".to_owned()];
        let sport = [
            "goal match team",
            "the team won the match",
            "a late goal",
            "match referee",
        ];
        let food = [
            "pasta with cheese",
            "bake the bread",
            "cheese and bread",
            "a bowl of pasta",
        ];
        let mut examples = Vec::new();
        for _ in 0..20 {
            examples.extend(sport.iter().map(|t| ((*t).to_owned(), "sport".to_owned())));
            examples.extend(food.iter().map(|t| ((*t).to_owned(), "food".to_owned())));
        }
        (examples, labels)
    }

    #[test]
    fn it_learns_a_separable_set() {
        let (examples, labels) = toy();
        let model = train(&examples, &labels, &Settings::default(), "v1".to_owned())
            .unwrap_or_else(|e| panic!("train: {e}"));
        let p = model.predict("the match and a goal").expect("a prediction");
        assert_eq!(p.labels, vec!["sport"]);
        assert!(p.score.is_some_and(|s| s > 0.5), "{p:?}");
        assert_eq!(p.model_version.as_deref(), Some("v1"));
        let q = model.predict("bread and pasta").expect("a prediction");
        assert_eq!(q.labels, vec!["food"]);
    }

    #[test]
    fn the_same_seed_gives_the_same_model() {
        let (examples, labels) = toy();
        let a = train(&examples, &labels, &Settings::default(), "a".to_owned())
            .unwrap_or_else(|e| panic!("train: {e}"));
        let b = train(&examples, &labels, &Settings::default(), "a".to_owned())
            .unwrap_or_else(|e| panic!("train: {e}"));
        for text in ["goal", "cheese", "the bread match", "unknown words here"] {
            assert_eq!(a.predict(text), b.predict(text), "{text}");
        }
    }

    #[test]
    fn small_sets_get_more_passes_than_large_ones() {
        let s = Settings::default();
        assert_eq!(s.epochs(100), 25);
        assert_eq!(s.epochs(5_000), 10);
        assert_eq!(s.epochs(100_000), 5);
        assert_eq!(s.epochs(0), 25);
    }

    #[test]
    fn one_label_is_not_enough() {
        let examples = vec![("a b".to_owned(), "sport".to_owned())];
        let labels = vec!["sport".to_owned(), "food".to_owned()];
        assert!(matches!(
            train(&examples, &labels, &Settings::default(), "v".to_owned()),
            Err(ModelError::TooFewLabels)
        ));
    }

    #[test]
    fn a_task_is_read_by_the_words_of_its_strings() {
        let data: Map<String, Value> =
            serde_json::from_str(r#"{"text": "Great FOOD!", "meta": {"n": 3, "x": "Oven"}}"#)
                .unwrap_or_default();
        let text = text_of(&data);
        assert!(text.contains("great food"), "{text}");
        assert!(text.contains("oven"), "{text}");
    }
}
