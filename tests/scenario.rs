//! What the server scenarios share: a sentiment schema, a one-label answer, test projects,
//! and the macro that runs a scenario once per storage backend.

use tessera_api::{AnswerPush, Role};
use tessera_client::ApiClient;
use tessera_core::LabelSchema;

use crate::{SENTIMENT_SCHEMA, TestServer, answer_push, sample_jsonl};

/// Runs each scenario once per backend, as `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread")]
            async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

/// The sentiment schema with `overlap` answers per task.
pub fn schema(overlap: u32) -> LabelSchema {
    let mut s = LabelSchema::from_json(SENTIMENT_SCHEMA).expect("schema");
    s.overlap = overlap;
    s
}

/// An answer of one label to `task_id`.
pub fn answer(task_id: i64, label: &str) -> AnswerPush {
    answer_push(task_id, &[label])
}

/// A requester "rita" and a project of `n` sample tasks at `overlap`.
pub async fn project_with_tasks(server: &TestServer, overlap: u32, n: usize) -> (ApiClient, i64) {
    let (requester, _) = server.user(Role::Requester, "rita").await;
    let project = project_with(&requester, schema(overlap), &[&sample_jsonl(n)]).await;
    (requester, project)
}

/// A test project of `schema` holding each JSONL batch of `batches`, uploaded in turn.
pub async fn project_with(requester: &ApiClient, schema: LabelSchema, batches: &[&str]) -> i64 {
    crate::project_with(requester, "test project", schema, batches).await
}
