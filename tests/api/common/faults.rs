//! A fault-injecting Kusto endpoint: an HTTP/1.1 proxy in front of a real engine that can
//! delay, throttle, fail, reset or corrupt answers on demand, and counts the queries it sees.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    None,
    /// Answer correctly, after a while.
    Delay(Duration),
    /// HTTP 429 with `Retry-After: <secs>`.
    Throttle(u64),
    /// HTTP 503 with a non-permanent Kusto error body.
    Unavailable,
    /// HTTP 400 with a permanent Kusto error body.
    Permanent,
    /// Close the connection with a TCP reset before answering.
    Reset,
    /// A 200 whose body is not JSON.
    Malformed,
    /// A 200 whose frames carry OneApiErrors in a row (InData placement).
    ErrorInRow,
    /// A 200 whose TableCompletion carries OneApiErrors.
    ErrorInTableCompletion,
    /// A 200 whose DataSetCompletion carries OneApiErrors and HasErrors.
    ErrorInDataSetCompletion,
    /// As `ErrorInDataSetCompletion`, with an error marked `@permanent: false`.
    TransientInStream,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub url: String,
    fault: Arc<Mutex<Fault>>,
    /// Faults for the next queries, one each, before the standing `fault` applies again.
    queued: Arc<Mutex<std::collections::VecDeque<Fault>>>,
    queries: Arc<AtomicUsize>,
    texts: Arc<Mutex<Vec<String>>>,
    /// Each query text answered with the size of its answer's body, as answers end.
    exchanges: Arc<Mutex<Vec<(String, usize)>>>,
    /// Queries being answered now, and the most ever at once.
    active: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
}

impl FaultProxy {
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let proxy = Self {
            url,
            fault: Arc::new(Mutex::new(Fault::None)),
            queued: Arc::default(),
            queries: Arc::default(),
            texts: Arc::default(),
            exchanges: Arc::default(),
            active: Arc::default(),
            peak: Arc::default(),
        };
        let me = proxy.clone();
        let client = reqwest::Client::new();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let (me, client, upstream) = (me.clone(), client.clone(), upstream.clone());
                tokio::spawn(async move { me.serve(socket, &client, &upstream).await });
            }
        });
        proxy
    }

    pub fn set(&self, fault: Fault) {
        *self.fault.lock().unwrap() = fault;
    }

    /// The next queries get these faults, one each; then the standing fault applies again.
    pub fn queue(&self, faults: impl IntoIterator<Item = Fault>) {
        self.queued.lock().unwrap().extend(faults);
    }

    /// Queries received so far (whatever was answered).
    pub fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }

    /// Queries being answered now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// The most queries that were being answered at the same time.
    pub fn peak_concurrency(&self) -> usize {
        self.peak.load(Ordering::SeqCst)
    }

    /// The query texts (`csl`) received so far, in order.
    pub fn texts(&self) -> Vec<String> {
        self.texts.lock().unwrap().clone()
    }

    /// Each query text answered with the size of its answer's body, as answers ended.
    pub fn exchanges(&self) -> Vec<(String, usize)> {
        self.exchanges.lock().unwrap().clone()
    }

    async fn serve(&self, mut socket: TcpStream, client: &reqwest::Client, upstream: &str) {
        while let Some((path, body)) = read_request(&mut socket).await {
            let active = self.active.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(active, Ordering::SeqCst);
            let answered = self.answer(&mut socket, client, upstream, path, body).await;
            self.active.fetch_sub(1, Ordering::SeqCst);
            if !answered {
                return;
            }
        }
    }

    /// Answers one query as the current fault says; false when the connection is done.
    async fn answer(
        &self,
        socket: &mut TcpStream,
        client: &reqwest::Client,
        upstream: &str,
        path: String,
        body: Vec<u8>,
    ) -> bool {
        self.queries.fetch_add(1, Ordering::SeqCst);
        let csl = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|request| request["csl"].as_str().map(str::to_owned));
        if let Some(csl) = &csl {
            self.texts.lock().unwrap().push(csl.clone());
        }
        let queued = self.queued.lock().unwrap().pop_front();
        let fault = queued.unwrap_or_else(|| self.fault.lock().unwrap().clone());
        let (status, extra, body) = match fault {
            Fault::Reset => {
                // Linger 0 is the point: closing then sends a TCP reset.
                #[allow(deprecated)]
                socket.set_linger(Some(Duration::ZERO)).unwrap();
                return false;
            }
            Fault::Throttle(secs) => {
                (429, format!("Retry-After: {secs}\r\n"), kusto_error("TooManyRequests", false))
            }
            Fault::Unavailable => (503, String::new(), kusto_error("ServiceUnavailable", false)),
            Fault::Permanent => (400, String::new(), kusto_error("BadRequest_SyntaxError", true)),
            Fault::Malformed => (200, String::new(), "[{\"FrameType\": \"DataSetHeader\", oops".into()),
            Fault::ErrorInRow => (200, String::new(), frames(ROW_ERROR, COMPLETION_OK, DATASET_OK)),
            Fault::ErrorInTableCompletion => (200, String::new(), frames("", COMPLETION_ERROR, DATASET_OK)),
            Fault::ErrorInDataSetCompletion => (200, String::new(), frames("", COMPLETION_OK, DATASET_ERROR)),
            Fault::TransientInStream => {
                let dataset = DATASET_ERROR.replace("ONE", &ONE_API_ERROR.replace("true", "false"));
                (200, String::new(), frames("", COMPLETION_OK, &dataset))
            }
            Fault::Delay(d) => {
                tokio::time::sleep(d).await;
                forward(client, upstream, &path, body).await
            }
            Fault::None => forward(client, upstream, &path, body).await,
        };
        self.exchanges.lock().unwrap().push((csl.unwrap_or_default(), body.len()));
        let head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{extra}\r\n",
            body.len()
        );
        socket.write_all(head.as_bytes()).await.is_ok() && socket.write_all(body.as_bytes()).await.is_ok()
    }
}

