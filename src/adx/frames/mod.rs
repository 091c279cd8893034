//! Decoding of Azure Data Explorer (Kusto) REST query responses, as they arrive.
//!
//! Owns the wire format only: the v2 frame array (`DataSetHeader` … `DataSetCompletion`, in
//! both the whole-`DataTable` and the fragmented `TableHeader`/`TableFragment`/
//! `TableCompletion` forms), the v1 `{"Tables":[...]}` fallback, and the error bodies Kusto
//! sends with non-200 statuses. The v2 stream is read frame by frame from any [`std::io::Read`]
//! (a response body as it downloads): the rows of result tables go straight to a [`Sink`], one
//! row at a time, so an answer is never held whole; the small tables around them (query
//! properties, completion information) are kept to check the query's status. Kusto reports
//! partial query failures inside a 200 response, so every such signal becomes an error: callers
//! never see partial results.

mod v1;
mod v2;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde_json::{Map, Value as Json};

/// Kusto messages can embed whole stack traces: the logs get them up to this bound (clients
/// get far less, see the request module).
const MAX_MESSAGE_CHARS: usize = 16_000;

const PRIMARY: &str = "PrimaryResult";
const COMPLETION_INFO: &str = "QueryCompletionInformation";

/// One decoded cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Real(f64),
    DateTime(DateTime<Utc>),
    String(String),
    Dynamic(Json),
}

/// `ty` is the `ColumnType` as sent, lowercased; Kusto also sends aliases such as `date`,
/// `double` or `uuid`, which decode like their canonical names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: String,
}

