//! A protocol-neutral filter over a resource's fields. SCIM filters are translated into this (by
//! the mapping layer) and storage compiles it to SQL; neither side sees the other's language.

use chrono::NaiveDateTime;

/// Member fields a filter or sort can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberField {
    Id,
    /// Compared case-insensitively.
    UserName,
    ExternalId,
    DisplayName,
    FirstName,
    LastName,
    /// The member's e-mail, compared case-insensitively.
    Email,
    /// Any of the member's e-mail addresses (SCIM `emails` is multi-valued).
    AnyEmail,
    Phone,
    Role,
    Status,
    Created,
    LastModified,
    /// A text value inside the stored SCIM attributes, by its JSON path (e.g. the Enterprise
    /// extension's `department`), compared case-insensitively unless `case_exact`.
    Attribute {
        path: Vec<String>,
        case_exact: bool,
    },
}

/// Group fields a filter or sort can name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupField {
    Id,
    DisplayName,
    ExternalId,
    Created,
    LastModified,
    /// The group has this member (by member id).
    HasMember,
    Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    Eq,
    Ne,
    Contains,
    StartsWith,
    EndsWith,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Time(NaiveDateTime),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Condition<F> {
    Compare(F, Comparison, Scalar),
    /// The field has a (non-empty) value.
    Present(F),
    /// The field equals one of these.
    In(F, Vec<Scalar>),
    And(Vec<Condition<F>>),
    Or(Vec<Condition<F>>),
    Not(Box<Condition<F>>),
    Always,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// Where a page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    /// Skip this many (SCIM `startIndex` - 1).
    Offset(i64),
    /// Continue after this id (keyset paging in id order: RFC 9865 cursors).
    After(String),
    /// The page that ends just before this id (a previous cursor).
    Before(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery<F> {
    pub condition: Condition<F>,
    pub sort: Option<(F, Direction)>,
    pub start: PageStart,
    pub limit: i64,
}
