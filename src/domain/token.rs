//! What a bearer token may do.

use std::fmt;
use std::str::FromStr;

use super::InvalidValue;

/// A permission carried by a token. `scim` opens the SCIM door; the others the native API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    Scim,
    TeamRead,
    TeamWrite,
    AuditRead,
    OrgAdmin,
    /// Read the change-events feed.
    EventsRead,
    /// Record the product's own events in the audit log.
    AuditWrite,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::Scim,
        Scope::TeamRead,
        Scope::TeamWrite,
        Scope::AuditRead,
        Scope::OrgAdmin,
        Scope::EventsRead,
        Scope::AuditWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Scim => "scim",
            Scope::TeamRead => "team:read",
            Scope::TeamWrite => "team:write",
            Scope::AuditRead => "audit:read",
            Scope::OrgAdmin => "org:admin",
            Scope::EventsRead => "events:read",
            Scope::AuditWrite => "audit:write",
        }
    }

    /// Parses a space-separated scope list (the OAuth `scope` form), rejecting unknown scopes.
    pub fn parse_list(raw: &str) -> Result<Vec<Scope>, InvalidValue> {
        let mut scopes: Vec<Scope> = raw.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
        scopes.sort();
        scopes.dedup();
        Ok(scopes)
    }

    pub fn join(scopes: &[Scope]) -> String {
        scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" ")
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = InvalidValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL.into_iter().find(|v| v.as_str() == s.trim()).ok_or_else(|| {
            InvalidValue::new(
                "scope",
                format!("unknown scope {s:?}; expected one of scim, team:read, team:write, audit:read, org:admin, events:read, audit:write"),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_lists_parse_sorted_and_deduplicated() {
        let scopes = Scope::parse_list("team:write scim  team:write").unwrap();
        assert_eq!(scopes, vec![Scope::Scim, Scope::TeamWrite]);
        assert_eq!(Scope::join(&scopes), "scim team:write");
        assert!(Scope::parse_list("scim admin").is_err());
    }
}
