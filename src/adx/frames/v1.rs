//! The v1 response, `{"Tables":[...]}`, a fallback for engines that answer the v1 shape: read
//! whole (which table is the result is only known from the table of contents at its end), then
//! the result tables' rows go to the sink like v2's.

use serde_json::{Map, Value as Json};

use super::{
    COMPLETION_INFO, FrameError, PRIMARY, Sink, Table, TableHead, Value, columns, decode_rows, feed, field,
    malformed, status_error, str_field, text_error,
};

pub(super) fn read<S: Sink>(obj: &Map<String, Json>, sink: &mut S) -> Result<Vec<Table>, FrameError> {
    // v1 reports partial failures as a top-level list of exception strings.
    if let Some(first) = obj.get("Exceptions").and_then(Json::as_array).and_then(|e| e.first()) {
        let text = first.as_str().map_or_else(|| first.to_string(), str::to_owned);
        let (code, message) = text_error(&text);
        return Err(FrameError::QueryFailed { code, message, permanent: None });
    }
    let raw = field(obj, "Tables")?.as_array().ok_or_else(|| malformed("Tables is not an array"))?;
    let mut heads = Vec::with_capacity(raw.len());
    for (i, t) in raw.iter().enumerate() {
        let t = t.as_object().ok_or_else(|| malformed("table is not an object"))?;
        let head = TableHead {
            id: i as i64,
            kind: String::new(),
            name: str_field(t, "TableName")?.to_owned(),
            columns: columns(t)?,
        };
        heads.push((head, field(t, "Rows")?));
    }
    let kinds = kinds(&heads);
    let mut others = Vec::new();
    for ((mut head, rows), kind) in heads.into_iter().zip(kinds) {
        head.kind = kind;
        if head.kind == PRIMARY {
            sink.start(&head).map_err(malformed)?;
            feed(sink, rows)?;
        } else {
            let mut table = Table::new(head);
            table.rows = decode_rows(&table.columns, rows)?;
            others.push(table);
        }
    }
    match status_error(&others) {
        Some(err) => Err(err),
        None => Ok(others),
    }
}

/// With more than two tables, v1 appends a table of contents naming each table's kind;
/// otherwise the first table is the result.
fn kinds(tables: &[(TableHead, &Json)]) -> Vec<String> {
    let mut kinds = vec![String::new(); tables.len()];
    if let Some(((toc, rows), data)) = tables.split_last()
        && data.len() >= 2
        && let Some(kind_col) = toc.columns.iter().position(|c| c.name == "Kind")
        && let Ok(rows) = decode_rows(&toc.columns, rows)
        && rows.len() == data.len()
    {
        for (kind, row) in kinds.iter_mut().zip(&rows) {
            if let Value::String(k) = &row[kind_col] {
                *kind = match k.as_str() {
                    "QueryResult" => PRIMARY,
                    "QueryStatus" => COMPLETION_INFO,
                    other => other,
                }
                .to_owned();
            }
        }
        *kinds.last_mut().expect("a table of contents") = "TableOfContents".to_owned();
    } else {
        for (kind, name) in kinds.iter_mut().zip([PRIMARY, "QueryProperties"]) {
            *kind = name.to_owned();
        }
    }
    kinds
}
