//! Decoding of Azure Data Explorer (Kusto) REST query responses into typed tables.
//!
//! Owns the wire format only: the v2 frame array (`DataSetHeader` … `DataSetCompletion`, in
//! both the whole-`DataTable` and the fragmented `TableHeader`/`TableFragment`/
//! `TableCompletion` forms), the v1 `{"Tables":[...]}` fallback, and the error bodies Kusto
//! sends with non-200 statuses. Kusto reports partial query failures inside a 200 response,
//! so this module turns every such signal into an error: callers never see partial results.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value as Json};

/// Kusto messages can embed whole stack traces: the logs get them up to this bound (clients
/// get far less, see the request module).
const MAX_MESSAGE_CHARS: usize = 16_000;

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

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("malformed Kusto response: {0}")]
    Malformed(String),
    #[error("Kusto reported a query error: {code}: {message}")]
    QueryFailed { code: String, message: String },
    #[error("Kusto cancelled the query")]
    Cancelled,
}

/// What a non-200 response body says went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceError {
    pub code: String,
    pub message: String,
    pub permanent: Option<bool>,
}

const PRIMARY: &str = "PrimaryResult";
const COMPLETION_INFO: &str = "QueryCompletionInformation";

/// Parses a 200 response body: a v2 frame array, or a v1 `{"Tables":[...]}` object.
pub fn parse(body: &[u8]) -> Result<DataSet, FrameError> {
    let json: Json = serde_json::from_slice(body).map_err(|e| malformed(format!("body is not JSON: {e}")))?;
    match json {
        Json::Array(frames) => parse_v2(frames),
        Json::Object(obj) if obj.contains_key("Tables") => parse_v1(&obj),
        Json::Object(obj) if obj.contains_key("error") => Err(one_api_error(&obj["error"])),
        _ => Err(malformed("expected a v2 frame array or a v1 Tables object")),
    }
}

fn parse_v2(frames: Vec<Json>) -> Result<DataSet, FrameError> {
    let last = frames.len().saturating_sub(1);
    let mut tables = Vec::new();
    // A fragmented table is only complete once its TableCompletion arrives.
    let mut open: Option<Table> = None;
    for (i, frame) in frames.iter().enumerate() {
        let f = frame.as_object().ok_or_else(|| malformed(format!("frame {i} is not an object")))?;
        let kind = str_field(f, "FrameType")?;
        if (i == 0) != (kind == "DataSetHeader") {
            return Err(malformed(format!("unexpected {kind} frame at position {i}")));
        }
        match kind {
            "DataSetHeader" | "TableProgress" => {}
            "DataTable" | "TableHeader" => {
                if open.is_some() {
                    return Err(malformed(format!("{kind} inside an unfinished table")));
                }
                let mut table = table_header(f)?;
                if kind == "TableHeader" {
                    open = Some(table);
                } else {
                    table.rows = decode_rows(&table.columns, field(f, "Rows")?)?;
                    tables.push(table);
                }
            }
            "TableFragment" | "TableCompletion" => {
                let id = int_field(f, "TableId")?;
                let table = open
                    .as_mut()
                    .filter(|t| t.id == id)
                    .ok_or_else(|| malformed(format!("{kind} for table {id}, which is not open")))?;
                if kind == "TableFragment" {
                    let rows = decode_rows(&table.columns, field(f, "Rows")?)?;
                    match str_field(f, "TableFragmentType")? {
                        "DataAppend" => table.rows.extend(rows),
                        "DataReplace" => table.rows = rows,
                        other => return Err(malformed(format!("unknown fragment type {other}"))),
                    }
                    continue;
                }
                check_one_api_errors(f)?;
                // A row count that disagrees means fragments went missing.
                let carried = table.rows.len() as u64;
                if let Some(n) = f.get("RowCount").and_then(Json::as_u64)
                    && n != carried
                {
                    return Err(malformed(format!("table {id} announced {n} rows, got {carried}")));
                }
                tables.extend(open.take());
            }
            "DataSetCompletion" => {
                if open.is_some() || i != last {
                    return Err(malformed("DataSetCompletion is not the final frame"));
                }
                return finish_v2(f, tables);
            }
            other => return Err(malformed(format!("unknown frame type {other}"))),
        }
    }
    Err(malformed("stream ended without a DataSetCompletion frame"))
}

fn finish_v2(completion: &Map<String, Json>, tables: Vec<Table>) -> Result<DataSet, FrameError> {
    if flag(completion, "Cancelled") {
        return Err(FrameError::Cancelled);
    }
    check_one_api_errors(completion)?;
    // Deferred partial failures carry their details only in the completion-information table.
    if let Some(err) = status_error(&tables) {
        return Err(err);
    }
    if flag(completion, "HasErrors") {
        return Err(query_failed("Unknown", "the query reported errors"));
    }
    Ok(DataSet { tables })
}

fn table_header(f: &Map<String, Json>) -> Result<Table, FrameError> {
    Ok(Table {
        id: int_field(f, "TableId")?,
        kind: str_field(f, "TableKind")?.to_owned(),
        name: str_field(f, "TableName")?.to_owned(),
        columns: columns(f)?,
        rows: Vec::new(),
    })
}

fn columns(f: &Map<String, Json>) -> Result<Vec<Column>, FrameError> {
    let cols = field(f, "Columns")?.as_array().ok_or_else(|| malformed("Columns is not an array"))?;
    cols.iter()
        .map(|c| {
            let c = c.as_object().ok_or_else(|| malformed("column is not an object"))?;
            // Old v1 responses may only carry the .NET DataType.
            let ty = str_field(c, "ColumnType").or_else(|_| str_field(c, "DataType"))?;
            Ok(Column { name: str_field(c, "ColumnName")?.to_owned(), ty: ty.to_lowercase() })
        })
        .collect()
}

