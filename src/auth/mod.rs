//! Bearer tokens: server-signed JWTs (HS256) whose `jti` is registered in `api_tokens`, so that a
//! token can be listed and revoked. The token itself is never stored: only its SHA-256.

mod keys;
mod principal;
mod tokens;

pub use keys::{SigningKey, load_or_create_signing_key, write_private_file};
pub use principal::{Principal, VerifiedToken, authenticate, authenticate_verified};
pub use tokens::{Claims, IssuedToken, TOKEN_PREFIX, TokenSigner, hash_token, random_secret};

/// Why a request was not authenticated. Every variant is a 401; the message is safe to show.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("malformed bearer token")]
    Malformed,
    #[error("invalid token")]
    Invalid,
    #[error("token expired")]
    Expired,
    #[error("token revoked")]
    Revoked,
    #[error("token not valid for this service")]
    WrongAudience,
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
}
