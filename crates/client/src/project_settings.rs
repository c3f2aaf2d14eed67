//! The requester's project settings in the app: editing the schema, re-fitting the
//! consensus, connecting ML backends, archiving, restoring and deleting.

use tessera_api::{CreateMlBackendRequest, MlBackend, UpdateProjectRequest};
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

    /// The project's ML backends and how each is doing.
    pub async fn ml_backends(&self, project_id: i64) -> Result<Vec<MlBackend>> {
        Ok(self.requester_api()?.ml_backends(project_id).await?)
    }

    /// Connects the ML backend at `url`; says whether it answered.
    pub async fn connect_ml_backend(
        &self,
        project_id: i64,
        url: &str,
        name: &str,
    ) -> Result<String> {
        let request = CreateMlBackendRequest {
            url: url.trim().to_owned(),
            name: Some(name.trim().to_owned()).filter(|n| !n.is_empty()),
        };
        let b = self
            .requester_api()?
            .create_ml_backend(project_id, &request)
            .await?;
        Ok(match (b.healthy, b.last_error) {
            (Some(true), _) => format!(
                "Connected {}: it answers, and predicts every task in the background.",
                b.name
            ),
            (_, Some(e)) => format!(
                "Connected {}, but it does not answer yet ({e}); Tessera keeps trying.",
                b.name
            ),
            _ => format!("Connected {}.", b.name),
        })
    }

    /// Asks every backend of the project to train now; says what each answered.
    pub async fn train_ml_backends(&self, project_id: i64) -> Result<String> {
        let api = self.requester_api()?;
        let mut said = Vec::new();
        for b in api.ml_backends(project_id).await? {
            match api.train_ml_backend(project_id, b.id).await {
                Ok(t) => said.push(format!("{} started training ({}).", b.name, t.status)),
                Err(e) => said.push(format!("{} did not: {e}", b.name)),
            }
        }
        if said.is_empty() {
            return Err(SessionError::Invalid(
                "connect an ML backend first".to_owned(),
            ));
        }
        Ok(said.join(" "))
    }

    pub async fn disconnect_ml_backend(&self, project_id: i64, backend_id: i64) -> Result<()> {
        self.requester_api()?
            .delete_ml_backend(project_id, backend_id)
            .await?;
        Ok(())
    }
}
