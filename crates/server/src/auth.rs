//! Bearer-token authentication. Tokens are 256 random bits shown once; the server stores only
//! their SHA-256, looked up by an indexed equality match, so no secret is ever compared in
//! user code (and a leaked database does not leak usable tokens).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use rand::RngCore;
use sha2::{Digest, Sha256};
use tessera_api::Role;

use crate::AppState;
use crate::error::ApiError;
use crate::store::User;

const TOKEN_PREFIX: &str = "tsr_";

/// A new random token: `tsr_` + 64 hex digits.
pub fn generate_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let mut token = String::with_capacity(TOKEN_PREFIX.len() + 64);
    token.push_str(TOKEN_PREFIX);
    for b in bytes {
        token.push_str(&format!("{b:02x}"));
    }
    token
}

pub fn hash_token(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Recently seen token hashes and their users, so that a busy annotator's every request does
/// not wait for the database to say who it is. Entries live a minute; only known tokens are
/// kept, and the map is emptied when it grows past a bound.
#[derive(Default)]
pub struct TokenCache {
    seen: std::sync::Mutex<std::collections::HashMap<String, (User, std::time::Instant)>>,
}

impl TokenCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(60);
    const MAX_ENTRIES: usize = 100_000;

    fn get(&self, hash: &str) -> Option<User> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.get(hash)
            .filter(|(_, at)| at.elapsed() < Self::TTL)
            .map(|(user, _)| user.clone())
    }

    /// Drops what is cached of user `id` (their token was revoked).
    pub fn forget_user(&self, id: i64) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, (user, _)| user.id != id);
    }

    fn put(&self, hash: String, user: User) {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= Self::MAX_ENTRIES {
            seen.clear();
        }
        seen.insert(hash, (user, std::time::Instant::now()));
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub User);

impl Caller {
    /// Passes when the caller has one of `roles` (admins pass everywhere).
    pub fn require(&self, roles: &[Role]) -> Result<&User, ApiError> {
        if self.0.role == Role::Admin || roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            let wanted: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
            Err(ApiError::Forbidden(format!(
                "this needs the {} role; your token is a {} token",
                wanted.join(" or "),
                self.0.role.as_str()
            )))
        }
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::Unauthenticated)?;
        let token = header
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or(ApiError::Unauthenticated)?;
        let hash = hash_token(token);
        if let Some(user) = state.tokens.get(&hash) {
            return Ok(Caller(user));
        }
        let user = state
            .store
            .user_by_token_hash(&hash)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        state.tokens.put(hash, user.clone());
        // Last use, to within the cache's minute; a sign-in never waits for it.
        let (touched, id, now) = (Arc::clone(state), user.id, state.clock.now());
        tokio::spawn(async move {
            if let Err(e) = touched.store.touch_user(id, now).await {
                tracing::warn!(user_id = id, error = %e, "could not note a token's last use");
            }
        });
        Ok(Caller(user))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