/// A table's identity and columns, as its first frame gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableHead {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub id: i64,
    pub kind: String,
    pub name: String,
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    fn new(head: TableHead) -> Self {
        Self { id: head.id, kind: head.kind, name: head.name, columns: head.columns, rows: Vec::new() }
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataSet {
    pub tables: Vec<Table>,
}

impl DataSet {
    /// v1 tables get their kinds from the table of contents (or positionally), so this also
    /// finds the first table of a v1 response.
    pub fn primary(&self) -> Option<&Table> {
        self.tables.iter().find(|t| t.kind == PRIMARY)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum FrameError {
    #[error("malformed Kusto response: {0}")]
    Malformed(String),
    /// `permanent` is the error's own `@permanent` mark, when it has one.
    #[error("Kusto reported a query error: {code}: {message}")]
    QueryFailed { code: String, message: String, permanent: Option<bool> },
    #[error("Kusto cancelled the query")]
    Cancelled,
}

impl FrameError {
    /// Whether the server gave up on the query for lack of time, inside the stream.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::QueryFailed { code, message, .. } if out_of_time(code, message))
    }
}

/// Whether an error ADX reports (inside the stream or as an error answer) says it gave up on the
/// query for lack of time: "Query is expired" (0x80DA0006), or a timeout code.
pub fn out_of_time(code: &str, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    message.contains("0x80da0006") || message.contains("query is expired") || code.contains("Timeout")
}

/// What a non-200 response body says went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
    pub permanent: Option<bool>,
}

/// Where the rows of result tables go, one at a time, as they are read.
pub trait Sink {
    /// A result table starts; `Err` if the sink cannot take it (its columns, say).
    fn start(&mut self, head: &TableHead) -> Result<(), String>;
    /// One row of the table started last, its cells in column order.
    fn row<'de, A: SeqAccess<'de>>(&mut self, cells: A) -> Result<(), A::Error>;
    /// The rows so far are replaced by those that follow (a progressive `DataReplace`).
    fn replace(&mut self);
}

/// Decodes a whole response from `reader`: result-table rows go to `sink`, and the other tables
/// come back (they are small: query properties, completion information).
pub fn decode<R: std::io::Read, S: Sink>(reader: R, sink: &mut S) -> Result<Vec<Table>, FrameError> {
    let mut failure = None;
    let mut de = serde_json::Deserializer::from_reader(std::io::BufReader::with_capacity(1 << 16, reader));
    let tables = de
        .deserialize_any(Response { sink, failure: &mut failure })
        .and_then(|tables| de.end().map(|()| tables));
    match (tables, failure) {
        (_, Some(failure)) => Err(failure),
        (Ok(tables), None) => Ok(tables),
        (Err(e), None) => Err(malformed(format!("body is not a Kusto response: {e}"))),
    }
}

/// Parses a 200 response body into all of its tables, with every cell decoded.
pub fn parse(body: &[u8]) -> Result<DataSet, FrameError> {
    let mut results = Collect::default();
    let mut tables = decode(body, &mut results)?;
    tables.extend(results.tables);
    tables.sort_by_key(|t| t.id);
    Ok(DataSet { tables })
}

/// A [`Sink`] that reads rows and keeps none: the answer's status is all that matters.
pub struct Discard;

impl Sink for Discard {
    fn start(&mut self, _: &TableHead) -> Result<(), String> {
        Ok(())
    }

    fn row<'de, A: SeqAccess<'de>>(&mut self, mut cells: A) -> Result<(), A::Error> {
        rest(&mut cells).map(drop)
    }

    fn replace(&mut self) {}
}

/// A [`Sink`] that keeps every row, each cell decoded by its column's type.
#[derive(Default)]
struct Collect {
    tables: Vec<Table>,
}

impl Sink for Collect {
    fn start(&mut self, head: &TableHead) -> Result<(), String> {
        self.tables.push(Table::new(head.clone()));
        Ok(())
    }

    fn row<'de, A: SeqAccess<'de>>(&mut self, mut cells: A) -> Result<(), A::Error> {
        let table = self.tables.last_mut().expect("rows come after their table's start");
        let mut row = Vec::with_capacity(table.columns.len());
        while let Some(cell) = cells.next_element::<Json>()? {
            let ty = table.columns.get(row.len()).map_or("", |c| c.ty.as_str());
            row.push(decode_value(ty, &cell).map_err(serde::de::Error::custom)?);
        }
        if row.len() != table.columns.len() {
            let msg = format!("row has {} cells for {} columns", row.len(), table.columns.len());
            return Err(serde::de::Error::custom(msg));
        }
        table.rows.push(row);
        Ok(())
    }

    fn replace(&mut self) {
        if let Some(table) = self.tables.last_mut() {
            table.rows.clear();
        }
    }
}

/// The whole response: a v2 frame array, a v1 `{"Tables":[...]}` object, or a JSON error.
/// Typed failures (query errors, cancellation) are left in `failure`; the serde error that
/// stops the parse then only says where.
struct Response<'a, S> {
    sink: &'a mut S,
    failure: &'a mut Option<FrameError>,
}

impl<'de, S: Sink> Visitor<'de> for Response<'_, S> {
    type Value = Vec<Table>;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a v2 frame array or a v1 Tables object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, frames: A) -> Result<Self::Value, A::Error> {
        v2::Frames::new(self.sink, self.failure).read(frames)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        let obj: Map<String, Json> =
            Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        let tables = if obj.contains_key("Tables") {
            v1::read(&obj, self.sink)
        } else if let Some(error) = obj.get("error") {
            Err(one_api_error(error))
        } else {
            Err(malformed("expected a v2 frame array or a v1 Tables object"))
        };
        tables.map_err(|e| fail(self.failure, e))
    }
}

use serde::Deserialize;

/// Feeds a `Rows` array to a sink row by row; an object where a row should be is Kusto's
/// in-data error report (`ErrorReportingPlacement: InData`). Returns how many rows it fed.
struct Rows<'a, S> {
    sink: &'a mut S,
    failure: &'a mut Option<FrameError>,
}

impl<'de, S: Sink> DeserializeSeed<'de> for Rows<'_, S> {
    type Value = u64;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<u64, D::Error> {
        de.deserialize_seq(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Rows<'_, S> {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut rows: A) -> Result<u64, A::Error> {
        let mut n = 0;
        while rows.next_element_seed(OneRow { sink: &mut *self.sink, failure: &mut *self.failure })?.is_some()
        {
            n += 1;
        }
        Ok(n)
    }
}

