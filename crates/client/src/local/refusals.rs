//! Answers the server refused: kept on the device with the server's code and words, listed for
//! the annotator, and — where giving the answer again can help — their tasks back in hand.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{LocalResult, LocalStore, parse_ts};

/// Refusals whose task comes back to the annotator's hand: the answer itself was at fault
/// (a label the schema no longer has, a device clock far off), so giving it again can work.
pub(super) const ANSWER_AGAIN: &[&str] = &["invalid_answer", "invalid_time"];

/// An answer the server refused, as the annotator sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RefusedAnswer {
    pub answer_id: Uuid,
    pub task_id: i64,
    pub labels: Vec<String>,
    pub skipped: bool,
    pub answered_at: DateTime<Utc>,
    /// The server's stable code (e.g. `invalid_answer`, `not_leased`).
    pub code: String,
    /// The server's words.
    pub reason: String,
    /// The task is back among the open ones: answering it again may be accepted.
    pub answer_again: bool,
}

/// Refused answers not given again since: no later answer to their task on this device.
pub(super) const REFUSED: &str = "SELECT a.id, a.task_id, a.labels, a.skipped, a.answered_at, a.rejected_code, a.rejected
     FROM answers a WHERE a.rejected IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM answers b WHERE b.task_id = a.task_id AND b.local_seq > a.local_seq)
     ORDER BY a.local_seq";

impl LocalStore {
    /// The answers the server refused and that were not given again since, oldest first.
    pub fn refused_answers(&self) -> LocalResult<Vec<RefusedAnswer>> {
        self.with(|c| {
            let mut stmt = c.prepare(REFUSED)?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let Ok(answer_id) = id.parse::<Uuid>() else {
                    tracing::error!(%id, "a refused answer with an unreadable id");
                    continue;
                };
                let reason: String = r.get(6)?;
                // Refusals stored before codes were kept carry "code: message".
                let code = r
                    .get::<_, Option<String>>(5)?
                    .unwrap_or_else(|| reason.split(':').next().unwrap_or_default().to_owned());
                out.push(RefusedAnswer {
                    answer_id,
                    task_id: r.get(1)?,
                    labels: serde_json::from_str(&r.get::<_, String>(2)?)?,
                    skipped: r.get(3)?,
                    answered_at: parse_ts(&r.get::<_, String>(4)?),
                    answer_again: ANSWER_AGAIN.contains(&code.as_str()),
                    code,
                    reason,
                });
            }
            Ok(out)
        })
    }

    /// How many refused answers (not given again since) there are for each reason.
    pub fn refusal_reasons(&self) -> LocalResult<Vec<(String, u32)>> {
        let mut counts: Vec<(String, u32)> = Vec::new();
        for r in self.refused_answers()? {
            let reason = format!("{}: {}", r.code, r.reason);
            match counts.iter_mut().find(|(known, _)| *known == reason) {
                Some((_, n)) => *n += 1,
                None => counts.push((reason, 1)),
            }
        }
        Ok(counts)
    }
}
