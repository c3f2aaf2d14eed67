//! `annotator.suspended`: a suspension is not stored but follows from each annotator's gold
//! record, so the sender looks for new ones in the projects whose webhooks want them, and
//! announces each once per lift (the notice is kept with the event, in one transaction).

use tessera_api::EventType;

use super::Event;
use crate::AppState;
use crate::store::StoreResult;
use crate::suspension::{gold_records, suspends};

/// Announces the suspensions not announced yet; how many it announced.
pub async fn announce(state: &AppState) -> StoreResult<usize> {
    let mut announced = 0;
    for project_id in state
        .store
        .projects_wanting(EventType::AnnotatorSuspended)
        .await?
    {
        let project = state.store.project(project_id).await?;
        if project.schema.suspend_below.is_none() {
            continue;
        }
        for (annotator, gold) in gold_records(state.store.as_ref(), project_id, None).await? {
            if !suspends(&project, gold.since_lift) {
                continue;
            }
            let lifted_at = gold.whole.0.saturating_sub(gold.since_lift.0);
            let event = Event::annotator_suspended(project_id, annotator, gold.since_lift);
            if state
                .store
                .note_suspension(project_id, annotator, lifted_at, event, state.clock.now())
                .await?
            {
                announced += 1;
            }
        }
    }
    Ok(announced)
}
