//! Domain types and rules. No SQL and no HTTP here: values are parsed once at the edge into these
//! types, and the storage and service layers only ever see them.

pub mod audit;
pub mod email;
pub mod events;
pub mod ids;
pub mod invitation;
pub mod member;
pub mod permissions;
pub mod provisioning;
pub mod query;
pub mod team;
pub mod token;

pub use ids::{GroupId, InvitationId, MemberId, OrganizationId, TokenId, UserId};
pub use member::{Email, MemberStatus, PhoneNumber, Role, UserName};
pub use permissions::{Actor, Permission};
pub use team::{Member, MemberKind};
pub use token::Scope;

/// A value that failed to parse into a domain type: the field it came from and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct InvalidValue {
    pub field: &'static str,
    pub message: String,
}

impl InvalidValue {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// The current time, truncated to microseconds so that SQLite and PostgreSQL store and return the
/// same value.
pub fn now() -> chrono::NaiveDateTime {
    use chrono::SubsecRound;
    chrono::Utc::now().naive_utc().trunc_subsecs(6)
}
