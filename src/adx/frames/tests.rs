//! ADX answers decoded from responses recorded in Microsoft's SDK test suites and from
//! hand-made frames: types, nulls, progressive and v1 answers, and the errors inside them.

use super::*;
use chrono::{TimeDelta, TimeZone};
use serde_json::json;

/// Recorded responses from Microsoft's SDK test suites (origin and licence in the README there).
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/kusto/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

fn parse_fixture(name: &str) -> DataSet {
    parse(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32, nanos: i64) -> Value {
    let t = Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap() + TimeDelta::nanoseconds(nanos);
    Value::DateTime(t)
}

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn names(t: &Table) -> Vec<&str> {
    t.columns.iter().map(|c| c.name.as_str()).collect()
}

fn types(t: &Table) -> Vec<&str> {
    t.columns.iter().map(|c| c.ty.as_str()).collect()
}

fn kinds(ds: &DataSet) -> Vec<&str> {
    ds.tables.iter().map(|t| t.kind.as_str()).collect()
}

fn cell<'a>(t: &'a Table, row: usize, col: &str) -> &'a Value {
    &t.rows[row][t.column(col).unwrap_or_else(|| panic!("no column {col}"))]
}

fn expect_failed(result: Result<DataSet, FrameError>) -> (String, String) {
    match result {
        Err(FrameError::QueryFailed { code, message, .. }) => (code, message),
        other => panic!("expected QueryFailed, got {other:?}"),
    }
}

