//! Users, tokens and project memberships on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use tessera_api::{Member, ProjectRole, Role, TokenInfo};

use super::*;
use crate::store::PeopleStore;
use crate::store::{
    StoreError, StoreResult, User, creator_only, last_admin, last_requester, no_such_user,
    not_a_member, project_role, role_of,
};

#[async_trait]
impl PeopleStore for PostgresStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        let c = self.pool.get().await?;
        let n: i64 = c
            .cached_query_one("SELECT COUNT(*) FROM users WHERE role = 'admin'", &[])
            .await?
            .get(0);
        Ok(n as u64)
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let c = self.pool.get().await?;
        let row = c
            .cached_query_one(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
                &[&name, &role.as_str(), &token_hash, &now],
            )
            .await?;
        Ok(User {
            id: row.try_get(0)?,
            name: name.to_owned(),
            role,
        })
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let c = self.pool.get().await?;
        let row = c
            .cached_query_opt(
                "SELECT id, name, role FROM users WHERE token_hash = $1 AND revoked_at IS NULL",
                &[&token_hash],
            )
            .await?;
        row.map(|r| {
            Ok(User {
                id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: role_of(r.try_get(2)?)?,
            })
        })
        .transpose()
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        let c = self.pool.get().await?;
        c.query(
            &format!("SELECT {TOKEN_COLUMNS} FROM users u ORDER BY id"),
            &[],
        )
        .await?
        .iter()
        .map(token_info)
        .collect()
    }

    async fn touch_user(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.cached_execute(
            "UPDATE users SET last_used_at = $2 WHERE id = $1",
            &[&id, &now],
        )
        .await?;
        Ok(())
    }

    async fn confine_user(&self, user_id: i64) -> StoreResult<()> {
        let c = self.pool.get().await?;
        c.execute(
            "UPDATE users SET confined = TRUE WHERE id = $1",
            &[&user_id],
        )
        .await?;
        Ok(())
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo> {
        let mut c = self.pool.get().await?;
        let tx = c.transaction().await?;
        // Admins revoking each other at once: one at a time, so one always remains.
        tx.execute("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE", &[])
            .await?;
        let role: Option<String> = tx
            .query_opt(
                "SELECT role FROM users WHERE id = $1 AND revoked_at IS NULL",
                &[&id],
            )
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if role.as_deref() == Some("admin") {
            let admins: i64 = tx
                .query_one(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND revoked_at IS NULL",
                    &[],
                )
                .await?
                .try_get(0)?;
            if admins <= 1 {
                return Err(last_admin());
            }
        }
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE users u SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1
                     RETURNING {TOKEN_COLUMNS}"
                ),
                &[&id, &now],
            )
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("user {id}")))?;
        let info = token_info(&row)?;
        tx.commit().await?;
        Ok(info)
    }

    async fn add_member(
        &self,
        project_id: i64,
        user_id: i64,
        name: Option<String>,
        role: ProjectRole,
        by: Option<i64>,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        let known: bool = c
            .cached_query_one(
                "SELECT EXISTS(SELECT 1 FROM users WHERE id = $1 AND ($2::TEXT IS NULL OR name = $2))",
                &[&user_id, &name],
            )
            .await?
            .try_get(0)?;
        if !known {
            return Err(no_such_user(user_id, name.as_deref()));
        }
        let mut c = c;
        let tx = c.transaction().await?;
        let creator = lock_for_membership(&tx, project_id).await?;
        if creator == Some(user_id) && by != Some(user_id) && role != ProjectRole::Requester {
            return Err(creator_only(project_id));
        }
        let was_requester: bool = tx
            .query_one(
                "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = $1 AND user_id = $2 AND role = 'requester')",
                &[&project_id, &user_id],
            )
            .await?
            .try_get(0)?;
        tx.execute(
            "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (project_id, user_id) DO UPDATE SET role = $3",
            &[&project_id, &user_id, &role.as_str(), &now],
        )
        .await?;
        if was_requester && requesters(&tx, project_id).await? == 0 {
            return Err(last_requester(project_id)); // dropping the transaction undoes it
        }
        tx.commit().await?;
        Ok(())
    }

    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()> {
        let mut c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        let tx = c.transaction().await?;
        let creator = lock_for_membership(&tx, project_id).await?;
        if creator == Some(user_id) && by != Some(user_id) {
            return Err(creator_only(project_id));
        }
        let Some(row) = tx
            .query_opt(
                "DELETE FROM memberships WHERE project_id = $1 AND user_id = $2 RETURNING role",
                &[&project_id, &user_id],
            )
            .await?
        else {
            return Err(not_a_member(project_id, user_id));
        };
        let role: String = row.try_get(0)?;
        if role == "requester" && requesters(&tx, project_id).await? == 0 {
            return Err(last_requester(project_id)); // dropping the transaction undoes it
        }
        tx.commit().await?;
        Ok(())
    }

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>> {
        let c = self.pool.get().await?;
        self.project_in(&c, project_id).await?;
        c.cached_query(
            "SELECT m.user_id, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.project_id = $1 ORDER BY m.user_id",
            &[&project_id],
        )
        .await?
        .iter()
        .map(|r| {
            Ok(Member {
                user_id: r.try_get(0)?,
                name: r.try_get(1)?,
                role: project_role(r.try_get(2)?)?,
            })
        })
        .collect()
    }

    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)> {
        let c = self.pool.get().await?;
        let row = c
            .cached_query_one(
                "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = $1 AND role <> 'requester')
                          OR EXISTS(SELECT 1 FROM users WHERE id = $2 AND confined),
                        (SELECT role FROM memberships WHERE project_id = $1 AND user_id = $2)",
                &[&project_id, &user_id],
            )
            .await?;
        let role: Option<&str> = row.try_get(1)?;
        Ok((row.try_get(0)?, role.map(project_role).transpose()?))
    }
}

/// A `users` row (id, name, role, created_at, revoked_at) as the admin's token list shows it.
/// What [`token_info`] reads, from `users u`.
const TOKEN_COLUMNS: &str = "u.id, u.name, u.role, u.created_at, u.revoked_at, u.last_used_at,
     ARRAY(SELECT project_id FROM memberships m WHERE m.user_id = u.id ORDER BY project_id),
     u.confined";

fn token_info(r: &tokio_postgres::Row) -> StoreResult<TokenInfo> {
    Ok(TokenInfo {
        last_used_at: r.try_get(5)?,
        projects: r.try_get(6)?,
        invited: r.try_get(7)?,
        user_id: r.try_get(0)?,
        name: r.try_get(1)?,
        role: role_of(r.try_get(2)?)?,
        created_at: r.try_get(3)?,
        revoked_at: r.try_get(4)?,
    })
}

/// Locks project `project_id` for a membership change — one at a time, so two requesters
/// stepping down at once cannot leave it with none — and returns its creator.
async fn lock_for_membership(
    tx: &deadpool_postgres::Transaction<'_>,
    project_id: i64,
) -> StoreResult<Option<i64>> {
    Ok(tx
        .query_one(
            "SELECT created_by FROM projects WHERE id = $1 FOR UPDATE",
            &[&project_id],
        )
        .await?
        .try_get(0)?)
}

/// How many requesters the project has.
async fn requesters(tx: &deadpool_postgres::Transaction<'_>, project_id: i64) -> StoreResult<i64> {
    Ok(tx
        .query_one(
            "SELECT COUNT(*) FROM memberships WHERE project_id = $1 AND role = 'requester'",
            &[&project_id],
        )
        .await?
        .try_get(0)?)
}
