//! The v2 frame array, read frame by frame. A frame is an object whose `Rows` usually come after
//! its `FrameType`, `TableId`, `TableKind`, `TableName` and `Columns` (Kusto writes them in that
//! order): then a result table's rows stream straight to the sink as they are parsed. Should
//! `Rows` come first, they are held as JSON until the frame ends and fed to the sink then.

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;

use super::{
    FrameError, PRIMARY, Rows, Sink, Table, TableHead, column, decode_rows, errors, fail, feed, malformed,
    query_failed, status_error,
};

/// The table whose fragments are arriving.
struct Open {
    head: TableHead,
    /// Rows so far (after the last `DataReplace`).
    rows: u64,
    /// A table that is not a result is kept here; a result's rows went to the sink.
    kept: Option<Table>,
}

pub(super) struct Frames<'a, S> {
    sink: &'a mut S,
    failure: &'a mut Option<FrameError>,
    /// Frames read so far.
    index: usize,
    /// Tables that are not results.
    tables: Vec<Table>,
    open: Option<Open>,
    done: bool,
}

/// What one frame said.
#[derive(Default)]
struct Fields {
    frame_type: Option<String>,
    table_id: Option<i64>,
    kind: Option<String>,
    name: Option<String>,
    fragment_type: Option<String>,
    columns: Option<Vec<super::Column>>,
    /// Rows held as JSON, when they could not go to the sink as they were read.
    rows: Option<Json>,
    /// Rows fed to the sink as they were read, and how many.
    streamed: Option<u64>,
    errors: Option<Json>,
    has_errors: bool,
    cancelled: bool,
    row_count: Option<u64>,
}

impl<'a, S: Sink> Frames<'a, S> {
    pub fn new(sink: &'a mut S, failure: &'a mut Option<FrameError>) -> Self {
        Self { sink, failure, index: 0, tables: Vec::new(), open: None, done: false }
    }

    pub fn read<'de, A: SeqAccess<'de>>(mut self, mut frames: A) -> Result<Vec<Table>, A::Error> {
        while frames.next_element_seed(Frame(&mut self))?.is_some() {}
        if !self.done {
            return Err(fail(self.failure, malformed("stream ended without a DataSetCompletion frame")));
        }
        Ok(self.tables)
    }