struct OneRow<'a, S> {
    sink: &'a mut S,
    failure: &'a mut Option<FrameError>,
}

impl<'de, S: Sink> DeserializeSeed<'de> for OneRow<'_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for OneRow<'_, S> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a row (an array of cells) or an error object")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, cells: A) -> Result<(), A::Error> {
        self.sink.row(cells)
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let obj: Map<String, Json> =
            Deserialize::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        let failure = check_one_api_errors(&obj)
            .err()
            .unwrap_or_else(|| malformed("row is an object without OneApiErrors"));
        Err(fail(self.failure, failure))
    }
}

/// Records a typed failure and returns the serde error that stops the parse.
fn fail<E: serde::de::Error>(slot: &mut Option<FrameError>, failure: FrameError) -> E {
    let text = failure.to_string();
    slot.get_or_insert(failure);
    E::custom(text)
}

fn columns(f: &Map<String, Json>) -> Result<Vec<Column>, FrameError> {
    let cols = field(f, "Columns")?.as_array().ok_or_else(|| malformed("Columns is not an array"))?;
    cols.iter().map(column).collect()
}

fn column(c: &Json) -> Result<Column, FrameError> {
    let c = c.as_object().ok_or_else(|| malformed("column is not an object"))?;
    // Old v1 responses may only carry the .NET DataType.
    let ty = str_field(c, "ColumnType").or_else(|_| str_field(c, "DataType"))?;
    Ok(Column { name: str_field(c, "ColumnName")?.to_owned(), ty: ty.to_lowercase() })
}

fn decode_rows(columns: &[Column], rows: &Json) -> Result<Vec<Vec<Value>>, FrameError> {
    let head = TableHead { id: 0, kind: String::new(), name: String::new(), columns: columns.to_vec() };
    let mut table = Collect { tables: vec![Table::new(head)] };
    feed(&mut table, rows)?;
    Ok(table.tables.pop().expect("one table").rows)
}

/// Rows held as JSON, to `sink`; how many it took.
fn feed<S: Sink>(sink: &mut S, rows: &Json) -> Result<u64, FrameError> {
    let mut failure = None;
    let fed = Rows { sink, failure: &mut failure }.deserialize(rows);
    match (fed, failure) {
        (_, Some(failure)) => Err(failure),
        (Ok(n), None) => Ok(n),
        (Err(e), None) => Err(malformed(e.to_string())),
    }
}

fn decode_value(ty: &str, raw: &Json) -> Result<Value, String> {
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let value = match ty {
        "int" | "long" | "int32" | "int64" => raw.as_i64().map(Value::Int),
        "real" | "double" | "decimal" | "sqldecimal" => match raw {
            // Rust's float parser accepts Kusto's "NaN"/"Infinity"/"-Infinity" spellings, and
            // decimals arrive as strings to keep their precision.
            Json::String(s) => s.parse().ok(),
            _ => raw.as_f64(),
        }
        .map(Value::Real),
        "bool" | "boolean" | "sbyte" => match raw {
            Json::Bool(b) => Some(*b),
            _ => raw.as_i64().filter(|n| *n == 0 || *n == 1).map(|n| n == 1),
        }
        .map(Value::Bool),
        "datetime" | "date" => raw.as_str().and_then(parse_datetime).map(Value::DateTime),
        "string" | "timespan" | "time" | "guid" | "uuid" | "uniqueid" => {
            raw.as_str().map(|s| Value::String(s.to_owned()))
        }
        // dynamic, and any type this parser does not know: keep the JSON as sent.
        _ => Some(Value::Dynamic(raw.clone())),
    };
    value.ok_or_else(|| format!("{raw} is not a valid {ty}"))
}

pub fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .ok()
}

