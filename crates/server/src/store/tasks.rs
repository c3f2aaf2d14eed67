//! The requester's task browser: a filtered page of a project's tasks in keyset order (so a
//! page costs the same at the millionth task as at the first), one task in full, and sending
//! tasks to review or up the queue.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{ExportRecord, TaskOrder, TaskStatus, TaskSummary};

use super::*;

/// Which tasks, in which order, after which one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub max_confidence: Option<f64>,
    pub label: Option<String>,
    pub annotator: Option<i64>,
    pub batch: Option<i64>,
    /// Lower-cased by the caller. Its words (see [`search_words`]) are all found in the
    /// task's string values, through the text index: each as a whole word, the last also as
    /// the start of one (as typed so far). A search with no word in it (punctuation only) is
    /// looked for as it is, by a scan.
    pub search: Option<String>,
    pub order: TaskOrder,
    /// The last task of the previous page: its confidence (confidence order) and id.
    pub after: Option<(Option<f64>, i64)>,
    pub limit: u32,
    /// The page's stuck tasks (see [`TaskStore::stuck_tasks`]), for `Stuck`.
    pub stuck: Vec<i64>,
}

/// The words of a search as the text index splits text: runs of letters, digits and the
/// marks that combine with them (a virama or a vowel sign belongs to its word).
pub fn search_words(search: &str) -> Vec<String> {
    use unicode_normalization::char::is_combining_mark;
    search
        .split(|c: char| !c.is_alphanumeric() && !is_combining_mark(c))
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Characters of a task's string values the text index reads (as PostgreSQL's tsvector
/// must stay under a megabyte).
pub const SEARCHED_CHARS: usize = 200_000;

/// What the text index reads of a task's data: its string values (not its keys, not data
/// URIs), joined by spaces, the first [`SEARCHED_CHARS`] of them.
pub fn searched_text(data: &serde_json::Value) -> String {
    fn strings<'a>(v: &'a serde_json::Value, out: &mut Vec<&'a str>) {
        match v {
            serde_json::Value::String(s) if !s.starts_with("data:") => out.push(s),
            serde_json::Value::Array(items) => items.iter().for_each(|i| strings(i, out)),
            serde_json::Value::Object(map) => map.values().for_each(|i| strings(i, out)),
            _ => {}
        }
    }
    let mut values = Vec::new();
    strings(data, &mut values);
    let text = values.join(" ");
    match text.char_indices().nth(SEARCHED_CHARS) {
        Some((end, _)) => text[..end].to_owned(),
        None => text,
    }
}

/// [`searched_text`] of a task's data as stored (JSON text); a task whose data is not JSON
/// (none is stored so) has none.
pub fn searched_text_of(data: &str) -> String {
    serde_json::from_str(data)
        .map(|v| searched_text(&v))
        .unwrap_or_default()
}

/// Whether `data`'s [`searched_text`] holds every one of `words` as a word, the last also
/// as the start of one: the text index's answer, worked out for one task.
pub fn words_match(data: &serde_json::Value, words: &[String]) -> bool {
    let tokens = search_words(&searched_text(data));
    let Some((last, whole)) = words.split_last() else {
        return true;
    };
    whole.iter().all(|w| tokens.contains(w)) && tokens.iter().any(|t| t.starts_with(last.as_str()))
}

/// What the browser needs to know about one task beyond its record.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskState {
    pub batch_id: i64,
    pub priority: i32,
    pub status: TaskStatus,
    /// Annotators who answered or skipped it.
    pub finished: Vec<i64>,
    /// Unexpired leases on it.
    pub live_leases: u32,
}

#[async_trait]
pub trait TaskStore: Send + Sync {
    /// A page of the project's tasks matching `filter`.
    async fn browse_tasks(
        &self,
        project_id: i64,
        filter: TaskFilter,
    ) -> StoreResult<Vec<TaskSummary>>;

    /// One task as the export has it, and its state (`now` for which leases are live);
    /// `UnknownTask` when the project has no such task.
    async fn task(
        &self,
        project_id: i64,
        task_id: i64,
        now: DateTime<Utc>,
    ) -> StoreResult<(ExportRecord, TaskState)>;