    /// Whether the rows of the frame described so far can go to the sink as they are read: a
    /// whole result table in a valid position, or a fragment of the open result table. Starts
    /// the table, or applies a `DataReplace`, when so.
    fn stream_now(&mut self, f: &Fields) -> Result<bool, String> {
        let (Some(kind), Some(id)) = (f.frame_type.as_deref(), f.table_id) else { return Ok(false) };
        match kind {
            "DataTable" if self.index > 0 && self.open.is_none() && f.kind.as_deref() == Some(PRIMARY) => {
                let (Some(name), Some(columns)) = (&f.name, &f.columns) else { return Ok(false) };
                let head =
                    TableHead { id, kind: PRIMARY.into(), name: name.clone(), columns: columns.clone() };
                self.sink.start(&head)?;
                Ok(true)
            }
            "TableFragment" => {
                let Some(open) = self.open.as_mut().filter(|o| o.head.id == id && o.kept.is_none()) else {
                    return Ok(false);
                };
                match f.fragment_type.as_deref() {
                    Some("DataAppend") => Ok(true),
                    Some("DataReplace") => {
                        self.sink.replace();
                        open.rows = 0;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            }
            _ => Ok(false),
        }
    }

    /// Applies a frame once it has been read whole.
    fn finish(&mut self, f: Fields) -> Result<(), FrameError> {
        let kind = f.frame_type.clone().ok_or_else(|| malformed("a frame has no FrameType"))?;
        if (self.index == 0) != (kind == "DataSetHeader") || self.done {
            return Err(malformed(format!("unexpected {kind} frame at position {}", self.index)));
        }
        self.index += 1;
        match kind.as_str() {
            "DataSetHeader" | "TableProgress" => Ok(()),
            "DataTable" | "TableHeader" => self.table(&kind, f),
            "TableFragment" => self.fragment(f),
            "TableCompletion" => self.table_completion(f),
            "DataSetCompletion" => self.completion(f),
            other => Err(malformed(format!("unknown frame type {other}"))),
        }
    }

    fn table(&mut self, kind: &str, f: Fields) -> Result<(), FrameError> {
        if self.open.is_some() {
            return Err(malformed(format!("{kind} inside an unfinished table")));
        }
        let missing = |what: &str| malformed(format!("{kind} frame without {what}"));
        let head = TableHead {
            id: f.table_id.ok_or_else(|| missing("TableId"))?,
            kind: f.kind.ok_or_else(|| missing("TableKind"))?,
            name: f.name.ok_or_else(|| missing("TableName"))?,
            columns: f.columns.ok_or_else(|| missing("Columns"))?,
        };
        let result = head.kind == PRIMARY;
        if kind == "TableHeader" {
            if result {
                self.sink.start(&head).map_err(malformed)?;
            }
            let kept = (!result).then(|| Table::new(head.clone()));
            self.open = Some(Open { head, rows: 0, kept });
            return Ok(());
        }
        match (result, f.streamed, f.rows) {
            (true, Some(_), _) => Ok(()),
            (true, None, Some(rows)) => {
                self.sink.start(&head).map_err(malformed)?;
                feed(&mut *self.sink, &rows).map(drop)
            }
            (false, _, Some(rows)) => {
                let mut table = Table::new(head);
                table.rows = decode_rows(&table.columns, &rows)?;
                self.tables.push(table);
                Ok(())
            }
            (_, _, None) => Err(missing("Rows")),
        }
    }

    fn fragment(&mut self, f: Fields) -> Result<(), FrameError> {
        let id = f.table_id.ok_or_else(|| malformed("TableFragment frame without TableId"))?;
        self.open_table(id, "TableFragment")?;
        let streamed = match (f.streamed, f.rows) {
            (Some(n), _) => n,
            (None, None) => return Err(malformed("TableFragment frame without Rows")),
            (None, Some(rows)) => {
                let replace = match f.fragment_type.as_deref() {
                    Some("DataAppend") => false,
                    Some("DataReplace") => true,
                    other => return Err(malformed(format!("unknown fragment type {other:?}"))),
                };
                let open = self.open.as_mut().expect("checked open");
                if let Some(kept) = &mut open.kept {
                    let rows = decode_rows(&kept.columns, &rows)?;
                    if replace {
                        kept.rows.clear();
                        open.rows = 0;
                    }
                    open.rows += rows.len() as u64;
                    kept.rows.extend(rows);
                    return Ok(());
                }
                if replace {
                    self.sink.replace();
                    open.rows = 0;
                }
                feed(&mut *self.sink, &rows)?
            }
        };
        self.open.as_mut().expect("checked open").rows += streamed;
        Ok(())
    }

    fn table_completion(&mut self, f: Fields) -> Result<(), FrameError> {
        let id = f.table_id.ok_or_else(|| malformed("TableCompletion frame without TableId"))?;
        self.open_table(id, "TableCompletion")?;
        errors(f.errors.as_ref())?;
        let open = self.open.take().expect("checked open");
        // A row count that disagrees means fragments went missing.
        if let Some(n) = f.row_count
            && n != open.rows
        {
            return Err(malformed(format!("table {id} announced {n} rows, got {}", open.rows)));
        }
        self.tables.extend(open.kept);
        Ok(())
    }

    fn completion(&mut self, f: Fields) -> Result<(), FrameError> {
        if self.open.is_some() {
            return Err(malformed("DataSetCompletion inside an unfinished table"));
        }
        self.done = true;
        if f.cancelled {
            return Err(FrameError::Cancelled);
        }
        errors(f.errors.as_ref())?;
        // Deferred partial failures carry their details only in the completion-information table.
        if let Some(err) = status_error(&self.tables) {
            return Err(err);
        }
        if f.has_errors {
            return Err(query_failed("Unknown", "the query reported errors"));
        }
        Ok(())
    }

    fn open_table(&self, id: i64, kind: &str) -> Result<(), FrameError> {
        match &self.open {
            Some(open) if open.head.id == id => Ok(()),
            _ => Err(malformed(format!("{kind} for table {id}, which is not open"))),
        }
    }
}

/// One frame of the array.
struct Frame<'f, 'a, S>(&'f mut Frames<'a, S>);

impl<'de, S: Sink> DeserializeSeed<'de> for Frame<'_, '_, S> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        de.deserialize_map(self)
    }
}

impl<'de, S: Sink> Visitor<'de> for Frame<'_, '_, S> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a frame object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let frames = self.0;
        let mut f = Fields::default();
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "FrameType" => f.frame_type = Some(map.next_value()?),
                "TableId" => f.table_id = map.next_value()?,
                "TableKind" => f.kind = map.next_value()?,
                "TableName" => f.name = map.next_value()?,
                "TableFragmentType" => f.fragment_type = map.next_value()?,
                "Columns" => {
                    let raw: Vec<Json> = map.next_value()?;
                    let columns = raw.iter().map(column).collect::<Result<_, _>>();
                    f.columns = Some(columns.map_err(|e| fail(frames.failure, e))?);
                }
                "Rows" => match frames.stream_now(&f) {
                    Ok(true) => {
                        let rows = Rows { sink: &mut *frames.sink, failure: &mut *frames.failure };
                        f.streamed = Some(map.next_value_seed(rows)?);
                    }
                    Ok(false) => f.rows = Some(map.next_value()?),
                    Err(e) => return Err(fail(frames.failure, malformed(e))),
                },
                "OneApiErrors" => f.errors = Some(map.next_value()?),
                "HasErrors" => f.has_errors = map.next_value::<Option<bool>>()? == Some(true),
                "Cancelled" => f.cancelled = map.next_value::<Option<bool>>()? == Some(true),
                "RowCount" => f.row_count = map.next_value()?,
                _ => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        frames.finish(f).map_err(|e| fail(frames.failure, e))
    }
}
