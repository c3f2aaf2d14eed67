//! What a replica may keep in memory between requests.

use std::collections::HashMap;
use std::sync::Arc;

use tessera_api::Project;
use tessera_core::aggregate::FittedConsensus;

use super::*;

/// Projects this server has read, by id. A project row never changes and is never deleted
/// once created, so every replica may keep what it read: the lease path, which needs the
/// project on every request, then reads it once.
#[derive(Default)]
pub(crate) struct ProjectCache(std::sync::RwLock<HashMap<i64, Project>>);

impl ProjectCache {
    pub(crate) fn get(&self, id: i64) -> Option<Project> {
        let cache = self.0.read().unwrap_or_else(|e| e.into_inner());
        cache.get(&id).cloned()
    }

    /// Keeps `project` and hands it back.
    pub(crate) fn keep(&self, project: Project) -> Project {
        let mut cache = self.0.write().unwrap_or_else(|e| e.into_inner());
        cache.insert(project.id, project.clone());
        project
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
