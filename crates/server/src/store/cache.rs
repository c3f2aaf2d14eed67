//! What a replica may keep in memory between requests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tessera_api::Project;
use tessera_core::aggregate::FittedConsensus;

use super::*;

/// How long a replica trusts a project it read: a schema edit, an archive or a delete made
/// on another replica reaches this one within it (on this one, at once).
const PROJECT_TTL: Duration = Duration::from_secs(5);

/// Projects this server has read, by id, for [`PROJECT_TTL`]: the lease path, which needs
/// the project on every request, then reads it once every few seconds.
#[derive(Default)]
pub(crate) struct ProjectCache(std::sync::RwLock<HashMap<i64, (Instant, Project)>>);

impl ProjectCache {
    pub(crate) fn get(&self, id: i64) -> Option<Project> {
        let cache = self.0.read().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&id)
            .filter(|(read, _)| read.elapsed() < PROJECT_TTL)
            .map(|(_, project)| project.clone())
    }

    /// Keeps `project` and hands it back.
    pub(crate) fn keep(&self, project: Project) -> Project {
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        cache.insert(project.id, (Instant::now(), project.clone()));
        project
    }

    /// Forgets project `id` (this server changed it).
    pub(crate) fn forget(&self, id: i64) {
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        cache.remove(&id);
    }
}

/// Projects' re-fitted consensus models as this server last loaded them, by version: a push
/// reads the stored version (one indexed lookup) and parses the model only when it changed.
#[derive(Default)]
pub(crate) struct ModelCache(std::sync::Mutex<HashMap<i64, (i64, Arc<FittedConsensus>)>>);

impl ModelCache {
    /// The cached model of `project` when it is at `version`.
    pub(crate) fn get(&self, project: i64, version: i64) -> Option<Arc<FittedConsensus>> {
        let cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .get(&project)
            .filter(|(v, _)| *v == version)
            .map(|(_, m)| Arc::clone(m))
    }

    /// Parses and caches `project`'s model at `version`.
    pub(crate) fn load(
        &self,
        project: i64,
        version: i64,
        json: &str,
    ) -> StoreResult<Arc<FittedConsensus>> {
        let model: Arc<FittedConsensus> = Arc::new(serde_json::from_str(json).map_err(|e| {
            StoreError::Backend(format!("project {project}'s consensus model: {e}"))
        })?);
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        cache.insert(project, (version, Arc::clone(&model)));
        Ok(model)
    }
}
