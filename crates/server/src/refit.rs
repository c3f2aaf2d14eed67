//! Consensus re-fit: the whole project's current answers through the aggregator's default
//! method (`auto`: Dawid–Skene with an evidence-chosen worker prior, gold tasks clamped,
//! calibrated confidences), on demand, after enough new answers and on a schedule. Between
//! re-fits each new answer updates its task through the last fitted model (majority vote
//! before the first fit, and for answers the model cannot score).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_api::RefitResponse;
use tessera_core::aggregate::{Dataset, DawidSkene, FittedConsensus, argmax};

use tessera_core::SuspendedAnswers;

use crate::AppState;
use crate::store::progress_leaving_out;
use crate::store::{ConsensusUpdate, ProjectsOf, Store, StoreError, StoreResult};
use crate::suspension::suspended_annotators;

/// How often the scheduler looks at each project's answer count.
const CHECK_EVERY: Duration = Duration::from_secs(15);

/// When a project is due a re-fit: its answers grew by a tenth since the last one (and by at
/// least this many), `every` has passed with any new answer, or its suspended annotators
/// changed (their answers are left out, or count again).
const MIN_NEW_ANSWERS: u64 = 20;

/// Re-fits each single-choice project's consensus when it is due (see [`MIN_NEW_ANSWERS`]),
/// for as long as the server runs. Each replica runs its own; a re-fit is idempotent, so two
/// replicas re-fitting the same project cost time, not correctness.
pub async fn refit_when_due(state: Arc<AppState>, every: Duration) {
    // Per project: answers at the last re-fit, when it was, and who was suspended then.
    let mut fitted: HashMap<i64, (u64, Instant, BTreeSet<i64>)> = HashMap::new();
    let mut ticks = tokio::time::interval(CHECK_EVERY.min(every));
    loop {
        ticks.tick().await;
        let projects = match state.store.projects(ProjectsOf::Everyone).await {
            Ok(projects) => projects,
            Err(e) => {
                tracing::warn!(error = %e, "scheduled re-fit: cannot list projects");
                continue;
            }
        };
        for project in projects.iter().filter(|p| p.schema.can_refit()) {
            let answers = match state.store.status(project.id, state.clock.now()).await {
                Ok(status) => status.answers,
                Err(e) => {
                    tracing::warn!(project_id = project.id, error = %e, "scheduled re-fit: no status");
                    continue;
                }
            };
            let suspended = match project.schema.suspended_answers {
                SuspendedAnswers::Exclude => {
                    match suspended_annotators(state.store.as_ref(), project).await {
                        Ok(suspended) => suspended,
                        Err(e) => {
                            tracing::warn!(project_id = project.id, error = %e, "scheduled re-fit: no suspensions");
                            continue;
                        }
                    }
                }
                SuspendedAnswers::Weigh => BTreeSet::new(),
            };
            let (last, at, excluded) = fitted.get(&project.id).cloned().unwrap_or((
                0,
                Instant::now() - every,
                BTreeSet::new(),
            ));
            let grown = answers >= last + MIN_NEW_ANSWERS.max(last / 10);
            let stale = answers != last && at.elapsed() >= every;
            // A suspension (or its lift) changes whose answers count: re-fit now.
            let suspensions = answers > 0 && suspended != excluded;
            if !(grown || stale || suspensions) {
                continue;
            }
            match refit_project(state.store.as_ref(), project.id).await {
                Ok(_) => {
                    fitted.insert(project.id, (answers, Instant::now(), suspended));
                }
                Err(e) => {
                    tracing::warn!(project_id = project.id, error = %e, "scheduled re-fit failed");
                }
            }
        }
    }
}

/// The name re-fitted consensus carries in exports.
pub const METHOD: &str = "auto";