/// A completion-information (v2) or QueryStatus (v1) row at level 2 (error) or below means
/// the query failed even when no other frame says so.
fn status_error(tables: &[Table]) -> Option<FrameError> {
    let table = tables.iter().find(|t| t.kind == COMPLETION_INFO)?;
    let level = table.column("Level").or_else(|| table.column("Severity"))?;
    let text = |row: &[Value], names: &[&str]| {
        names.iter().find_map(|n| match table.column(n).map(|i| &row[i]) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
    };
    let row = table.rows.iter().find(|row| matches!(row[level], Value::Int(l) if l <= 2))?;
    Some(query_failed(
        &text(row, &["EventTypeName"]).unwrap_or_else(|| "Unknown".to_owned()),
        &text(row, &["StatusCodeName", "StatusDescription", "Payload"]).unwrap_or_default(),
    ))
}

fn check_one_api_errors(f: &Map<String, Json>) -> Result<(), FrameError> {
    errors(f.get("OneApiErrors"))
}

/// A frame's or a row's `OneApiErrors`: the first one, if any, is the query's failure.
fn errors(errors: Option<&Json>) -> Result<(), FrameError> {
    match errors {
        None | Some(Json::Null) => Ok(()),
        Some(Json::Array(errors)) => errors.first().map_or(Ok(()), |e| Err(one_api_error(e))),
        Some(other) => Err(one_api_error(other)),
    }
}

fn one_api_error(e: &Json) -> FrameError {
    let (code, message, permanent) = error_parts(e);
    FrameError::QueryFailed { code, message, permanent }
}

/// Reads `{"error":{"code","message","@message","@permanent"}}`, or the inner object on its
/// own. `@message` is preferred because `message` is often a generic "Request is invalid".
fn error_parts(e: &Json) -> (String, String, Option<bool>) {
    let inner = e.get("error").unwrap_or(e);
    let text = |key: &str| inner.get(key).and_then(Json::as_str);
    let message = text("@message").or_else(|| text("message")).unwrap_or("");
    let permanent = inner.get("@permanent").and_then(Json::as_bool);
    (text("code").unwrap_or("Unknown").to_owned(), truncate(message), permanent)
}

/// Interprets a non-200 response body; never fails, because the caller already has an error
/// to report and only wants the best description of it.
pub fn parse_service_error(body: &[u8]) -> ServiceError {
    if let Ok(json) = serde_json::from_slice::<Json>(body)
        && let Some(err) = json.get("error").filter(|e| e.is_object())
    {
        let (code, message, permanent) = error_parts(err);
        return ServiceError { code, message, permanent };
    }
    let (code, message) = text_error(&String::from_utf8_lossy(body));
    ServiceError { code, message, permanent: None }
}

/// Plain-text Kusto errors look like `General_BadRequest: Request is invalid…` followed by
/// a details block; only the first line is worth surfacing.
fn text_error(text: &str) -> (String, String) {
    let line = text.trim_start().lines().next().unwrap_or("").trim();
    let code = line
        .split_once(':')
        .map(|(code, _)| code.trim())
        .filter(|code| is_identifier(code))
        .unwrap_or("Unknown");
    (code.to_owned(), truncate(line))
}

fn is_identifier(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_alphabetic())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn query_failed(code: &str, message: &str) -> FrameError {
    FrameError::QueryFailed { code: code.to_owned(), message: truncate(message), permanent: None }
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn malformed(msg: impl Into<String>) -> FrameError {
    FrameError::Malformed(msg.into())
}

fn field<'a>(f: &'a Map<String, Json>, key: &str) -> Result<&'a Json, FrameError> {
    f.get(key).ok_or_else(|| malformed(format!("missing {key}")))
}

fn str_field<'a>(f: &'a Map<String, Json>, key: &str) -> Result<&'a str, FrameError> {
    field(f, key)?.as_str().ok_or_else(|| malformed(format!("{key} is not a string")))
}

/// Drains what is left of a row, so a sink that read the cells it wanted can say how many
/// there were.
pub fn rest<'de, A: SeqAccess<'de>>(cells: &mut A) -> Result<usize, A::Error> {
    let mut n = 0;
    while cells.next_element::<IgnoredAny>()?.is_some() {
        n += 1;
    }
    Ok(n)
}

#[cfg(test)]
mod tests;
