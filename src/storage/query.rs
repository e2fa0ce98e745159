//! Compiles the domain's protocol-neutral [`Condition`]s to SQL. Every leaf is NULL-safe (a missing
//! value never makes `not (...)` match by accident), LIKE patterns are escaped, values are always
//! bound parameters, and JSON attribute paths come from the registry, never from the request.

use chrono::NaiveDateTime;
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::connection::{DbConnection, MultiBackend};
use crate::domain::query::{Comparison, Condition, Direction, PageStart, Scalar};

#[derive(Debug, Clone)]
enum Bind {
    Text(String),
    OptionalText(Option<String>),
    Time(NaiveDateTime),
    Int(i64),
}

/// Where a bound value goes in [`Sql`]'s text; the backend's placeholder (`?`, `$n`) is written
/// when the statement is serialised. Never in SQL we write, and never taken from a request (values
/// are bound, not spliced).
const SLOT: char = '\u{0}';

/// SQL text and its bound values.
pub(crate) struct Sql {
    postgres: bool,
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    pub(crate) fn new(conn: &DbConnection) -> Self {
        Self {
            postgres: matches!(conn, DbConnection::Postgres(_)),
            text: String::new(),
            binds: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, s: &str) -> &mut Self {
        debug_assert!(!s.contains(SLOT));
        self.text.push_str(s);
        self
    }

    fn bind(&mut self, b: Bind) -> &mut Self {
        self.binds.push(b);
        self.text.push(SLOT);
        self
    }

    pub(crate) fn text(&mut self, s: impl Into<String>) -> &mut Self {
        self.bind(Bind::Text(s.into()))
    }

    pub(crate) fn optional_text(&mut self, s: Option<String>) -> &mut Self {
        self.bind(Bind::OptionalText(s))
    }

    pub(crate) fn time(&mut self, t: NaiveDateTime) -> &mut Self {
        self.bind(Bind::Time(t))
    }

    pub(crate) fn int(&mut self, n: i64) -> &mut Self {
        self.bind(Bind::Int(n))
    }

    fn scalar(&mut self, s: &Scalar) -> &mut Self {
        match s {
            Scalar::Text(t) => self.text(t.clone()),
            Scalar::Time(t) => self.time(*t),
        }
    }

    /// A JSON text value at `path` inside `column` (paths are registry names, quoted here).
    pub(crate) fn json_text(&mut self, column: &str, path: &[String]) -> &mut Self {
        if self.postgres {
            let keys: Vec<String> = path.iter().map(|k| format!("\"{}\"", k.replace('"', ""))).collect();
            self.push(&format!("(({column})::jsonb #>> '{{{}}}')", keys.join(",")))
        } else {
            let keys: String = path.iter().map(|k| format!(".\"{}\"", k.replace('"', ""))).collect();
            self.push(&format!("json_extract({column}, '${keys}')"))
        }
    }

    pub(crate) fn execute(self, conn: &mut DbConnection) -> diesel::QueryResult<usize> {
        Statement::from(self).execute(conn)
    }

    pub(crate) fn load<T>(self, conn: &mut DbConnection) -> diesel::QueryResult<Vec<T>>
    where
        T: diesel::deserialize::QueryableByName<MultiBackend> + 'static,
    {
        Statement::from(self).load(conn)
    }
}

/// A built [`Sql`], ready to run. Unlike diesel's `sql_query`, it lets a SQLite connection keep the
/// statement prepared (SQLite then skips its parser), for the first
/// [`PREPARED_SHAPES`] distinct texts this process builds. The texts are a function of the code path
/// and of a filter's shape, so a client that sends endless new filter shapes cannot grow the
/// connections' statement caches without bound: later shapes run unprepared, as all did before.
struct Statement {
    text: String,
    binds: Vec<Bind>,
    prepared: bool,
}

/// How many distinct statement texts connections may keep prepared.
const PREPARED_SHAPES: usize = 512;

impl From<Sql> for Statement {
    fn from(sql: Sql) -> Self {
        // PostgreSQL keeps running these unprepared: a prepared statement there soon runs on a
        // generic plan, and for pages (LIMIT/OFFSET as parameters) and filters that measured slower
        // than planning each time with the values.
        let prepared = !sql.postgres && admit_shape(&sql.text);
        Statement {
            text: sql.text,
            binds: sql.binds,
            prepared,
        }
    }
}

/// Whether `text` is, or may become, one of the prepared shapes.
fn admit_shape(text: &str) -> bool {
    use std::collections::HashSet;
    use std::hash::{BuildHasher, RandomState};
    use std::sync::{OnceLock, RwLock};
    static SHAPES: OnceLock<(RandomState, RwLock<HashSet<u64>>)> = OnceLock::new();
    let (hasher, shapes) = SHAPES.get_or_init(Default::default);
    let key = hasher.hash_one(text);
    if shapes.read().unwrap_or_else(|p| p.into_inner()).contains(&key) {
        return true;
    }
    let mut shapes = shapes.write().unwrap_or_else(|p| p.into_inner());
    if shapes.len() < PREPARED_SHAPES {
        shapes.insert(key);
        return true;
    }
    shapes.contains(&key)
}

impl diesel::query_builder::QueryFragment<MultiBackend> for Statement {
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, MultiBackend>,
    ) -> diesel::QueryResult<()> {
        if !self.prepared {
            out.unsafe_to_cache_prepared();
        }
        let mut binds = self.binds.iter();
        for (i, piece) in self.text.split(SLOT).enumerate() {
            if i > 0 {
                match binds.next() {
                    Some(Bind::Text(s)) => out.push_bind_param::<Text, _>(s)?,
                    Some(Bind::OptionalText(s)) => out.push_bind_param::<diesel::sql_types::Nullable<Text>, _>(s)?,
                    Some(Bind::Time(t)) => out.push_bind_param::<Timestamp, _>(t)?,
                    Some(Bind::Int(n)) => out.push_bind_param::<BigInt, _>(n)?,
                    None => {
                        return Err(diesel::result::Error::QueryBuilderError(
                            "a slot without a value".into(),
                        ));
                    }
                }
            }
            out.push_sql(piece);
        }
        Ok(())
    }
}

