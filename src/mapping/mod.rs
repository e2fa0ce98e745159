//! SCIM resources to domain commands and domain state back to SCIM. No SQL and no HTTP here.

pub mod agent;
pub mod filter;
pub mod group;
pub mod lifecycle;
pub mod user;

/// A resource's ETag (RFC 7644 §3.14): weak, from its version counter.
pub fn etag(version: i64) -> String {
    format!("W/\"{version}\"")
}

/// Whether an `If-Match` header value allows a change to a resource at `version`.
pub fn if_match_allows(header: &str, version: i64) -> bool {
    let current = etag(version);
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == current || tag.trim_start_matches("W/") == current.trim_start_matches("W/"))
}

/// Timestamps in SCIM: RFC 3339 in UTC.
pub fn scim_time(t: chrono::NaiveDateTime) -> String {
    t.and_utc().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    #[test]
    fn etags_compare_weakly() {
        assert_eq!(super::etag(3), "W/\"3\"");
        assert!(super::if_match_allows("W/\"3\"", 3));
        assert!(super::if_match_allows("\"3\"", 3));
        assert!(super::if_match_allows("W/\"1\", W/\"3\"", 3));
        assert!(super::if_match_allows("*", 9));
        assert!(!super::if_match_allows("W/\"2\"", 3));
    }
}
