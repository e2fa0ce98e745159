use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::NaiveDateTime;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{AuthError, SigningKey};
use crate::domain::{MemberId, OrganizationId, Scope, TokenId};

/// Every roster token starts with this, so secret scanners and people can recognise one.
pub const TOKEN_PREFIX: &str = "roster_";

const ISSUER: &str = "roster";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: String,
    /// The organization the token belongs to.
    pub sub: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Space-separated scopes.
    pub scope: String,
    /// The member the token acts as, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mbr: Option<String>,
}

/// A freshly signed token: the secret string (shown once) and what is stored about it.
#[derive(Debug)]
pub struct IssuedToken {
    pub id: TokenId,
    pub token: String,
    pub token_hash: String,
    pub expires_at: NaiveDateTime,
}

/// Signs and verifies tokens with one HMAC key. Only HS256 is accepted, so `alg: none` and
/// RS/HS confusion are refused by construction.
#[derive(Clone)]
pub struct TokenSigner {
    encoding: EncodingKey,
    decoding: DecodingKey,
    audience: String,
}

impl TokenSigner {
    pub fn new(key: &SigningKey, audience: impl Into<String>) -> Self {
        Self {
            encoding: EncodingKey::from_secret(key.as_bytes()),
            decoding: DecodingKey::from_secret(key.as_bytes()),
            audience: audience.into(),
        }
    }

    pub fn issue(
        &self,
        organization_id: OrganizationId,
        scopes: &[Scope],
        member_id: Option<MemberId>,
        issued_at: NaiveDateTime,
        ttl: chrono::Duration,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let id = TokenId::new();
        let expires_at = issued_at + ttl;
        let claims = Claims {
            iss: ISSUER.into(),
            aud: self.audience.clone(),
            sub: organization_id.to_string(),
            jti: id.to_string(),
            iat: issued_at.and_utc().timestamp(),
            exp: expires_at.and_utc().timestamp(),
            scope: Scope::join(scopes),
            mbr: member_id.map(|m| m.to_string()),
        };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        let token = format!("{TOKEN_PREFIX}{jwt}");
        Ok(IssuedToken {
            id,
            token_hash: hash_token(&token),
            token,
            expires_at,
        })
    }

    /// Checks signature, algorithm, issuer, audience and expiry. Says nothing about revocation:
    /// that needs the database (see [`super::authenticate`]).
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let jwt = token.strip_prefix(TOKEN_PREFIX).ok_or(AuthError::Malformed)?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[&self.audience]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                match e.kind() {
                    K::ExpiredSignature => AuthError::Expired,
                    K::InvalidAudience => AuthError::WrongAudience,
                    K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => AuthError::Malformed,
                    _ => AuthError::Invalid,
                }
            })
    }
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

/// A random secret for one-time links: 256 bits, base64url (43 characters).
pub fn random_secret() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 of the whole token string, base64url: what audit events and the token registry keep.
pub fn hash_token(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(aud: &str) -> TokenSigner {
        TokenSigner::new(&SigningKey::generate(), aud)
    }

    fn issue(s: &TokenSigner) -> IssuedToken {
        s.issue(
            OrganizationId::new(),
            &[Scope::Scim],
            None,
            crate::domain::now(),
            chrono::Duration::days(1),
        )
        .unwrap()
    }

    #[test]
    fn round_trip() {
        let s = signer("roster");
        let t = issue(&s);
        assert!(t.token.starts_with(TOKEN_PREFIX));
        let claims = s.verify(&t.token).unwrap();
        assert_eq!(claims.jti, t.id.to_string());
        assert_eq!(claims.scope, "scim");
    }

    #[test]
    fn other_key_and_other_audience_are_refused() {
        let t = issue(&signer("roster"));
        assert!(matches!(signer("roster").verify(&t.token), Err(AuthError::Invalid)));
        let s = signer("roster");
        let t = issue(&s);
        let other_aud = TokenSigner {
            audience: "elsewhere".into(),
            ..s.clone()
        };
        assert!(matches!(other_aud.verify(&t.token), Err(AuthError::WrongAudience)));
    }

    #[test]
    fn alg_none_is_refused() {
        let s = signer("roster");
        let t = issue(&s);
        let jwt = t.token.strip_prefix(TOKEN_PREFIX).unwrap();
        let payload = jwt.split('.').nth(1).unwrap();
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        for forged in [
            format!("{TOKEN_PREFIX}{header}.{payload}."),
            format!("{TOKEN_PREFIX}{header}.{payload}"),
        ] {
            assert!(s.verify(&forged).is_err());
        }
        // HS512 over the same key is another algorithm: refused too.
        let claims = s.verify(&t.token).unwrap();
        let hs512 = jsonwebtoken::encode(&Header::new(Algorithm::HS512), &claims, &s.encoding).unwrap();
        assert!(s.verify(&format!("{TOKEN_PREFIX}{hs512}")).is_err());
    }

    #[test]
    fn expired_and_unprefixed_are_refused() {
        let s = signer("roster");
        let old = crate::domain::now() - chrono::Duration::days(3);
        let t = s
            .issue(
                OrganizationId::new(),
                &[Scope::Scim],
                None,
                old,
                chrono::Duration::days(1),
            )
            .unwrap();
        assert!(matches!(s.verify(&t.token), Err(AuthError::Expired)));
        let fresh = issue(&s);
        assert!(matches!(
            s.verify(fresh.token.trim_start_matches(TOKEN_PREFIX)),
            Err(AuthError::Malformed)
        ));
    }
}