fn expect_malformed(result: Result<DataSet, FrameError>) -> String {
    match result {
        Err(FrameError::Malformed(msg)) => msg,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// Builds a minimal v2 response around `middle` frames.
fn v2(middle: Json, completion: Json) -> Vec<u8> {
    let mut frames = vec![json!({"FrameType": "DataSetHeader", "Version": "v2.0"})];
    frames.extend(middle.as_array().unwrap().iter().cloned());
    frames.push(completion);
    serde_json::to_vec(&frames).unwrap()
}

fn ok_completion() -> Json {
    json!({"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": false})
}

fn one_table(ty: &str, rows: Json) -> Vec<u8> {
    v2(
        json!([{"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult",
                "TableName": "PrimaryResult", "Columns": [{"ColumnName": "v", "ColumnType": ty}],
                "Rows": rows}]),
        ok_completion(),
    )
}

fn header(id: i64) -> Json {
    json!({"FrameType": "TableHeader", "TableId": id, "TableKind": "PrimaryResult",
           "TableName": "PrimaryResult", "Columns": [{"ColumnName": "A", "ColumnType": "int"}]})
}

fn fragment(id: i64, kind: &str, rows: Json) -> Json {
    json!({"FrameType": "TableFragment", "TableFragmentType": kind, "TableId": id, "Rows": rows})
}

fn table_completion(id: i64, count: u64) -> Json {
    json!({"FrameType": "TableCompletion", "TableId": id, "RowCount": count})
}

fn limits_error() -> Json {
    json!([{"error": {"code": "LimitsExceeded", "message": "Request is invalid and cannot be executed.",
                      "@message": "Query execution has exceeded the allowed limits", "@permanent": false}}])
}

#[test]
fn python_deft_decodes_every_column_type() {
    let ds = parse_fixture("python-deft.json");
    assert_eq!(kinds(&ds), ["QueryProperties", "PrimaryResult", "QueryCompletionInformation"]);
    let t = ds.primary().unwrap();
    assert_eq!((t.id, t.name.as_str()), (1, "Deft"));
    assert_eq!(
        names(t),
        [
            "rownumber",
            "rowguid",
            "xdouble",
            "xfloat",
            "xbool",
            "xint16",
            "xint32",
            "xint64",
            "xuint8",
            "xuint16",
            "xuint32",
            "xuint64",
            "xdate",
            "xsmalltext",
            "xtext",
            "xnumberAsText",
            "xtime",
            "xtextWithNulls",
            "xdynamicWithNulls"
        ]
    );
    assert_eq!(
        types(t),
        [
            "int", "string", "real", "real", "bool", "int", "int", "long", "long", "long", "long", "long",
            "datetime", "string", "string", "string", "timespan", "string", "dynamic"
        ]
    );
    assert_eq!(t.rows.len(), 11);

    // Row 0 is the all-null row; empty strings stay strings.
    assert_eq!(cell(t, 0, "rownumber"), &Value::Null);
    assert_eq!(cell(t, 0, "xdouble"), &Value::Null);
    assert_eq!(cell(t, 0, "xbool"), &Value::Null);
    assert_eq!(cell(t, 0, "xdate"), &Value::Null);
    assert_eq!(cell(t, 0, "xtime"), &Value::Null);
    assert_eq!(cell(t, 0, "rowguid"), &string(""));
    assert_eq!(cell(t, 0, "xdynamicWithNulls"), &Value::Dynamic(json!("")));

    assert_eq!(cell(t, 1, "xdouble"), &Value::Real(0.0));
    assert_eq!(cell(t, 1, "xdate"), &utc(2014, 1, 1, 1, 1, 1, 0));
    assert_eq!(cell(t, 2, "rownumber"), &Value::Int(1));
    assert_eq!(cell(t, 2, "rowguid"), &string("00000001-0000-0000-0001-020304050607"));
    assert_eq!(cell(t, 2, "xdouble"), &Value::Real(1.0001));
    assert_eq!(cell(t, 2, "xfloat"), &Value::Real(1.01));
    assert_eq!(cell(t, 2, "xbool"), &Value::Bool(true));
    assert_eq!(cell(t, 3, "xbool"), &Value::Bool(false));
    assert_eq!(cell(t, 2, "xuint64"), &Value::Int(1));
    // Seven fractional digits: the last one is 100ns.
    assert_eq!(cell(t, 2, "xdate"), &utc(2015, 1, 1, 1, 1, 1, 100));
    assert_eq!(cell(t, 10, "xdate"), &utc(2023, 1, 1, 1, 1, 1, 900));
    assert_eq!(cell(t, 2, "xtime"), &string("1.00:00:01.0010001"));
    assert_eq!(cell(t, 3, "xtime"), &string("-2.00:00:02.0020002"));
    assert_eq!(cell(t, 2, "xnumberAsText"), &string("1"));
    assert_eq!(cell(t, 2, "xdynamicWithNulls"), &Value::Dynamic(json!({"rowId": 1, "arr": [0, 1]})));

    let info = &ds.tables[2];
    assert_eq!(cell(info, 0, "Timestamp"), &utc(2018, 4, 30, 12, 25, 11, 77_806_700));
    assert_eq!(cell(info, 0, "Level"), &Value::Int(4));
}

#[test]
fn python_deft_with_progressive_result_ignores_table_progress() {
    let ds = parse_fixture("python-deft_with_progressive_result.json");
    assert_eq!(ds.tables.len(), 3);
    let plain = parse_fixture("python-deft.json");
    assert_eq!(ds.primary(), plain.primary());
}

#[test]
fn python_progressive_result_assembles_fragmented_table() {
    let ds = parse_fixture("python-progressive_result.json");
    assert_eq!(kinds(&ds), ["QueryProperties", "PrimaryResult", "QueryCompletionInformation"]);
    let t = ds.primary().unwrap();
    assert_eq!(t.columns.len(), 22);
    assert_eq!(t.rows.len(), 5);
    // Whole-second datetimes come without a fraction.
    assert_eq!(cell(t, 0, "StartTime"), &utc(2007, 1, 1, 0, 0, 0, 0));
    assert_eq!(cell(t, 1, "EndTime"), &utc(2007, 1, 1, 5, 0, 0, 0));
    assert_eq!(cell(t, 0, "EpisodeId"), &Value::Int(2592));
    assert_eq!(cell(t, 0, "State"), &string("NORTH CAROLINA"));
    assert_eq!(cell(t, 0, "BeginLat"), &Value::Real(35.52));
    assert_eq!(cell(t, 0, "BeginLon"), &Value::Real(-81.63));
    assert_eq!(cell(t, 1, "BeginLat"), &Value::Null);
    match cell(t, 0, "StormSummary") {
        Value::Dynamic(v) => assert_eq!(v["Details"]["Location"], "NORTH CAROLINA"),
        other => panic!("StormSummary decoded as {other:?}"),
    }
}

#[test]
fn python_dynamic_keeps_json_as_sent() {
    let ds = parse_fixture("python-dynamic.json");
    let t = ds.primary().unwrap();
    assert_eq!(types(t), ["dynamic"; 6]);
    assert_eq!(
        t.rows,
        [vec![
            Value::Dynamic(json!(123)),
            Value::Dynamic(json!("123")),
            Value::Dynamic(json!("test bad json")),
            Value::Null,
            // Kusto may send a dynamic as JSON text; it is not re-parsed.
            Value::Dynamic(json!("{\"rowId\":2,\"arr\":[0,2]}")),
            Value::Dynamic(json!({"rowId": 2, "arr": [0, 2]})),
        ]]
    );
}

#[test]
fn python_null_values_are_null_for_every_type() {
    let ds = parse_fixture("python-null_values.json");
    let t = ds.primary().unwrap();
    assert_eq!(t.name, "PrimaryResultName");
    assert_eq!(
        types(t),
        ["string", "int", "bool", "datetime", "dynamic", "guid", "long", "real", "timespan", "decimal"]
    );
    assert_eq!(t.rows, [vec![Value::Null; 10]]);
    assert_eq!(ds.tables[0].rows, [vec![Value::Null; 3]]);
}

#[test]
fn python_zero_results_has_empty_primary() {
    let ds = parse_fixture("python-zero_results.json");
    let t = ds.primary().unwrap();
    assert_eq!(names(t), ["print_0"]);
    assert_eq!(types(t), ["string"]);
    assert!(t.rows.is_empty());
}

#[test]
fn python_partial_results_in_data_row_fail() {
    let (code, message) = expect_failed(parse(&fixture("python-query_partial_results_defer_is_false.json")));
    assert_eq!(code, "LimitsExceeded");
    assert_eq!(message, "Query execution has exceeded the allowed limits (80DA0003): .");
}

#[test]
fn python_deferred_partial_results_fail_from_completion_information() {
    let (code, message) = expect_failed(parse(&fixture("python-query_partial_results_defer_is_true.json")));
    assert_eq!(code, "QueryLimitsExceeded");
    assert!(message.contains("E_QUERY_RESULT_SET_TOO_LARGE"), "{message}");
}

#[test]
fn go_v2_partial_error_in_table_completion_fails() {
    let (code, message) = expect_failed(parse(&fixture("go-v2-partialError.json")));
    assert_eq!(code, "LimitsExceeded");
    assert!(message.starts_with("Query execution has exceeded the allowed limits (80DA0003)"), "{message}");
}

fn all_data_types_row0() -> Vec<Value> {
    vec![
        Value::Int(1),
        Value::Real(2.00000000000001),
        utc(2020, 3, 4, 14, 5, 1, 310_996_500),
        string("01:23:45.6789000"),
        Value::Dynamic(json!({"moshe": "value"})),
        Value::Bool(true),
        Value::Real(0.01),
        string("asdf"),
        Value::Int(i64::MAX),
        string("123e27de-1e4e-49d9-b579-fe0b331d3642"),
    ]
}

#[test]
fn go_v2_valid_frames_assembles_fragments() {
    let ds = parse_fixture("go-v2-validFrames.json");
    assert_eq!(kinds(&ds), ["QueryProperties", "PrimaryResult", "QueryCompletionInformation"]);
    let t = ds.primary().unwrap();
    assert_eq!((t.id, t.name.as_str()), (1, "AllDataTypes"));
    assert_eq!(
        types(t),
        ["int", "decimal", "datetime", "timespan", "dynamic", "bool", "real", "string", "long", "guid"]
    );
    let mut nulls = vec![Value::Null; 10];
    nulls[7] = string("");
    assert_eq!(t.rows, [all_data_types_row0(), nulls]);
}

#[test]
fn go_v2_two_tables_keeps_both_primary_results() {
    let ds = parse_fixture("go-v2-twoTables.json");
    assert_eq!(
        kinds(&ds),
        ["QueryProperties", "PrimaryResult", "PrimaryResult", "QueryCompletionInformation"]
    );
    let first = ds.primary().unwrap();
    assert_eq!(first.id, 1);
    assert_eq!(first.rows, [[Value::Int(1)], [Value::Int(2)], [Value::Int(3)]]);
    let second = &ds.tables[2];
    assert_eq!(second.id, 2);
    assert_eq!(names(second), ["A", "B"]);
    assert_eq!(
        second.rows,
        [[string("a"), Value::Int(1)], [string("b"), Value::Int(2)], [string("c"), Value::Int(3)]]
    );
}

#[test]
fn go_v2_aliases_decode_like_canonical_types() {
    let ds = parse_fixture("go-v2-aliases.json");
    let t = ds.primary().unwrap();
    assert_eq!(
        types(t),
        ["int", "decimal", "date", "time", "dynamic", "boolean", "double", "string", "long", "uuid"]
    );
    assert_eq!(t.rows, [all_data_types_row0()]);
    let info = &ds.tables[2];
    assert_eq!(types(info)[..4], ["date", "string", "uuid", "uniqueid"]);
    assert_eq!(cell(info, 0, "Timestamp"), &utc(2023, 11, 26, 13, 34, 17, 73_147_800));
    assert_eq!(cell(info, 0, "SubActivityId"), &string("123e27de-1e4e-49d9-b579-fe0b331d3642"));
}

#[test]
fn go_v1_success_uses_table_of_contents() {
    let ds = parse_fixture("go-v1-success.json");
    assert_eq!(
        kinds(&ds),
        [
            "PrimaryResult",
            "PrimaryResult",
            "QueryProperties",
            "QueryCompletionInformation",
            "TableOfContents"
        ]
    );
    let t = ds.primary().unwrap();
    assert_eq!((t.id, t.name.as_str()), (0, "Table_0"));
    assert_eq!(names(t), ["a"]);
    assert_eq!(types(t), ["int"]);
    assert_eq!(t.rows, [[Value::Int(1)], [Value::Int(2)], [Value::Int(3)]]);
    assert_eq!(ds.tables[1].rows[2], [string("c"), Value::Int(3)]);
    let status = &ds.tables[3];
    assert_eq!(cell(status, 0, "Timestamp"), &utc(2023, 12, 3, 13, 17, 49, 483_295_600));
    assert_eq!(cell(status, 0, "StatusDescription"), &string("Query completed successfully"));
}

#[test]
fn go_v1_error_text_body() {
    let body = fixture("go-v1-error.txt");
    expect_malformed(parse(&body));
    assert_eq!(
        parse_service_error(&body),
        ServiceError {
            code: "General_BadRequest".into(),
            message: "General_BadRequest: Request is invalid and cannot be executed.".into(),
            permanent: None,
        }
    );
}

#[test]
fn go_v2_error_text_body() {
    let body = fixture("go-v2-error.txt");
    expect_malformed(parse(&body));
    assert_eq!(
        parse_service_error(&body),
        ServiceError {
            code: "Unknown".into(),
            message: "Bad request: Control commands (starting with a dot '.') do not support api_version=v2"
                .into(),
            permanent: None,
        }
    );
}

#[test]
fn duckdb_kql_sample_parses() {
    let body = br#"[{"FrameType": "DataSetHeader", "IsProgressive": false, "Version": "v2.0", "IsFragmented": false, "ErrorReportingPlacement": "InData"}, {"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult", "TableName": "PrimaryResult", "Columns": [{"ColumnName": "PlayerID", "ColumnType": "int"}, {"ColumnName": "Score", "ColumnType": "real"}, {"ColumnName": "Win", "ColumnType": "long"}, {"ColumnName": "Stake", "ColumnType": "int"}, {"ColumnName": "GameID", "ColumnType": "int"}, {"ColumnName": "EventTime", "ColumnType": "datetime"}], "Rows": [[5, 10.333333333333334, 31, 3, 1, "2026-11-02T08:00:01.123456Z"]]}, {"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": false}]"#;
    let ds = parse(body).unwrap();
    let t = ds.primary().unwrap();
    assert_eq!(names(t), ["PlayerID", "Score", "Win", "Stake", "GameID", "EventTime"]);
    assert_eq!(t.column("EventTime"), Some(5));
    assert_eq!(t.column("Missing"), None);
    assert_eq!(
        t.rows,
        [[
            Value::Int(5),
            Value::Real(10.333333333333334),
            Value::Int(31),
            Value::Int(3),
            Value::Int(1),
            utc(2026, 11, 2, 8, 0, 1, 123_456_000),
        ]]
    );
}

#[test]
fn truncated_recorded_stream_is_malformed() {
    let mut frames: Vec<Json> = serde_json::from_slice(&fixture("go-v2-validFrames.json")).unwrap();
    assert_eq!(frames.pop().unwrap()["FrameType"], "DataSetCompletion");
    let msg = expect_malformed(parse(&serde_json::to_vec(&frames).unwrap()));
    assert!(msg.contains("DataSetCompletion"), "{msg}");
}

#[test]
fn stream_cut_inside_a_fragmented_table_is_malformed() {
    let body = serde_json::to_vec(&json!([
        {"FrameType": "DataSetHeader"},
        header(1),
        fragment(1, "DataAppend", json!([[1]])),
    ]))
    .unwrap();
    expect_malformed(parse(&body));
}

#[test]
fn has_errors_without_details_fails() {
    let body =
        v2(json!([]), json!({"FrameType": "DataSetCompletion", "HasErrors": true, "Cancelled": false}));
    let (code, _) = expect_failed(parse(&body));
    assert_eq!(code, "Unknown");
}

#[test]
fn one_api_errors_in_dataset_completion_fail() {
    let body = v2(
        json!([]),
        json!({"FrameType": "DataSetCompletion", "HasErrors": true, "OneApiErrors": limits_error()}),
    );
    assert_eq!(
        expect_failed(parse(&body)),
        ("LimitsExceeded".into(), "Query execution has exceeded the allowed limits".into())
    );
}

#[test]
fn cancelled_query_is_cancelled() {
    let body =
        v2(json!([]), json!({"FrameType": "DataSetCompletion", "HasErrors": false, "Cancelled": true}));
    assert!(matches!(parse(&body), Err(FrameError::Cancelled)));
}

#[test]
fn error_row_inside_a_fragment_fails() {
    let body = v2(
        json!([header(1), fragment(1, "DataAppend", json!([[1], {"OneApiErrors": limits_error()}]))]),
        ok_completion(),
    );
    assert_eq!(expect_failed(parse(&body)).0, "LimitsExceeded");
}

#[test]
fn object_row_without_errors_is_malformed() {
    expect_malformed(parse(&one_table("int", json!([{"x": 1}]))));
}

#[test]
fn data_replace_replaces_rows() {
    let body = v2(
        json!([
            header(1),
            fragment(1, "DataAppend", json!([[1], [2]])),
            {"FrameType": "TableProgress", "TableId": 1, "TableProgress": 50.0},
            fragment(1, "DataReplace", json!([[7], [8], [9]])),
            table_completion(1, 3),
        ]),
        ok_completion(),
    );
    let ds = parse(&body).unwrap();
    assert_eq!(ds.primary().unwrap().rows, [[Value::Int(7)], [Value::Int(8)], [Value::Int(9)]]);
}

#[test]
fn row_count_mismatch_is_malformed() {
    let body = v2(
        json!([header(1), fragment(1, "DataAppend", json!([[1]])), table_completion(1, 2)]),
        ok_completion(),
    );
    expect_malformed(parse(&body));
}

#[test]
fn fragment_for_another_table_is_malformed() {
    let body = v2(
        json!([header(1), fragment(2, "DataAppend", json!([[1]])), table_completion(1, 1)]),
        ok_completion(),
    );
    expect_malformed(parse(&body));
}

#[test]
fn unknown_fragment_type_is_malformed() {
    let body = v2(
        json!([header(1), fragment(1, "DataPrepend", json!([[1]])), table_completion(1, 1)]),
        ok_completion(),
    );
    expect_malformed(parse(&body));
}

#[test]
fn frame_order_violations_are_malformed() {
    let table = json!({"FrameType": "DataTable", "TableId": 1, "TableKind": "PrimaryResult",
                       "TableName": "t", "Columns": [], "Rows": []});
    let no_header = serde_json::to_vec(&json!([table.clone(), ok_completion()])).unwrap();
    expect_malformed(parse(&no_header));
    let after_completion = serde_json::to_vec(&json!([
        {"FrameType": "DataSetHeader"}, ok_completion(), table.clone()
    ]))
    .unwrap();
    expect_malformed(parse(&after_completion));
    let unknown = v2(json!([{"FrameType": "Mystery"}]), ok_completion());
    expect_malformed(parse(&unknown));
    let nested = v2(json!([header(1), table]), ok_completion());
    expect_malformed(parse(&nested));
}

#[test]
fn row_width_mismatch_is_malformed() {
    let msg = expect_malformed(parse(&one_table("int", json!([[1, 2]]))));
    assert!(msg.contains("2 cells for 1 columns"), "{msg}");
}

#[test]
fn badly_typed_values_are_malformed() {
    for (ty, raw) in [
        ("int", json!("1")),
        ("long", json!(1.5)),
        ("real", json!("not a number")),
        ("bool", json!("true")),
        ("datetime", json!("yesterday")),
        ("string", json!(1)),
    ] {
        expect_malformed(parse(&one_table(ty, json!([[raw]]))));
    }
}

#[test]
fn special_reals_and_datetimes_decode() {
    let ds = parse(&one_table("real", json!([["NaN"], ["Infinity"], ["-Infinity"], [1.5], [2], ["3.25"]])))
        .unwrap();
    let col: Vec<f64> = ds
        .primary()
        .unwrap()
        .rows
        .iter()
        .map(|r| match r[0] {
            Value::Real(x) => x,
            ref other => panic!("{other:?}"),
        })
        .collect();
    assert!(col[0].is_nan());
    assert_eq!(col[1..], [f64::INFINITY, f64::NEG_INFINITY, 1.5, 2.0, 3.25]);

    let ds = parse(&one_table(
        "datetime",
        json!([
            ["2016-06-06T15:35:00Z"],
            ["2026-11-02T08:00:01.123456Z"],
            ["2026-11-02T08:00:01.1234567Z"],
            ["2026-11-02T08:00:01"]
        ]),
    ))
    .unwrap();
    let t = ds.primary().unwrap();
    let rows: Vec<&Value> = t.rows.iter().map(|r| &r[0]).collect();
    assert_eq!(
        rows,
        [
            &utc(2016, 6, 6, 15, 35, 0, 0),
            &utc(2026, 11, 2, 8, 0, 1, 123_456_000),
            &utc(2026, 11, 2, 8, 0, 1, 123_456_700),
            &utc(2026, 11, 2, 8, 0, 1, 0),
        ]
    );
}

#[test]
fn completion_information_warning_does_not_fail_but_error_does() {
    let info = |level: i64| {
        v2(
            json!([{"FrameType": "DataTable", "TableId": 2, "TableKind": "QueryCompletionInformation",
                    "TableName": "QueryCompletionInformation",
                    "Columns": [{"ColumnName": "Level", "ColumnType": "int"},
                                {"ColumnName": "StatusCodeName", "ColumnType": "string"},
                                {"ColumnName": "EventTypeName", "ColumnType": "string"}],
                    "Rows": [[4, "S_OK (0)", "QueryInfo"], [level, "Something (1)", "QueryThing"]]}]),
            ok_completion(),
        )
    };
    assert!(parse(&info(3)).is_ok());
    assert_eq!(expect_failed(parse(&info(2))), ("QueryThing".into(), "Something (1)".into()));
}

#[test]
fn v1_exceptions_fail() {
    let body = serde_json::to_vec(&json!({
        "Tables": [{"TableName": "Table_0", "Columns": [{"ColumnName": "a", "ColumnType": "int"}], "Rows": [[1]]}],
        "Exceptions": ["Query execution has exceeded the allowed limits (80DA0003): partial results"]
    }))
    .unwrap();
    let (code, message) = expect_failed(parse(&body));
    assert_eq!(code, "Unknown");
    assert!(message.starts_with("Query execution has exceeded"), "{message}");
}

#[test]
fn v1_without_table_of_contents_takes_first_table() {
    let body = serde_json::to_vec(&json!({"Tables": [
        {"TableName": "Table_0", "Columns": [{"ColumnName": "a", "DataType": "Int32"}], "Rows": [[1]]}
    ]}))
    .unwrap();
    let ds = parse(&body).unwrap();
    let t = ds.primary().unwrap();
    assert_eq!(types(t), ["int32"]);
    assert_eq!(t.rows, [[Value::Int(1)]]);
}

#[test]
fn non_response_bodies_are_malformed() {
    expect_malformed(parse(b"not json"));
    expect_malformed(parse(b"42"));
    expect_malformed(parse(b"[]"));
    expect_malformed(parse(br#"{"Something": []}"#));
}

#[test]
fn json_error_object_in_a_200_fails() {
    let body = br#"{"error": {"code": "BadRequest_SyntaxError", "message": "Syntax error"}}"#;
    assert_eq!(expect_failed(parse(body)), ("BadRequest_SyntaxError".into(), "Syntax error".into()));
}

#[test]
fn json_service_error_prefers_at_message_and_reads_permanent() {
    let body =
        br#"{"error": {"code": "LimitsExceeded", "message": "Request is invalid and cannot be executed.",
        "@type": "Kusto.DataNode.Exceptions.KustoQueryRunawayException",
        "@message": "Query execution lacks memory resources", "@permanent": true, "@context": {}}}"#;
    assert_eq!(
        parse_service_error(body),
        ServiceError {
            code: "LimitsExceeded".into(),
            message: "Query execution lacks memory resources".into(),
            permanent: Some(true),
        }
    );
    let plain = br#"{"error": {"code": "Forbidden", "message": "Principal is not authorized"}}"#;
    assert_eq!(
        parse_service_error(plain),
        ServiceError {
            code: "Forbidden".into(),
            message: "Principal is not authorized".into(),
            permanent: None,
        }
    );
}

#[test]
fn service_error_never_panics_and_truncates() {
    let empty = parse_service_error(b"");
    assert_eq!((empty.code.as_str(), empty.message.as_str()), ("Unknown", ""));
    let binary = parse_service_error(&[0xff, 0xfe, b':', 0x00]);
    assert_eq!(binary.code, "Unknown");
    let long = format!("Throttled: {}\nsecond line", "é".repeat(MAX_MESSAGE_CHARS));
    let err = parse_service_error(long.as_bytes());
    assert_eq!(err.code, "Throttled");
    assert_eq!(err.message.chars().count(), MAX_MESSAGE_CHARS);
    assert!(!err.message.contains("second line"));
}