async fn forward(
    client: &reqwest::Client,
    upstream: &str,
    path: &str,
    body: Vec<u8>,
) -> (u16, String, String) {
    let response = client
        .post(format!("{upstream}{path}"))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), String::new(), response.text().await.unwrap())
}

/// Reads one request (head and Content-Length body); `None` at end of stream.
async fn read_request(socket: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    Some((path, buf[head_end..head_end + length].to_vec()))
}

fn kusto_error(code: &str, permanent: bool) -> String {
    format!(
        r#"{{"error":{{"code":"{code}","message":"Injected fault","@type":"Kusto.Data.Exceptions.KustoServiceException","@message":"Injected fault {code}","@permanent":{permanent}}}}}"#
    )
}

const ONE_API_ERROR: &str = r#"{"error":{"code":"LimitsExceeded","message":"Request is invalid and cannot be executed.","@message":"Query execution has exceeded the allowed limits (80DA0003)","@permanent":true}}"#;
const ROW_ERROR: &str = r#",{"OneApiErrors":[ONE]}"#;
const COMPLETION_OK: &str = r#"{"FrameType":"TableCompletion","TableId":1,"RowCount":1}"#;
const COMPLETION_ERROR: &str =
    r#"{"FrameType":"TableCompletion","TableId":1,"RowCount":1,"OneApiErrors":[ONE]}"#;
const DATASET_OK: &str = r#"{"FrameType":"DataSetCompletion","HasErrors":false,"Cancelled":false}"#;
const DATASET_ERROR: &str =
    r#"{"FrameType":"DataSetCompletion","HasErrors":true,"Cancelled":false,"OneApiErrors":[ONE]}"#;

/// A fragmented v2 answer with one good row, and an error where the fault says.
fn frames(row_error: &str, completion: &str, dataset: &str) -> String {
    let body = format!(
        r#"[{{"FrameType":"DataSetHeader","IsProgressive":false,"Version":"v2.0","IsFragmented":true,"ErrorReportingPlacement":"InData"}},
{{"FrameType":"TableHeader","TableId":1,"TableKind":"PrimaryResult","TableName":"PrimaryResult","Columns":[{{"ColumnName":"PlayerID","ColumnType":"int"}},{{"ColumnName":"Win","ColumnType":"long"}},{{"ColumnName":"Stake","ColumnType":"int"}},{{"ColumnName":"GameID","ColumnType":"int"}},{{"ColumnName":"EventTime","ColumnType":"datetime"}}]}},
{{"FrameType":"TableFragment","TableFragmentType":"DataAppend","TableId":1,"Rows":[[7,100,10,1,"2026-11-02T08:00:00Z"]{row_error}]}},
{completion},
{dataset}]"#
    );
    body.replace("ONE", ONE_API_ERROR)
}
