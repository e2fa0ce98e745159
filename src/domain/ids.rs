//! Typed identifiers. All are UUIDs on the wire and TEXT in the database; v7 (time-ordered) for new
//! rows so that ordering by id is ordering by creation.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(value: Uuid) -> Self {
                Self(value)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s.trim()).map(Self)
            }
        }
    };
}

uuid_id!(
    /// An organization (the seeds' team, account or tenant).
    OrganizationId
);
uuid_id!(
    /// A member: one person in one organization (seed 000's `member_id`).
    MemberId
);
uuid_id!(
    /// A registered person (seed 000's `user_id`), shared by their memberships.
    UserId
);
uuid_id!(
    /// A group of members.
    GroupId
);
uuid_id!(
    /// An invitation sent to a pending member.
    InvitationId
);
uuid_id!(
    /// An issued bearer token (its JWT `jti`).
    TokenId
);
