//! List and search parameters (RFC 7644 §3.4.2, §3.4.3), RFC 9865 cursors, and the ListResponse.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::error::{ScimError, ScimType};

pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    Ascending,
    Descending,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Paging {
    /// 1-based index paging.
    Index { start_index: i64 },
    /// RFC 9865: `None` is the first page.
    Cursor(Option<CursorPosition>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorPosition {
    After(String),
    Before(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListParams {
    pub filter: Option<String>,
    pub sort_by: Option<String>,
    pub sort_order: SortOrder,
    pub paging: Paging,
    pub count: i64,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// Page sizes.
#[derive(Debug, Clone, Copy)]
pub struct PageLimits {
    pub default: i64,
    pub max: i64,
}

fn bad(detail: impl Into<String>) -> ScimError {
    ScimError::bad_request(ScimType::InvalidValue, detail)
}

/// Cursor tokens are opaque to clients: base64url of a direction and an id.
pub fn encode_cursor(position: &CursorPosition) -> String {
    let raw = match position {
        CursorPosition::After(id) => format!("a:{id}"),
        CursorPosition::Before(id) => format!("b:{id}"),
    };
    URL_SAFE_NO_PAD.encode(raw)
}

pub fn decode_cursor(token: &str) -> Result<CursorPosition, ScimError> {
    let invalid = || ScimError::bad_request(ScimType::InvalidCursor, "the cursor is not valid");
    let raw = URL_SAFE_NO_PAD.decode(token.trim()).map_err(|_| invalid())?;
    let raw = String::from_utf8(raw).map_err(|_| invalid())?;
    let (kind, id) = raw.split_once(':').ok_or_else(invalid)?;
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(invalid());
    }
    match kind {
        "a" => Ok(CursorPosition::After(id.to_owned())),
        "b" => Ok(CursorPosition::Before(id.to_owned())),
        _ => Err(invalid()),
    }
}

/// Reads list parameters from query pairs or a SearchRequest body's fields (names matched
/// case-insensitively; numbers may be strings).
pub fn parse_params(get: impl Fn(&str) -> Option<Value>, limits: PageLimits) -> Result<ListParams, ScimError> {
    let text = |name: &str| -> Option<String> {
        match get(name)? {
            Value::String(s) => Some(s),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(items) => Some(items.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(",")),
            _ => None,
        }
    };
    let int = |name: &str| -> Result<Option<i64>, ScimError> {
        match text(name) {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => s
                .trim()
                .parse::<i64>()
                .map(Some)
                .map_err(|_| bad(format!("{name} must be an integer"))),
        }
    };
    let count = int("count")?.unwrap_or(limits.default).clamp(0, limits.max);
    let sort_order = match text("sortOrder").map(|s| s.to_ascii_lowercase()).as_deref() {
        None | Some("") | Some("ascending") | Some("asc") => SortOrder::Ascending,
        Some("descending") | Some("desc") => SortOrder::Descending,
        Some(other) => return Err(bad(format!("sortOrder {other:?}: expected ascending or descending"))),
    };
    let paging = match text("cursor") {
        Some(c) if c.trim().is_empty() => Paging::Cursor(None),
        Some(c) => Paging::Cursor(Some(decode_cursor(&c)?)),
        None => Paging::Index {
            start_index: int("startIndex")?.unwrap_or(1).max(1),
        },
    };
    Ok(ListParams {
        filter: text("filter").filter(|f| !f.trim().is_empty()),
        sort_by: text("sortBy").filter(|s| !s.trim().is_empty()),
        sort_order,
        paging,
        count,
        attributes: text("attributes"),
        excluded_attributes: text("excludedAttributes"),
    })
}

/// What a page needs beside its resources.
pub struct PageInfo {
    pub total: i64,
    pub start_index: Option<i64>,
    pub next_cursor: Option<String>,
    pub previous_cursor: Option<String>,
}

pub fn list_response(resources: Vec<Value>, page: PageInfo) -> Value {
    let mut out = Map::new();
    out.insert("schemas".into(), json!([LIST_RESPONSE_SCHEMA]));
    out.insert("totalResults".into(), json!(page.total));
    out.insert("itemsPerPage".into(), json!(resources.len()));
    if let Some(start) = page.start_index {
        out.insert("startIndex".into(), json!(start));
    }
    if let Some(next) = page.next_cursor {
        out.insert("nextCursor".into(), json!(next));
    }
    if let Some(previous) = page.previous_cursor {
        out.insert("previousCursor".into(), json!(previous));
    }
    out.insert("Resources".into(), Value::Array(resources));
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: PageLimits = PageLimits {
        default: 100,
        max: 1000,
    };

    fn params(pairs: &[(&str, &str)]) -> Result<ListParams, ScimError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        parse_params(
            |n| {
                pairs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(n))
                    .map(|(_, v)| Value::String(v.clone()))
            },
            LIMITS,
        )
    }

    #[test]
    fn index_paging_defaults_and_bounds() {
        let p = params(&[]).unwrap();
        assert_eq!((p.paging.clone(), p.count), (Paging::Index { start_index: 1 }, 100));
        let p = params(&[("startIndex", "0"), ("count", "5000")]).unwrap();
        assert_eq!((p.paging, p.count), (Paging::Index { start_index: 1 }, 1000));
        assert_eq!(params(&[("count", "-3")]).unwrap().count, 0);
        assert!(params(&[("count", "many")]).is_err());
        assert!(params(&[("sortOrder", "sideways")]).is_err());
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let id = uuid::Uuid::now_v7().to_string();
        let token = encode_cursor(&CursorPosition::After(id.clone()));
        assert_eq!(
            params(&[("cursor", &token)]).unwrap().paging,
            Paging::Cursor(Some(CursorPosition::After(id)))
        );
        assert_eq!(params(&[("cursor", "")]).unwrap().paging, Paging::Cursor(None));
        for bad in ["zzz", "YTp4", &URL_SAFE_NO_PAD.encode("q:1")] {
            assert_eq!(
                params(&[("cursor", bad)]).unwrap_err().scim_type,
                Some(ScimType::InvalidCursor),
                "{bad}"
            );
        }
    }

    #[test]
    fn empty_lists_have_resources() {
        let r = list_response(
            vec![],
            PageInfo {
                total: 0,
                start_index: Some(1),
                next_cursor: None,
                previous_cursor: None,
            },
        );
        assert_eq!(r["Resources"], json!([]));
        assert_eq!(
            (
                r["totalResults"].as_i64(),
                r["itemsPerPage"].as_i64(),
                r["startIndex"].as_i64()
            ),
            (Some(0), Some(0), Some(1))
        );
    }
}