impl diesel::query_builder::QueryId for Statement {
    type QueryId = ();
    // The cache is keyed by the SQL text (and bind types), which is what makes a shape a shape.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl diesel::query_builder::Query for Statement {
    type SqlType = diesel::sql_types::Untyped;
}

impl RunQueryDsl<DbConnection> for Statement {}

#[derive(diesel::QueryableByName)]
pub(crate) struct CountRow {
    #[diesel(sql_type = BigInt)]
    pub n: i64,
}

/// How a field reads in SQL: its expression, whether it is text compared in lower case, and
/// whether values are times.
#[derive(Clone)]
pub(crate) struct Column {
    /// The SQL expression (a column, or `lower(column)`); a registry name, never request input.
    pub expr: &'static str,
    /// Compare lower-cased (the column or expression already is, or is wrapped in `lower()`).
    pub fold_case: bool,
    /// Upper-case values before comparing (enumerations stored upper-case).
    pub upper: bool,
    pub time: bool,
    /// A JSON path inside a column, written by [`Sql::json_text`].
    pub json: Option<(&'static str, Vec<String>)>,
    /// The field lives in a related table: a leaf on it reads
    /// `<outer> IN (<select> <leaf on this column>)`, e.g. a group's members.
    pub within: Option<(&'static str, &'static str)>,
}

impl Column {
    pub(crate) fn plain(expr: &'static str) -> Self {
        Self {
            expr,
            fold_case: false,
            upper: false,
            time: false,
            json: None,
            within: None,
        }
    }

    /// Compared lower-cased.
    pub(crate) fn folded(expr: &'static str) -> Self {
        Self {
            fold_case: true,
            ..Self::plain(expr)
        }
    }

    /// Enumerations stored upper-case.
    pub(crate) fn upper(expr: &'static str) -> Self {
        Self {
            upper: true,
            ..Self::plain(expr)
        }
    }

    pub(crate) fn time(expr: &'static str) -> Self {
        Self {
            time: true,
            ..Self::plain(expr)
        }
    }

    fn emit(&self, sql: &mut Sql) {
        match &self.json {
            Some((column, path)) => {
                if self.fold_case {
                    sql.push("lower(");
                    sql.json_text(column, path);
                    sql.push(")");
                } else {
                    sql.json_text(column, path);
                }
            }
            None => {
                sql.push(self.expr);
            }
        }
    }

