//! The OpenAPI document of the HTTP API, generated from the handlers' annotations and the
//! wire types, served at `/api/openapi.json`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::handlers;

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
        handlers::upload_batch,
        handlers::list_batches,
        handlers::update_batch,
        handlers::lease_tasks,
        handlers::cancel_tasks,
        handlers::get_status,
        handlers::get_review_queue,
        handlers::post_review,
        handlers::refit_consensus,
        handlers::get_annotators,
        handlers::get_stats,
        handlers::add_member,
        handlers::get_members,
        handlers::export_project,
        handlers::push_answers,
        handlers::list_changes,
        handlers::get_metrics,
    ),
    modifiers(&BearerAuth),
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
