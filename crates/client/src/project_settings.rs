//! The requester's project settings in the app: editing the schema, re-fitting the
//! consensus, archiving, restoring and deleting.

use tessera_api::UpdateProjectRequest;
use tessera_core::LabelSchema;

use crate::session::{Session, SessionError};

type Result<T> = std::result::Result<T, SessionError>;

impl Session {
    /// Replaces the project's schema with `schema` (JSON). One that does not hold is refused
    /// here; one that would leave stored answers meaning nothing is refused by the server,
    /// with the reason.
    pub async fn edit_schema(&self, project_id: i64, schema: &str) -> Result<()> {
        let schema = LabelSchema::from_json(schema)
            .map_err(|e| SessionError::Invalid(format!("schema: {e}")))?;
        let request = UpdateProjectRequest {
            name: None,
            schema: Some(schema),
        };
        self.requester_api()?
            .update_project(project_id, &request)
            .await?;
        Ok(())
    }

    /// Re-fits the project's consensus now; says how many tasks and by which method.
    pub async fn refit(&self, project_id: i64) -> Result<String> {
        let done = self.requester_api()?.refit(project_id).await?;
        Ok(format!(
            "Re-fitted {} tasks (method: {}).",
            done.tasks, done.method
        ))
    }

    /// Archives the project (`archived`) or restores it.
    pub async fn set_archived(&self, project_id: i64, archived: bool) -> Result<()> {
        let api = self.requester_api()?;
        if archived {
            api.archive_project(project_id).await?;
        } else {
            api.restore_project(project_id).await?;
        }
        Ok(())
    }

    /// Deletes the project and all its work for good; says what went.
    pub async fn delete_project(&self, project_id: i64) -> Result<String> {
        let gone = self.requester_api()?.delete_project(project_id).await?;
        Ok(format!(
            "Deleted project {} with its {} tasks and {} answers.",
            gone.project_id, gone.tasks, gone.answers
        ))
    }
}