/// Re-fits one project's consensus and stores it. Single-choice projects only.
pub async fn refit_project(store: &dyn Store, project_id: i64) -> StoreResult<RefitResponse> {
    let started = std::time::Instant::now();
    let project = store.project(project_id).await?;
    if !project.schema.can_refit() {
        return Err(StoreError::Conflict(
            "re-fitting needs a single-choice project with labels (this one takes several labels or free text per answer)"
                .to_owned(),
        ));
    }
    let excluded = match project.schema.suspended_answers {
        SuspendedAnswers::Exclude => suspended_annotators(store, &project).await?,
        SuspendedAnswers::Weigh => BTreeSet::new(),
    };
    let inputs = store.consensus_inputs(project_id).await?;
    if inputs.answers.is_empty() {
        return Ok(RefitResponse {
            tasks: 0,
            method: METHOD.to_owned(),
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    let schema = project.schema.clone();
    let left_out = excluded.len();
    let (updates, model) = tokio::task::spawn_blocking(move || fit(&inputs, &schema, excluded))
        .await
        .map_err(|e| StoreError::Backend(format!("re-fit failed: {e}")))??;
    let tasks = updates.len();
    store.write_consensus(project_id, updates, METHOD).await?;
    // From now on each new answer updates its task through the fitted model.
    store.save_consensus_model(project_id, model).await?;
    tracing::info!(project_id, tasks, left_out, elapsed = ?started.elapsed(), "consensus re-fitted");
    Ok(RefitResponse {
        tasks,
        method: METHOD.to_owned(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The fitted consensus of every answered task, and the fitted model (JSON) that scores
/// answers arriving after it. The answers of `excluded` annotators are left out: a task they
/// alone answered loses its consensus, and every task wants others in their place.
fn fit(
    inputs: &crate::store::ConsensusInputs,
    schema: &tessera_core::LabelSchema,
    excluded: BTreeSet<i64>,
) -> StoreResult<(Vec<ConsensusUpdate>, String)> {
    let (kept, dropped): (Vec<_>, Vec<_>) = inputs
        .answers
        .iter()
        .partition(|(_, annotator, _)| !excluded.contains(annotator));
    let mut left_out: HashMap<i64, u32> = HashMap::new();
    for (task, _, _) in &dropped {
        *left_out.entry(*task).or_default() += 1;
    }
    let ids: Vec<(String, String)> = kept
        .iter()
        .map(|(task, annotator, _)| (task.to_string(), annotator.to_string()))
        .collect();
    let mut data = Dataset::from_triples(
        ids.iter()
            .zip(&kept)
            .map(|((t, w), (_, _, label))| (t.as_str(), w.as_str(), label.as_str())),
    )
    .map_err(|e| StoreError::Backend(format!("re-fit input: {e}")))?;
    // Gold tasks are clamped to their known answer while fitting.
    let label_index: HashMap<&str, u16> = (0..data.labels.len())
        .filter_map(|i| data.labels.get(i).map(|l| (l, i as u16)))
        .collect();
    let gold: Vec<(usize, u16)> = (0..data.tasks.len())
        .filter_map(|t| {
            let id: i64 = data.tasks.get(t)?.parse().ok()?;
            let label = inputs.gold.get(&id)?;
            Some((t, *label_index.get(label.as_str())?))
        })
        .collect();
    for (t, l) in gold {
        data.gold[t] = Some(l);
    }
    let (fitted, model) = FittedConsensus::fit(&DawidSkene::auto(), &data);
    let model = serde_json::to_string(&model.excluding(excluded))
        .map_err(|e| StoreError::Backend(format!("re-fit model: {e}")))?;
    let mut counts: HashMap<i64, u32> = HashMap::new();
    for (task, _, _) in &kept {
        *counts.entry(*task).or_default() += 1;
    }
    let wanted = |answers: u32, confidence: Option<f64>, task: i64| {
        progress_leaving_out(
            schema,
            answers,
            confidence,
            left_out.get(&task).copied().unwrap_or(0),
        )
    };
    let mut updates = Vec::with_capacity(data.tasks.len() + left_out.len());
    for (t, posterior) in fitted.posteriors.iter().enumerate() {
        let (Some(id), Some(label)) = (
            data.tasks.get(t).and_then(|s| s.parse::<i64>().ok()),
            data.labels.get(argmax(posterior)),
        ) else {
            continue;
        };
        let confidence = posterior[argmax(posterior)];
        let answers = counts.get(&id).copied().unwrap_or(0);
        let progress = wanted(answers, Some(confidence), id);
        updates.push(ConsensusUpdate {
            task_id: id,
            labels: vec![label.to_owned()],
            answers: answers + left_out.get(&id).copied().unwrap_or(0),
            confidence,
            complete: progress.complete,
            wanted: progress.wanted,
            needs_review: progress.needs_review,
        });
    }
    // Tasks only excluded annotators answered: no consensus, open again.
    for &task in left_out.keys().filter(|t| !counts.contains_key(t)) {
        let progress = wanted(0, None, task);
        updates.push(ConsensusUpdate {
            task_id: task,
            labels: Vec::new(),
            answers: left_out.get(&task).copied().unwrap_or(0),
            confidence: 0.0,
            complete: progress.complete,
            wanted: progress.wanted,
            needs_review: progress.needs_review,
        });
    }
    Ok((updates, model))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ConsensusInputs;

    #[test]
    fn excluded_answers_leave_their_slots_to_others_and_lone_ones_lose_the_consensus() {
        let schema = tessera_core::LabelSchema::from_json(
            r#"{"kind":"classification","labels":["a","b"],"overlap":3}"#,
        )
        .expect("schema");
        let answer = |task: i64, annotator: i64, label: &str| (task, annotator, label.to_owned());
        let inputs = ConsensusInputs {
            answers: vec![
                answer(1, 7, "b"),
                answer(2, 7, "b"),
                answer(2, 8, "a"),
                answer(2, 9, "a"),
                answer(3, 8, "a"),
                answer(3, 9, "a"),
                answer(3, 10, "a"),
            ],
            gold: HashMap::new(),
            consensus: HashMap::new(),
        };
        let (updates, model) = fit(&inputs, &schema, BTreeSet::from([7])).expect("fit");
        let of = |task: i64| updates.iter().find(|u| u.task_id == task).expect("task");
        // Task 1: only the excluded annotator answered.
        assert_eq!(
            (
                of(1).labels.len(),
                of(1).answers,
                of(1).complete,
                of(1).wanted
            ),
            (0, 1, false, 4)
        );
        // Task 2: two of its three answers count; three wanted, plus the excluded one's slot.
        assert_eq!((of(2).answers, of(2).complete, of(2).wanted), (3, false, 4));
        assert_eq!(of(2).labels, ["a"]);
        // Task 3: untouched by the exclusion.
        assert_eq!((of(3).answers, of(3).complete), (3, true));
        let model: FittedConsensus = serde_json::from_str(&model).expect("model");
        assert!(!tessera_core::ConsensusMethod::counts(&model, 7));
    }
}
