//! A real Kafka-compatible broker for the tests: `tansu` on 127.0.0.1, installed by
//! `tests/run.sh` into `~/.cache/leaderboard-tools/` (or named by `$TANSU`), and a producer built on the same
//! client the service uses. No broker is a failure that says how to get one, never a skip.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rskafka::client::partition::{Compression, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;

pub const TOPIC: &str = "gameplay";
pub const PARTITIONS: i32 = 4;

/// The tansu binary, or a failure naming what is missing and how to install it.
fn tansu() -> PathBuf {
    let home = || PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
    let path = std::env::var_os("TANSU")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join(".cache/leaderboard-tools/bin/tansu"));
    assert!(
        path.is_file(),
        "no Kafka broker for the Kafka tests: {} is missing. `bash tests/run.sh` installs it \
         (cargo install tansu --locked --features dynostore,libsql --root ~/.cache/leaderboard-tools), \
         or set TANSU",
        path.display()
    );
    path
}

/// A broker process on a fixed loopback port (kept across restarts), with its data in a
/// temporary directory so a restart finds the topic and its messages again.
pub struct Broker {
    pub addr: String,
    child: Option<Child>,
    data: tempfile::TempDir,
}

impl Broker {
    /// A broker with the `gameplay` topic of four partitions.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut broker =
            Self { addr: format!("127.0.0.1:{port}"), child: None, data: tempfile::tempdir().unwrap() };
        broker.resume();
        let created = Command::new(tansu())
            .args(["topic", "create", TOPIC, "--partitions", &PARTITIONS.to_string(), "--broker"])
            .arg(broker.url())
            .output()
            .expect("tansu runs");
        assert!(created.status.success(), "topic create: {}", String::from_utf8_lossy(&created.stderr));
        broker
    }

    fn url(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Starts the broker process (again) and waits until it accepts connections.
    pub fn resume(&mut self) {
        let child = Command::new(tansu())
            .args(["broker", "--listener-url"])
            .arg(self.url())
            .arg("--advertised-listener-url")
            .arg(self.url())
            // SQLite storage, relative to the working directory: the data directory.
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("tansu starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&self.addr).is_err() {
            assert!(Instant::now() < deadline, "the broker did not listen on {} within 30 s", self.addr);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the broker process (its stored messages stay in its data directory).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub async fn client(&self) -> Client {
        ClientBuilder::new(vec![self.addr.clone()]).build().await.expect("a client of the test broker")
    }

    /// Produces `values` to `partition` in order, in batches; each `None` is a message
    /// without a value.
    pub async fn produce(&self, partition: i32, values: &[Option<Vec<u8>>]) {
        let client = self.client().await;
        let partition = client
            .partition_client(TOPIC, partition, UnknownTopicHandling::Retry)
            .await
            .expect("a partition client");
        for chunk in values.chunks(2000) {
            let records = chunk
                .iter()
                .map(|value| Record {
                    key: None,
                    value: value.clone(),
                    headers: Default::default(),
                    timestamp: chrono::Utc::now(),
                })
                .collect();
            partition.produce(records, Compression::NoCompression).await.expect("produced");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}
