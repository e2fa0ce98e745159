//! Members: identity values, roles and statuses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::InvalidValue;

/// The native roles of seed 000, in rank order (lowest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Viewer,
    Market,
    Checker,
    NonTransactionalAdmin,
    Administrator,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Viewer,
        Role::Market,
        Role::Checker,
        Role::NonTransactionalAdmin,
        Role::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Market => "MARKET",
            Role::Checker => "CHECKER",
            Role::NonTransactionalAdmin => "NON_TRANSACTIONAL_ADMIN",
            Role::Administrator => "ADMINISTRATOR",
        }
    }

    /// Administrators of either kind manage the team.
    pub fn is_admin(self) -> bool {
        matches!(self, Role::NonTransactionalAdmin | Role::Administrator)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                InvalidValue::new(
                    "role",
                    format!(
                        "unknown role {s:?}; expected one of VIEWER, MARKET, CHECKER, NON_TRANSACTIONAL_ADMIN, ADMINISTRATOR"
                    ),
                )
            })
    }
}

/// A member's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MemberStatus {
    /// Invited, not yet registered.
    Pending,
    Active,
    /// Deactivated.
    Inactive,
    /// Temporarily suspended (seed 001).
    Suspended,
    /// Blocked for security reasons (seed 001).
    Blocked,
}

impl MemberStatus {
    pub const ALL: [MemberStatus; 5] = [
        MemberStatus::Pending,
        MemberStatus::Active,
        MemberStatus::Inactive,
        MemberStatus::Suspended,
        MemberStatus::Blocked,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Pending => "PENDING",
            MemberStatus::Active => "ACTIVE",
            MemberStatus::Inactive => "INACTIVE",
            MemberStatus::Suspended => "SUSPENDED",
            MemberStatus::Blocked => "BLOCKED",
        }
    }

    /// What SCIM's `active` reads: true while invited or active, so an IdP never fights the
    /// invitation state.
    pub fn scim_active(self) -> bool {
        matches!(self, MemberStatus::Pending | MemberStatus::Active)
    }
}

impl fmt::Display for MemberStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for MemberStatus {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MemberStatus::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                InvalidValue::new(
                    "status",
                    format!("unknown status {s:?}; expected one of PENDING, ACTIVE, INACTIVE, SUSPENDED, BLOCKED"),
                )
            })
    }
}

/// An e-mail address: trimmed, one `@`, a dotted domain, no spaces. Comparison is
/// case-insensitive through [`Email::key`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        let invalid = |why: &str| InvalidValue::new("email", format!("{value:?} is not a valid e-mail address: {why}"));
        if value.is_empty() {
            return Err(InvalidValue::new("email", "must not be empty"));
        }
        if value.len() > 254 {
            return Err(invalid("longer than 254 characters"));
        }
        if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("contains white space"));
        }
        let (local, domain) = value.rsplit_once('@').ok_or_else(|| invalid("no '@'"))?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(invalid("bad local part"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels.iter().any(|l| {
                l.is_empty()
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.chars().all(|c| c.is_alphanumeric() || c == '-')
            })
        {
            return Err(invalid("bad domain"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form used for uniqueness and lookups.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A phone number in E.164: `+`, a non-zero digit, at most 15 digits in all. Common separators
/// (spaces, dashes, dots, parentheses) are removed first.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let compact: String = raw
            .trim()
            .chars()
            .filter(|c| !matches!(c, ' ' | '-' | '.' | '(' | ')' | '\u{a0}'))
            .collect();
        let digits = compact.strip_prefix('+').ok_or_else(|| {
            InvalidValue::new(
                "phone_number",
                format!("{raw:?} is not an E.164 number: it must start with '+' and the country code"),
            )
        })?;
        let valid =
            (2..=15).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit()) && !digits.starts_with('0');
        if !valid {
            return Err(InvalidValue::new(
                "phone_number",
                format!("{raw:?} is not an E.164 number ('+', country code, at most 15 digits)"),
            ));
        }
        Ok(Self(compact))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// SCIM `userName`: unique per organization, compared case-insensitively (RFC 7643 `caseExact: false`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct UserName(String);

impl UserName {
    pub const MAX_LEN: usize = 256;

    pub fn parse(raw: &str) -> Result<Self, InvalidValue> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(InvalidValue::new("userName", "must not be empty"));
        }
        if value.chars().count() > Self::MAX_LEN {
            return Err(InvalidValue::new(
                "userName",
                format!("longer than {} characters", Self::MAX_LEN),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(InvalidValue::new("userName", "contains control characters"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-folded form the unique index is built on.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl From<&Email> for UserName {
    fn from(email: &Email) -> Self {
        Self(email.as_str().to_owned())
    }
}

impl fmt::Display for UserName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_rank_in_seed_order() {
        assert!(Role::Viewer < Role::Market);
        assert!(Role::Checker < Role::NonTransactionalAdmin);
        assert!(Role::NonTransactionalAdmin < Role::Administrator);
        assert_eq!(
            "non_transactional_admin".parse::<Role>().unwrap(),
            Role::NonTransactionalAdmin
        );
        assert!("OWNER".parse::<Role>().is_err());
    }

    #[test]
    fn status_round_trips_and_maps_to_scim_active() {
        for s in MemberStatus::ALL {
            assert_eq!(s.as_str().parse::<MemberStatus>().unwrap(), s);
        }
        assert!(MemberStatus::Pending.scim_active());
        assert!(!MemberStatus::Blocked.scim_active());
    }

    #[test]
    fn email_is_checked_and_folded() {
        let e = Email::parse("  Alice.Smith@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "Alice.Smith@Example.COM");
        assert_eq!(e.key(), "alice.smith@example.com");
        for bad in [
            "",
            "alice",
            "alice@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@-x.com",
            "a@x..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn phone_is_e164() {
        assert_eq!(
            PhoneNumber::parse("+33 6 71 91 58 34").unwrap().as_str(),
            "+33671915834"
        );
        assert_eq!(
            PhoneNumber::parse("+1 (222) 222-2222").unwrap().as_str(),
            "+12222222222"
        );
        for bad in ["0671915834", "+0123", "+1", "+1234567890123456", "+33abc", ""] {
            assert!(PhoneNumber::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn user_name_key_is_case_folded() {
        let u = UserName::parse("ALICE@x.com").unwrap();
        assert_eq!(u.key(), "alice@x.com");
        assert!(UserName::parse("   ").is_err());
    }
}