    fn value(&self, s: &Scalar) -> Scalar {
        match s {
            Scalar::Text(t) if self.fold_case => Scalar::Text(t.to_lowercase()),
            Scalar::Text(t) if self.upper => Scalar::Text(t.to_uppercase()),
            other => other.clone(),
        }
    }
}

/// The smallest string above every string that starts with `prefix` (its last character stepped
/// up to the next one); None when there is none (an empty prefix, or only U+10FFFF).
fn prefix_upper_bound(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        if let Some(next) = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32) {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

fn escape_like(s: &str) -> String {
    s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Writes `condition` using `column_of` to place each field.
pub(crate) fn write_condition<F>(
    sql: &mut Sql,
    condition: &Condition<F>,
    column_of: &dyn Fn(&F, &mut Sql) -> Option<Column>,
) {
    // A leaf on a related table's column: `outer IN (select … leaf)`; `ne` is `NOT IN (… eq)`.
    let field = match condition {
        Condition::Compare(f, _, _) | Condition::Present(f) | Condition::In(f, _) => Some(f),
        _ => None,
    };
    if let Some(field) = field
        && let Some(col) = column_of(field, sql)
        && let Some((outer, select)) = col.within
    {
        let (negate, leaf) = match condition {
            Condition::Compare(_, Comparison::Ne, v) => (true, Condition::Compare((), Comparison::Eq, v.clone())),
            Condition::Compare(_, c, v) => (false, Condition::Compare((), *c, v.clone())),
            Condition::Present(_) => (false, Condition::Present(())),
            Condition::In(_, v) => (false, Condition::In((), v.clone())),
            _ => unreachable!("leaves only"),
        };
        sql.push(outer);
        sql.push(if negate { " NOT IN (" } else { " IN (" });
        sql.push(select);
        let inner = Column { within: None, ..col };
        write_condition(sql, &leaf, &|_: &(), _: &mut Sql| Some(inner.clone()));
        sql.push(")");
        return;
    }
    match condition {
        Condition::Always => {
            sql.push("1 = 1");
        }
        Condition::Never => {
            sql.push("1 = 0");
        }
        Condition::And(items) | Condition::Or(items) if items.is_empty() => {
            sql.push(if matches!(condition, Condition::And(_)) {
                "1 = 1"
            } else {
                "1 = 0"
            });
        }
        Condition::And(items) | Condition::Or(items) => {
            let joiner = if matches!(condition, Condition::And(_)) {
                " AND "
            } else {
                " OR "
            };
            sql.push("(");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    sql.push(joiner);
                }
                write_condition(sql, item, column_of);
            }
            sql.push(")");
        }
        Condition::Not(inner) => {
            sql.push("NOT (");
            write_condition(sql, inner, column_of);
            sql.push(")");
        }
        Condition::Present(field) => match column_of(field, sql) {
            Some(col) => {
                sql.push("(");
                col.emit(sql);
                sql.push(" IS NOT NULL");
                if !col.time {
                    sql.push(" AND ");
                    col.emit(sql);
                    sql.push(" <> ''");
                }
                sql.push(")");
            }
            None => {
                sql.push("1 = 0");
            }
        },
        Condition::In(field, values) => match column_of(field, sql) {
            Some(col) if !values.is_empty() => {
                sql.push("(");
                col.emit(sql);
                sql.push(" IN (");
                for (i, v) in values.iter().enumerate() {
                    if i > 0 {
                        sql.push(", ");
                    }
                    sql.scalar(&col.value(v));
                }
                sql.push("))");
            }
            _ => {
                sql.push("1 = 0");
            }
        },
        Condition::Compare(field, comparison, value) => {
            let Some(col) = column_of(field, sql) else {
                sql.push("1 = 0");
                return;
            };
            let value = col.value(value);
            if *comparison == Comparison::Ne {
                // A missing value is "not equal".
                sql.push("(");
                col.emit(sql);
                sql.push(" IS NULL OR ");
                col.emit(sql);
                sql.push(" <> ");
                sql.scalar(&value);
                sql.push(")");
                return;
            }
            sql.push("(");
            col.emit(sql);
            sql.push(" IS NOT NULL AND ");
            col.emit(sql);
            let like = |sql: &mut Sql, pattern: String| {
                sql.push(" LIKE ");
                sql.text(pattern);
                sql.push(" ESCAPE '\\'");
            };
            let text = match &value {
                Scalar::Text(t) => t.clone(),
                Scalar::Time(t) => t.to_string(),
            };
            match comparison {
                Comparison::Eq => {
                    sql.push(" = ");
                    sql.scalar(&value);
                }
                Comparison::Contains => like(sql, format!("%{}%", escape_like(&text))),
                Comparison::StartsWith => {
                    like(sql, format!("{}%", escape_like(&text)));
                    // SQLite plans without looking at bound values (the planner stability guarantee,
                    // see `.cargo/config.toml`), so a LIKE prefix alone cannot choose an index range;
                    // the same prefix as a range can. Byte order is code point order in SQLite's
                    // BINARY collation; PostgreSQL's collations may order otherwise, so not there.
                    if let (false, Scalar::Text(_), Some(upper)) = (sql.postgres, &value, prefix_upper_bound(&text)) {
                        sql.push(" AND ");
                        col.emit(sql);
                        sql.push(" >= ");
                        sql.text(text.clone());
                        sql.push(" AND ");
                        col.emit(sql);
                        sql.push(" < ");
                        sql.text(upper);
                    }
                }
                Comparison::EndsWith => like(sql, format!("%{}", escape_like(&text))),
                Comparison::Gt | Comparison::Ge | Comparison::Lt | Comparison::Le => {
                    sql.push(match comparison {
                        Comparison::Gt => " > ",
                        Comparison::Ge => " >= ",
                        Comparison::Lt => " < ",
                        _ => " <= ",
                    });
                    sql.scalar(&value);
                }
                Comparison::Ne => unreachable!("handled above"),
            }
            sql.push(")");
        }
    }
}

/// ORDER BY and paging. Returns whether the rows come back reversed (a `Before` page).
pub(crate) fn write_order_and_page<F>(
    sql: &mut Sql,
    sort: Option<&(F, Direction)>,
    start: &PageStart,
    limit: i64,
    column_of: &dyn Fn(&F, &mut Sql) -> Option<Column>,
) -> bool {
    let mut reversed = false;
    match start {
        PageStart::After(id) => {
            sql.push(" AND id > ");
            sql.text(id.clone());
        }
        PageStart::Before(id) => {
            sql.push(" AND id < ");
            sql.text(id.clone());
            reversed = true;
        }
        PageStart::Offset(_) => {}
    }
    sql.push(" ORDER BY ");
    if let Some((field, direction)) = sort
        && let Some(col) = column_of(field, sql)
    {
        col.emit(sql);
        // NULLs last in both directions, on both backends.
        sql.push(match direction {
            Direction::Ascending => " ASC",
            Direction::Descending => " DESC",
        });
        sql.push(", ");
    }
    sql.push(if reversed { "id DESC" } else { "id ASC" });
    sql.push(" LIMIT ");
    sql.int(limit);
    if let PageStart::Offset(offset) = start
        && *offset > 0
    {
        sql.push(" OFFSET ");
        sql.int(*offset);
    }
    reversed
}

/// A page of rows matching `query` and the total: `SELECT *` over `scope` (which writes
/// `FROM … WHERE <tenant scope> AND `), the condition, the order and the page. A short first page is
/// the whole result, so it is not counted again.
pub(crate) fn search<F, R>(
    conn: &mut DbConnection,
    scope: &dyn Fn(&mut Sql),
    query: &crate::domain::query::ListQuery<F>,
    column_of: &dyn Fn(&F, &mut Sql) -> Option<Column>,
) -> diesel::QueryResult<(Vec<R>, i64)>
where
    R: diesel::deserialize::QueryableByName<MultiBackend> + 'static,
{
    let mut rows = Vec::new();
    if query.limit > 0 {
        let mut page = Sql::new(conn);
        page.push("SELECT *");
        scope(&mut page);
        write_condition(&mut page, &query.condition, column_of);
        let reversed = write_order_and_page(&mut page, query.sort.as_ref(), &query.start, query.limit, column_of);
        rows = page.load::<R>(conn)?;
        if reversed {
            rows.reverse();
        }
    }
    let total = match query.start {
        PageStart::Offset(0) if (rows.len() as i64) < query.limit => rows.len() as i64,
        _ => {
            let mut count = Sql::new(conn);
            count.push("SELECT COUNT(*) AS n");
            scope(&mut count);
            write_condition(&mut count, &query.condition, column_of);
            count.load::<CountRow>(conn)?.first().map_or(0, |c| c.n)
        }
    };
    Ok((rows, total))
}

#[cfg(test)]
mod tests {
    use super::prefix_upper_bound;

    #[test]
    fn a_prefix_range_holds_every_string_with_the_prefix() {
        assert_eq!(prefix_upper_bound("abc").as_deref(), Some("abd"));
        assert_eq!(prefix_upper_bound(""), None);
        assert_eq!(prefix_upper_bound("\u{10FFFF}"), None);
        assert_eq!(prefix_upper_bound("a\u{10FFFF}").as_deref(), Some("b"));
        // The surrogate gap is stepped over.
        assert_eq!(prefix_upper_bound("x\u{D7FF}").as_deref(), Some("x\u{E000}"));
        for prefix in ["jo", "é", "a\u{10FFFF}", "z~"] {
            let upper = prefix_upper_bound(prefix).unwrap();
            for tail in ["", "\u{0}", "zzz", "\u{10FFFF}\u{10FFFF}"] {
                let s = format!("{prefix}{tail}");
                assert!(s.as_str() >= prefix && s < upper, "{s:?} in [{prefix:?}, {upper:?})");
            }
        }
    }
}