fn decode_rows(columns: &[Column], rows: &Json) -> Result<Vec<Vec<Value>>, FrameError> {
    let rows = rows.as_array().ok_or_else(|| malformed("Rows is not an array"))?;
    rows.iter()
        .map(|row| match row {
            Json::Array(cells) if cells.len() == columns.len() => columns
                .iter()
                .zip(cells)
                .map(|(col, cell)| decode_value(&col.ty, cell))
                .collect::<Result<Vec<_>, _>>()
                .map_err(malformed),
            Json::Array(cells) => {
                Err(malformed(format!("row has {} cells for {} columns", cells.len(), columns.len())))
            }
            // ErrorReportingPlacement "InData" puts the failure where the next row would be.
            Json::Object(obj) => {
                check_one_api_errors(obj)?;
                Err(malformed("row is an object without OneApiErrors"))
            }
            _ => Err(malformed("row is neither an array nor an error object")),
        })
        .collect()
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

fn parse_datetime(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc()))
        .ok()
}

fn parse_v1(obj: &Map<String, Json>) -> Result<DataSet, FrameError> {
    // v1 reports partial failures as a top-level list of exception strings.
    if let Some(first) = obj.get("Exceptions").and_then(Json::as_array).and_then(|e| e.first()) {
        let text = first.as_str().map_or_else(|| first.to_string(), str::to_owned);
        let (code, message) = text_error(&text);
        return Err(FrameError::QueryFailed { code, message });
    }
    let raw = field(obj, "Tables")?.as_array().ok_or_else(|| malformed("Tables is not an array"))?;
    let mut tables = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let t = t.as_object().ok_or_else(|| malformed("table is not an object"))?;
        let columns = columns(t)?;
        tables.push(Table {
            id: i as i64,
            kind: String::new(),
            name: str_field(t, "TableName")?.to_owned(),
            rows: decode_rows(&columns, field(t, "Rows")?)?,
            columns,
        });
    }
    assign_v1_kinds(&mut tables);
    match status_error(&tables) {
        Some(err) => Err(err),
        None => Ok(DataSet { tables }),
    }
}

/// With more than two tables, v1 appends a table of contents naming each table's kind;
/// otherwise the first table is the result.
fn assign_v1_kinds(tables: &mut [Table]) {
    let Some((toc, data)) = tables.split_last_mut() else {
        return;
    };
    if let Some(kind_col) = toc.column("Kind")
        && data.len() >= 2
        && toc.rows.len() == data.len()
    {
        for (table, row) in data.iter_mut().zip(&toc.rows) {
            if let Value::String(kind) = &row[kind_col] {
                table.kind = match kind.as_str() {
                    "QueryResult" => PRIMARY,
                    "QueryStatus" => COMPLETION_INFO,
                    other => other,
                }
                .to_owned();
            }
        }
        toc.kind = "TableOfContents".to_owned();
    } else {
        for (table, kind) in tables.iter_mut().zip([PRIMARY, "QueryProperties"]) {
            table.kind = kind.to_owned();
        }
    }
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
    match f.get("OneApiErrors") {
        None | Some(Json::Null) => Ok(()),
        Some(Json::Array(errors)) => errors.first().map_or(Ok(()), |e| Err(one_api_error(e))),
        Some(other) => Err(one_api_error(other)),
    }
}

fn one_api_error(e: &Json) -> FrameError {
    let (code, message) = error_parts(e);
    FrameError::QueryFailed { code, message }
}

/// Reads `{"error":{"code","message","@message"}}`, or the inner object on its own.
/// `@message` is preferred because `message` is often a generic "Request is invalid".
fn error_parts(e: &Json) -> (String, String) {
    let inner = e.get("error").unwrap_or(e);
    let text = |key: &str| inner.get(key).and_then(Json::as_str);
    let message = text("@message").or_else(|| text("message")).unwrap_or("");
    (text("code").unwrap_or("Unknown").to_owned(), truncate(message))
}

/// Interprets a non-200 response body; never fails, because the caller already has an error
/// to report and only wants the best description of it.
pub fn parse_service_error(body: &[u8]) -> ServiceError {
    if let Ok(json) = serde_json::from_slice::<Json>(body)
        && let Some(err) = json.get("error").filter(|e| e.is_object())
    {
        let (code, message) = error_parts(err);
        let permanent = err.get("@permanent").and_then(Json::as_bool);
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
    FrameError::QueryFailed { code: code.to_owned(), message: truncate(message) }
}

fn truncate(s: &str) -> String {
    s.chars().take(MAX_MESSAGE_CHARS).collect()
}

fn malformed(msg: impl Into<String>) -> FrameError {
    FrameError::Malformed(msg.into())
}

fn flag(f: &Map<String, Json>, key: &str) -> bool {
    f.get(key).and_then(Json::as_bool) == Some(true)
}

fn field<'a>(f: &'a Map<String, Json>, key: &str) -> Result<&'a Json, FrameError> {
    f.get(key).ok_or_else(|| malformed(format!("missing {key}")))
}

fn str_field<'a>(f: &'a Map<String, Json>, key: &str) -> Result<&'a str, FrameError> {
    field(f, key)?.as_str().ok_or_else(|| malformed(format!("{key} is not a string")))
}

fn int_field(f: &Map<String, Json>, key: &str) -> Result<i64, FrameError> {
    field(f, key)?.as_i64().ok_or_else(|| malformed(format!("{key} is not an integer")))
}

#[cfg(test)]
#[path = "frames_tests.rs"]
mod tests;
