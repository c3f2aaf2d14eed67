//! The OpenAPI document of the HTTP API, generated from the handlers' annotations and the
//! wire types, served at `/api/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{handlers, transfer};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera queue server",
        description = "Leases, offline-first answer sync, consensus, review and gold for crowdsourced labeling. \
                       Every request but /api/health and /metrics carries `Authorization: Bearer <token>`; \
                       every error is a JSON ErrorBody with a stable `code`."
    ),
    paths(
        handlers::health,
        handlers::get_me,
        handlers::create_token,
        handlers::list_tokens,
        handlers::revoke_token,
        handlers::create_project,
        handlers::list_projects,
        handlers::get_project,
        handlers::update_project,
        handlers::archive_project,
        handlers::restore_project,
        handlers::delete_project,
        transfer::upload_batch,
        transfer::import_answers,
        handlers::list_batches,
        handlers::update_batch,
        handlers::lease_tasks,
        handlers::cancel_tasks,
        handlers::get_status,
        handlers::get_review_queue,
        handlers::post_review,
        handlers::refit_consensus,
        handlers::get_annotators,
        handlers::unsuspend,
        handlers::list_tasks,
        handlers::get_task,
        handlers::review_tasks,
        handlers::prioritize_tasks,
        handlers::get_stats,
        handlers::add_member,
        handlers::get_members,
        handlers::invite,
        handlers::remove_member,
        transfer::export_project,
        handlers::push_answers,
        handlers::list_changes,
        handlers::create_webhook,
        handlers::list_webhooks,
        handlers::delete_webhook,
        handlers::list_deliveries,
        handlers::create_ml_backend,
        handlers::list_ml_backends,
        handlers::delete_ml_backend,
        handlers::train_ml_backend,
        handlers::get_metrics,
    ),
    components(schemas(tessera_api::TaskOrder, tessera_api::TaskStatus)),
    modifiers(&BearerAuth, &ErrorResponses),
    security(("bearer" = []))
)]
pub struct ApiDoc;

/// Declares the bearer-token scheme the API uses.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// States the error statuses every operation can answer with, where its own annotation did
/// not: they come from the shared extractors and error mapping, not from the handler (a path
/// id that is not a number, a token that is missing or not allowed, a project that does not
/// exist, a body that is not JSON, too large or of the wrong type, a failure inside).
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let open = path == "/api/health" || path == "/metrics" || path == "/api/openapi.json";
            let with_path_params = path.contains('{');
            let operations = [
                (&mut item.get, false),
                (&mut item.delete, false),
                (&mut item.post, true),
                (&mut item.patch, true),
                (&mut item.put, true),
            ];
            for (operation, has_body) in operations {
                let Some(operation) = operation.as_mut() else {
                    continue;
                };
                let responses = &mut operation.responses.responses;
                let mut add = |code: &str, what: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| error(what).into());
                };
                add("500", "a failure inside the server");
                if open {
                    continue;
                }
                add(
                    "400",
                    "bad request: a parameter or body that does not parse",
                );
                add("401", "no token, or an unknown or revoked one");
                add(
                    "403",
                    "the token's role, or its membership, may not do this",
                );
                if with_path_params {
                    add("404", "no such project (or other item in the path)");
                }
                if has_body {
                    add("413", "the body is over the size limit");
                    add(
                        "415",
                        "the body is not of the media type the operation takes",
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The limits the document states are the ones the handlers enforce.
    #[test]
    fn documented_limits_are_the_enforced_ones() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("document");
        let schemas = &doc["components"]["schemas"];
        assert_eq!(
            schemas["LeaseRequest"]["properties"]["limit"]["maximum"],
            handlers::MAX_LEASE_LIMIT
        );
        assert_eq!(
            schemas["PushAnswersRequest"]["properties"]["answers"]["maxItems"],
            handlers::MAX_PUSH_ANSWERS
        );
        // Every operation but the open ones states the shared error statuses.
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for (method, operation) in item.as_object().expect("operations") {
                let responses = &operation["responses"];
                assert!(responses.get("500").is_some(), "{method} {path}");
                if path != "/api/health" && path != "/metrics" {
                    for code in ["400", "401", "403"] {
                        assert!(responses.get(code).is_some(), "{method} {path} {code}");
                    }
                }
            }
        }
    }
}
