//! Users, tokens and project memberships on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};
use tessera_api::{Member, ProjectRole, Role, TokenInfo};

use super::*;
use crate::store::PeopleStore;
use crate::store::{
    StoreError, StoreResult, User, creator_only, last_admin, last_requester, no_such_user,
    not_a_member, parse_ts, project_role, role_of, ts,
};

#[async_trait]
impl PeopleStore for SqliteStore {
    async fn count_admins(&self) -> StoreResult<u64> {
        self.read(|c| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM users WHERE role = 'admin'")?
                .query_row([], |r| r.get(0))?;
            Ok(n as u64)
        })
        .await
    }

    async fn create_user(
        &self,
        name: &str,
        role: Role,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<User> {
        let (name, hash) = (name.to_owned(), token_hash.to_owned());
        self.write(move |c| {
            c.prepare_cached(
                "INSERT INTO users (name, role, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, role.as_str(), hash, ts(now)])?;
            Ok(User {
                id: c.last_insert_rowid(),
                name,
                role,
            })
        })
        .await
    }

    async fn user_by_token_hash(&self, token_hash: &str) -> StoreResult<Option<User>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            let row = c
                .query_row(
                    "SELECT id, name, role FROM users WHERE token_hash = ?1 AND revoked_at IS NULL",
                    [hash],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?)),
                )
                .optional()?;
            row.map(|(id, name, role)| {
                Ok(User {
                    id,
                    name,
                    role: role_of(&role)?,
                })
            })
            .transpose()
        })
        .await
    }

    async fn tokens(&self) -> StoreResult<Vec<TokenInfo>> {
        self.read(|c| {
            let mut stmt =
                c.prepare(&format!("SELECT {TOKEN_COLUMNS} FROM users u ORDER BY id"))?;
            let mut rows = stmt.query([])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                out.push(token_info(r)?);
            }
            Ok(out)
        })
        .await
    }

    async fn touch_user(&self, id: i64, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |c| {
            c.prepare_cached("UPDATE users SET last_used_at = ?2 WHERE id = ?1")?
                .execute(params![id, ts(now)])?;
            Ok(())
        })
        .await
    }

    async fn confine_user(&self, user_id: i64) -> StoreResult<()> {
        self.write(move |c| {
            c.execute("UPDATE users SET confined = 1 WHERE id = ?1", [user_id])?;
            Ok(())
        })
        .await
    }

    async fn revoke_token(&self, id: i64, now: DateTime<Utc>) -> StoreResult<TokenInfo> {
        self.write(move |c| {
            let tx = c.savepoint()?;
            let role: Option<String> = tx
                .query_row(
                    "SELECT role FROM users WHERE id = ?1 AND revoked_at IS NULL",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            if role.as_deref() == Some("admin") {
                let admins: i64 = tx.query_row(
                    "SELECT COUNT(*) FROM users WHERE role = 'admin' AND revoked_at IS NULL",
                    [],
                    |r| r.get(0),
                )?;
                if admins <= 1 {
                    return Err(last_admin());
                }
            }
            tx.execute(
                "UPDATE users SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
                params![id, ts(now)],
            )?;
            let info = tx
                .query_row(
                    &format!("SELECT {TOKEN_COLUMNS} FROM users u WHERE id = ?1"),
                    [id],
                    |r| Ok(token_info(r)),
                )
                .optional()?
                .ok_or_else(|| StoreError::NotFound(format!("user {id}")))??;
            tx.commit()?;
            Ok(info)
        })
        .await
    }

    async fn remove_member(
        &self,
        project_id: i64,
        user_id: i64,
        by: Option<i64>,
    ) -> StoreResult<()> {
        self.write(move |c| {
            let c = c.savepoint()?;
            project_row(&c, project_id)?;
            let creator = creator_of(&c, project_id)?;
            if creator == Some(user_id) && by != Some(user_id) {
                return Err(creator_only(project_id));
            }
            let role: Option<String> = c
                .query_row(
                    "DELETE FROM memberships WHERE project_id = ?1 AND user_id = ?2 RETURNING role",
                    params![project_id, user_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(role) = role else {
                return Err(not_a_member(project_id, user_id));
            };
            let requesters = requesters(&c, project_id)?;
            if role == "requester" && requesters == 0 {
                return Err(last_requester(project_id)); // the savepoint rolls back unused
            }
            c.commit()?;
            Ok(())
        })
        .await
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
        self.write(move |c| {
            let c = c.savepoint()?;
            project_row(&c, project_id)?;
            let known: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?1 AND (?2 IS NULL OR name = ?2))",
                )?
                .query_row(params![user_id, name], |r| r.get(0))?;
            if !known {
                return Err(no_such_user(user_id, name.as_deref()));
            }
            let creator = creator_of(&c, project_id)?;
            if creator == Some(user_id) && by != Some(user_id) && role != ProjectRole::Requester {
                return Err(creator_only(project_id));
            }
            let was_requester: bool = c.query_row(
                "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = ?1 AND user_id = ?2 AND role = 'requester')",
                params![project_id, user_id],
                |r| r.get(0),
            )?;
            c.prepare_cached(
                "INSERT INTO memberships (project_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (project_id, user_id) DO UPDATE SET role = ?3",
            )?
            .execute(params![project_id, user_id, role.as_str(), ts(now)])?;
            let requesters = requesters(&c, project_id)?;
            if was_requester && requesters == 0 {
                return Err(last_requester(project_id)); // the savepoint rolls back unused
            }
            c.commit()?;
            Ok(())
        })
        .await
    }

    async fn members(&self, project_id: i64) -> StoreResult<Vec<Member>> {
        self.read(move |c| {
            project_row(c, project_id)?;
            let rows: Vec<(i64, String, String)> = c
                .prepare_cached(
                    "SELECT m.user_id, u.name, m.role FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.project_id = ?1 ORDER BY m.user_id",
                )?
                .query_map([project_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<Result<_, _>>()?;
            rows.into_iter()
                .map(|(user_id, name, role)| {
                    Ok(Member {
                        user_id,
                        name,
                        role: project_role(&role)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn membership(
        &self,
        project_id: i64,
        user_id: i64,
    ) -> StoreResult<(bool, Option<ProjectRole>)> {
        self.read(move |c| {
            let (closed, role): (bool, Option<String>) = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM memberships WHERE project_id = ?1 AND role <> 'requester')
                              OR EXISTS(SELECT 1 FROM users WHERE id = ?2 AND confined <> 0),
                            (SELECT role FROM memberships WHERE project_id = ?1 AND user_id = ?2)",
                )?
                .query_row(params![project_id, user_id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok((closed, role.as_deref().map(project_role).transpose()?))
        })
        .await
    }
}

/// The creator of project `project_id` (none for projects made before creators were kept).
fn creator_of(c: &Connection, project_id: i64) -> StoreResult<Option<i64>> {
    Ok(c.query_row(
        "SELECT created_by FROM projects WHERE id = ?1",
        [project_id],
        |r| r.get(0),
    )?)
}

/// How many requesters the project has.
fn requesters(c: &Connection, project_id: i64) -> StoreResult<i64> {
    Ok(c.query_row(
        "SELECT COUNT(*) FROM memberships WHERE project_id = ?1 AND role = 'requester'",
        [project_id],
        |r| r.get(0),
    )?)
}

/// A `users` row (id, name, role, created_at, revoked_at) as the admin's token list shows it.
/// What [`token_info`] reads, from `users u`.
const TOKEN_COLUMNS: &str = "u.id, u.name, u.role, u.created_at, u.revoked_at, u.last_used_at,
     (SELECT group_concat(project_id) FROM
         (SELECT project_id FROM memberships m WHERE m.user_id = u.id ORDER BY project_id)),
     u.confined";

fn token_info(r: &rusqlite::Row<'_>) -> StoreResult<TokenInfo> {
    let projects: Option<String> = r.get(6)?;
    Ok(TokenInfo {
        last_used_at: r
            .get::<_, Option<String>>(5)?
            .map(|t| parse_ts(&t))
            .transpose()?,
        projects: projects
            .iter()
            .flat_map(|p| p.split(','))
            .map(|p| {
                p.parse()
                    .map_err(|e| StoreError::Backend(format!("membership {p:?}: {e}")))
            })
            .collect::<StoreResult<_>>()?,
        invited: r.get(7)?,
        user_id: r.get(0)?,
        name: r.get(1)?,
        role: role_of(&r.get::<_, String>(2)?)?,
        created_at: parse_ts(&r.get::<_, String>(3)?)?,
        revoked_at: r
            .get::<_, Option<String>>(4)?
            .map(|t| parse_ts(&t))
            .transpose()?,
    })
}