    /// Sends tasks to the review queue (those not cancelled, not gold and not reviewed yet);
    /// returns how many it sent. An id of no task of the project is `UnknownTask`.
    async fn send_to_review(&self, project_id: i64, task_ids: Vec<i64>) -> StoreResult<u64>;

    /// Sets tasks' priority (leased before tasks of lower priority); returns how many.
    async fn set_task_priority(
        &self,
        project_id: i64,
        task_ids: Vec<i64>,
        priority: i32,
    ) -> StoreResult<u64>;

    /// Annotator-role users with a working token (imported annotators have none) who may
    /// lease the project's tasks: its members when it is closed, else every annotator not
    /// confined to other projects.
    async fn project_annotators(&self, project_id: i64) -> StoreResult<Vec<i64>>;

    /// Up to `limit` stuck tasks after task `after` (0 for the first), in upload order:
    /// open, leased to no one (at `now`), and answered or skipped by every one of `eligible`
    /// (the annotators who may take them). With no one eligible, every open task leased to
    /// no one.
    async fn stuck_tasks(
        &self,
        project_id: i64,
        eligible: Vec<i64>,
        now: DateTime<Utc>,
        after: i64,
        limit: u32,
    ) -> StoreResult<Vec<i64>>;
}

/// A task's status from its stored flags.
pub(crate) fn status_of(
    cancelled: bool,
    gold: bool,
    waiting_review: bool,
    complete: bool,
) -> TaskStatus {
    if cancelled {
        TaskStatus::Cancelled
    } else if gold {
        TaskStatus::Gold
    } else if waiting_review {
        TaskStatus::NeedsReview
    } else if complete {
        TaskStatus::Complete
    } else {
        TaskStatus::Open
    }
}

/// The browser's preview of a task's data: its text (or the pair, or the whole data as JSON)
/// cut to 160 characters.
pub(crate) fn preview(data: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(data).unwrap_or_default();
    let text = match (&value["text"], &value["a"], &value["b"], &value["image"]) {
        (serde_json::Value::String(t), _, _, _) => t.clone(),
        (_, serde_json::Value::String(a), serde_json::Value::String(b), _) => format!("{a} | {b}"),
        (_, _, _, serde_json::Value::String(image)) => image.clone(),
        _ => data.to_owned(),
    };
    let mut out: String = text.chars().take(160).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// A task id the project does not have, among `asked`, when fewer than asked were found.
pub(crate) fn first_missing(project_id: i64, asked: &[i64], found: &[i64]) -> StoreResult<()> {
    match asked.iter().find(|id| !found.contains(id)) {
        Some(&missing) => Err(unknown_task(project_id, missing)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::search_words;

    #[test]
    fn a_search_is_split_into_words_as_the_index_splits_text() {
        assert_eq!(
            search_words("Don't  LOSE-bags!"),
            ["don", "t", "lose", "bags"]
        );
        assert_eq!(search_words("flight1291 café"), ["flight1291", "café"]);
        assert_eq!(search_words("नमस्ते, दुनिया"), ["नमस्ते", "दुनिया"]);
        assert!(search_words(" ?! ").is_empty());
    }

    #[test]
    fn a_task_matches_when_its_string_values_hold_every_word_start() {
        use super::words_match;
        let data = serde_json::json!({
            "text": "Flight delayed at the gate",
            "meta": {"note": ["crew"]},
            "image": "data:text/plain,lounge",
            "count": 12,
        });
        let words = |s: &str| search_words(s);
        assert!(
            words_match(&data, &words("flight DELAY")),
            "the last as typed so far"
        );
        assert!(
            !words_match(&data, &words("delay gate")),
            "the others whole"
        );
        assert!(words_match(&data, &words("delayed gate")));
        assert!(words_match(&data, &words("crew")));
        assert!(!words_match(&data, &words("lounge")), "a data URI");
        assert!(!words_match(&data, &words("text")), "a key");
        assert!(!words_match(&data, &words("elayed")), "inside a word");
        assert!(!words_match(&data, &words("12")), "a number value");
    }
}
