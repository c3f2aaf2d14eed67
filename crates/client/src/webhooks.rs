//! A requester's webhooks through the API: subscribe, list, remove, and read the delivery log.

use std::time::Duration;

use reqwest::Method;
use tessera_api::{CreateWebhookRequest, CreateWebhookResponse, Delivery, DeliveryQuery, Webhook};

use crate::api::{ApiClient, ClientError};

impl ApiClient {
    /// Subscribes `request.url` to the project's events; the reply holds the secret, once.
    pub async fn create_webhook(
        &self,
        project: i64,
        request: &CreateWebhookRequest,
    ) -> Result<CreateWebhookResponse, ClientError> {
        self.post(&format!("/api/projects/{project}/webhooks"), request)
            .await
    }

    pub async fn webhooks(&self, project: i64) -> Result<Vec<Webhook>, ClientError> {
        self.get(&format!("/api/projects/{project}/webhooks")).await
    }

    pub async fn delete_webhook(&self, project: i64, webhook: i64) -> Result<(), ClientError> {
        self.send(
            self.request(
                Method::DELETE,
                &format!("/api/projects/{project}/webhooks/{webhook}"),
            )
            .timeout(Duration::from_secs(60)),
        )
        .await?;
        Ok(())
    }

    /// A page of the delivery log, newest first.
    pub async fn deliveries(
        &self,
        project: i64,
        query: &DeliveryQuery,
    ) -> Result<Vec<Delivery>, ClientError> {
        self.json(
            self.request(
                Method::GET,
                &format!("/api/projects/{project}/webhooks/deliveries"),
            )
            .query(query)
            .timeout(Duration::from_secs(60)),
        )
        .await
    }
}
