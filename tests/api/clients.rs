//! The OpenAPI document as clients use it, as it is: what Postman, Swagger UI and generators
//! need from it (servers, examples, short summaries, the optional bearer token, problem
//! examples), and then the real thing against the binary's zero-config demo: Postman's converter
//! and runner (`tests/clients/clients.mjs`: openapi-to-postmanv2, newman) with nothing set but
//! the base URL, the streams it lists opened here, and a TypeScript client compiled against the
//! types openapi-typescript generates.

use std::collections::BTreeSet;
use std::path::Path;

use leaderboard::cli::ServeArgs;
use leaderboard::http::DEFAULT_LISTEN;
use serde_json::Value;

use crate::common::eventually;
use crate::common::process::Server;
use crate::common::sse::EventStream;

/// The document's operations: (method, path, operation).
fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let paths = document["paths"].as_object().expect("paths");
    let each = paths.iter().flat_map(|(path, item)| {
        let methods = item.as_object().expect("a path item");
        methods.iter().map(move |(method, operation)| (method.clone(), path.clone(), operation))
    });
    each.collect()
}

fn is_stream(operation: &Value) -> bool {
    operation["responses"]["200"]["content"].get("text/event-stream").is_some()
}

/// The summaries of the streams (`true`) or of the other operations, which Postman names
/// requests with.
fn summaries(document: &Value, streams: bool) -> BTreeSet<String> {
    let operations = operations(document).into_iter().filter(|(_, _, op)| is_stream(op) == streams);
    operations.map(|(_, _, op)| op["summary"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn the_document_has_what_clients_need_as_it_is() {
    let document = serde_json::to_value(leaderboard::http::openapi()).unwrap();
    assert_eq!(document["servers"][0]["url"], "http://127.0.0.1:8080");
    assert_eq!(document["servers"][0]["url"], format!("http://{DEFAULT_LISTEN}"));
    let players = ServeArgs::try_parse_from(["leaderboard"]).unwrap().embedded.simulate_players;
    for (method, path, op) in operations(&document) {
        let name = format!("{method} {path}");
        let summary = op["summary"].as_str().unwrap_or_default();
        let short = !summary.is_empty() && summary.len() <= 40 && !summary.contains('\n');
        assert!(short && !summary.ends_with('.'), "{name}: a short phrase as summary: {summary:?}");
        assert!(op["description"].as_str().is_some_and(|d| d.len() > summary.len()), "{name}: a description");
        for parameter in op["parameters"].as_array().into_iter().flatten() {
            let example = &parameter["example"];
            assert!(!example.is_null(), "{name}: {} has an example", parameter["name"]);
            let player_ids: Vec<i64> = match parameter["name"].as_str().unwrap() {
                "playerId" => vec![example.as_i64().unwrap()],
                "ids" => example.as_array().unwrap().iter().map(|id| id.as_i64().unwrap()).collect(),
                _ => vec![],
            };
            for id in player_ids {
                assert!((1..=i64::from(players)).contains(&id), "{name}: {id} is a simulated player");
            }
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            let code: u64 = status.parse().unwrap();
            if code < 400 {
                continue;
            }
            let problem = &response["content"]["application/problem+json"];
            assert_eq!(problem["schema"]["$ref"], "#/components/schemas/Problem", "{name} {code}");
            assert_eq!(problem["example"]["status"].as_u64(), Some(code), "{name} {code}: an example");
            assert!(problem["example"]["type"].as_str().unwrap().starts_with("urn:leaderboard:problem:"));
        }
        // The ingest token, optional (the demo has none), and on POST /events alone.
        let security = (path == "/events").then(|| serde_json::json!([{"ingestToken": []}, {}]));
        assert_eq!(op.get("security"), security.as_ref(), "{name}: security");
    }
    assert!(
        document["paths"]["/events"]["post"]["requestBody"]["content"]["application/json"]["example"]
            .is_array()
    );
    let scheme = &document["components"]["securitySchemes"]["ingestToken"];
    assert_eq!((&scheme["type"], &scheme["scheme"]), (&"http".into(), &"bearer".into()));
    assert!(document.get("security").is_none(), "no token anywhere else");
    let mut refs = vec![];
    references(&document, &mut refs);
    for reference in refs {
        let name = reference.strip_prefix("#/components/schemas/").unwrap();
        assert!(document["components"]["schemas"].get(name).is_some(), "{reference} is in the document");
    }
}

/// Every `$ref` in `value`.
fn references<'a>(value: &'a Value, found: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            found.extend(map.get("$ref").and_then(Value::as_str));
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

#[tokio::test]
async fn postman_runs_the_document_on_the_demo_and_a_generated_client_compiles() {
    let dir = tempfile::tempdir().unwrap();
    // `cargo run`'s demo, as it is: no flags (its store goes under the temporary directory).
    let server = Server::start(dir.path(), &[]);
    let client = reqwest::Client::new();
    eventually("the demo is ready and its live board has players", || async {
        let ready =
            client.get(format!("{}/readyz", server.base)).send().await.is_ok_and(|r| r.status() == 200);
        let top = client.get(format!("{}/campaigns/demo-live/top", server.base)).send().await;
        let board: Option<Value> = match top {
            Ok(r) if ready && r.status() == 200 => r.json().await.ok(),
            _ => None,
        };
        board.is_some_and(|b| b["total"].as_u64() > Some(0))
    })
    .await;

    let out = root().join("target/clients");
    let _ = std::fs::remove_dir_all(&out);
    let run = tokio::process::Command::new("node")
        .arg(root().join("tests/clients/clients.mjs"))
        .args([server.base.as_str(), out.to_str().unwrap()])
        .output()
        .await
        .expect("node runs (tests/run.sh installs what the clients' test needs)");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "the clients' run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{stdout}");

    let document = read(&out, "openapi.json");
    let collection = read(&out, "collection.json");
    let base_url = collection["variable"].as_array().unwrap().iter().find(|v| v["key"] == "baseUrl").unwrap();
    assert_eq!(
        base_url["value"], "http://127.0.0.1:8080",
        "the collection's base URL is the document's server"
    );
    let ingest = requests(&collection).into_iter().find(|r| r["request"]["method"] == "POST").unwrap();
    assert_eq!(ingest["request"]["auth"]["type"], "bearer", "Postman's POST /events offers the token");
    newman_answered_every_operation(&read(&out, "newman.json"), &document, &server.base);
    streams_answer_a_first_event(&read(&out, "streams.json"), &document, &server.base).await;
    assert!(stdout.contains("ok: client.ts compiles against the generated types"), "{stdout}");
}

/// Every operation but the streams ran once, named by its summary, sent to the test's server
/// (not to the document's 127.0.0.1:8080), and answered 2xx.
fn newman_answered_every_operation(report: &Value, document: &Value, base: &str) {
    let run = &report["run"];
    assert_eq!(run["failures"].as_array().unwrap().len(), 0, "newman's failures: {:#}", run["failures"]);
    let executions = run["executions"].as_array().unwrap();
    let names: Vec<String> =
        executions.iter().map(|e| e["item"]["name"].as_str().unwrap().to_owned()).collect();
    let expected = summaries(document, false);
    assert_eq!(names.len(), expected.len(), "one request per operation: {names:?}");
    assert_eq!(names.iter().cloned().collect::<BTreeSet<_>>(), expected);
    let authority = base.strip_prefix("http://").unwrap();
    for execution in executions {
        let name = &execution["item"]["name"];
        let url = &execution["request"]["url"];
        let host = url["host"].as_array().unwrap().iter().map(|h| h.as_str().unwrap()).collect::<Vec<_>>();
        assert_eq!(format!("{}:{}", host.join("."), url["port"].as_str().unwrap()), authority, "{name}");
        let code = execution["response"]["code"].as_u64().unwrap();
        let body: Vec<u8> = serde_json::from_value(execution["response"]["stream"]["data"].clone()).unwrap();
        let body = String::from_utf8_lossy(&body);
        assert!((200..300).contains(&code), "{name}: {url} answered {code}: {body}");
    }
}

/// Each stream's request, as the collection has it, answers `text/event-stream` with a first
/// event: the demo's live answer.
async fn streams_answer_a_first_event(streams: &Value, document: &Value, base: &str) {
    let streams = streams.as_array().unwrap();
    let names: BTreeSet<String> = streams.iter().map(|s| s["name"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, summaries(document, true));
    let client = reqwest::Client::new();
    for stream in streams {
        let url = stream["url"].as_str().unwrap();
        assert!(url.starts_with(&format!("{base}/")), "{url}");
        let resume = stream["headers"]["Last-Event-ID"].as_str();
        assert!(resume.is_some(), "{url}: the collection sends the example Last-Event-ID");
        let event = EventStream::open(&client, url, resume).await.next().await;
        assert!(["board", "player"].contains(&event.name.as_str()), "{url}: {event:?}");
        let answer: Value = serde_json::from_str(&event.data).unwrap();
        assert_eq!(answer["campaign"]["id"], "demo-live", "{url}");
    }
}

/// The requests of a collection, out of their folders.
fn requests(items: &Value) -> Vec<&Value> {
    let items = items["item"].as_array().into_iter().flatten();
    items.flat_map(|item| if item.get("item").is_some() { requests(item) } else { vec![item] }).collect()
}

fn read(dir: &Path, name: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    serde_json::from_str(&text).unwrap()
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}
