//! A project's ML backends through the API: connect, list, ask to train, disconnect.

use std::time::Duration;

use reqwest::Method;
use tessera_api::{CreateMlBackendRequest, MlBackend, TrainingStarted};

use crate::api::{ApiClient, ClientError};

impl ApiClient {
    pub async fn create_ml_backend(
        &self,
        project: i64,
        request: &CreateMlBackendRequest,
    ) -> Result<MlBackend, ClientError> {
        self.post(&format!("/api/projects/{project}/ml-backends"), request)
            .await
    }

    pub async fn ml_backends(&self, project: i64) -> Result<Vec<MlBackend>, ClientError> {
        self.get(&format!("/api/projects/{project}/ml-backends"))
            .await
    }

    pub async fn delete_ml_backend(&self, project: i64, backend: i64) -> Result<(), ClientError> {
        self.send(
            self.request(
                Method::DELETE,
                &format!("/api/projects/{project}/ml-backends/{backend}"),
            )
            .timeout(Duration::from_secs(60)),
        )
        .await?;
        Ok(())
    }

    /// Sends `START_TRAINING` to the backend; its reply.
    pub async fn train_ml_backend(
        &self,
        project: i64,
        backend: i64,
    ) -> Result<TrainingStarted, ClientError> {
        self.post(
            &format!("/api/projects/{project}/ml-backends/{backend}/train"),
            &serde_json::json!({}),
        )
        .await
    }
}
