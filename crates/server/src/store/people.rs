//! People: users and their tokens, and project memberships.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tessera_api::{Member, ProjectRole, Role, TokenInfo};

use super::*;

/// Users, their tokens and who belongs to which project.
#[async_trait]
pub trait PeopleStore: Send + Sync {
    async fn count_admins(&self) -> StoreResult<u64>;

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User>;

    /// Confines a user to the projects they are members of (an invited person): projects open
    /// to every annotator are closed to them.
    async fn confine_user(&self, user_id: i64) -> StoreResult<()>;

    /// The holder of an unrevoked token.
    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>>;

    /// Every token holder, oldest first.
    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>>;

    /// Notes that user `id`'s token signed in at `now`.
    async fn touch_user(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()>;

    /// Revokes user `id`'s token (again is a no-op); `NotFound` for no such user, `Conflict`
    /// for the last admin with a working token.
    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo>;

    /// Gives `user_id` `role` in the project (replacing an earlier role), as user `by` (`None`
    /// for an admin). Refused (`Conflict`) when it would leave the project with no requester,
    /// or take the project's creator off its requesters when `by` is someone else.
    /// `name`, when given, must be the user's: a wrong one is `NotFound` like a wrong id.
    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        name: Option<String>,
        role: ProjectRole,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()>;

    /// Takes user `user_id` out of the project, as user `by` (`None` for an admin). Refused
    /// (`Conflict`) when it would leave the project with no requester, or take its creator
    /// out when `by` is someone else; `NotFound` when they are not a member.
    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()>;

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>>;

    /// Whether the project has annotator or reviewer members (is closed to other
    /// annotators), and the user's role in it.
    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)>;
}

/// A token holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// A user's role as stored.
pub(crate) fn role_of(s: &str) -> StoreResult<Role> {
    Role::parse(s).ok_or_else(|| StoreError::Backend(format!("unknown role {s:?} in database")))
}

/// A project membership's role as stored.
pub(crate) fn project_role(s: &str) -> StoreResult<ProjectRole> {
    ProjectRole::parse(s)
        .ok_or_else(|| StoreError::Backend(format!("unknown project role {s:?} in database")))
}

/// Revoking the last working admin token would leave no one able to make tokens.
pub(crate) fn last_admin() -> StoreError {
    StoreError::Conflict(
        "this is the last admin token that works: make another admin first".to_owned(),
    )
}

/// A membership change that would leave a project with no requester to run it.
pub(crate) fn last_requester(project_id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "this would leave project {project_id} with no requester: add another requester first"
    ))
}

/// The user is not a member of the project.
pub(crate) fn not_a_member(project_id: i64, user_id: i64) -> StoreError {
    StoreError::NotFound(format!("a member {user_id} of project {project_id}"))
}

/// No user of that id, or not of that name: the same words either way, so a wrong name tells
/// nothing about the id.
pub(crate) fn no_such_user(id: i64, name: Option<&str>) -> StoreError {
    match name {
        Some(name) => StoreError::NotFound(format!("a user {id} named {name:?}")),
        None => StoreError::NotFound(format!("user {id}")),
    }
}

/// A co-requester changing the role of the project's creator.
pub(crate) fn creator_only(project_id: i64) -> StoreError {
    StoreError::Conflict(format!(
        "only the creator of project {project_id} (or an admin) can change the creator's role"
    ))
}
