//! The command line: `serve` (the default: its flags are also accepted without the word), `kql`
//! (print the query a request would send) and `openapi` (print the API document). Every serve
//! flag can also be set by environment.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::adx::auth::{AuthMode, TrustedHosts};
use crate::kql::TableName;

#[derive(Debug, Parser)]
#[command(
    name = "leaderboard",
    version,
    about = "Real-time campaign leaderboards over Azure Data Explorer",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// `serve`'s flags, for a command line without a subcommand.
    #[command(flatten)]
    pub serve: Box<ServeArgs>,
}

impl Cli {
    /// What to run: the subcommand, or `serve` with the top-level flags when there is none.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or(Command::Serve(self.serve))
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API (the default when no subcommand is given).
    Serve(Box<ServeArgs>),
    /// Print the KQL the server would send for a request.
    Kql(KqlArgs),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BackendKind {
    /// The embedded SQLite store under --data-dir, fed by POST /events or the simulator.
    Embedded,
    /// Azure Data Explorer (or any engine speaking the Kusto REST API v2).
    Adx,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RefreshMode {
    /// After a view's first full query, only what changed (see the README).
    Incremental,
    /// A full query at every refresh.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "LEADERBOARD_LISTEN", default_value = crate::http::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// Campaigns file (TOML), reloaded when it changes or on SIGHUP.
    #[arg(long, env = "LEADERBOARD_CAMPAIGNS")]
    pub campaigns: Option<PathBuf>,
    #[arg(long, env = "LEADERBOARD_BACKEND", value_enum, default_value = "embedded")]
    pub backend: BackendKind,
    #[command(flatten)]
    pub embedded: EmbeddedArgs,
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[command(flatten)]
    pub adx: AdxArgs,
    /// How long a snapshot is fresh: a view read during it is refreshed in the background at
    /// its end (stretched to twice the last query's duration when queries are slow).
    #[arg(long, env = "LEADERBOARD_CACHE_TTL", default_value = "1s", value_parser = duration)]
    pub cache_ttl: std::time::Duration,
    /// The largest `limit` a client may ask for (and the most ids of a friends' board).
    #[arg(long, env = "LEADERBOARD_MAX_LIMIT", default_value_t = 100)]
    pub max_limit: u32,
    /// The most players a view's snapshot holds; players ranked past it are counted in
    /// `total` but answered as not ranked.
    #[arg(long, env = "LEADERBOARD_MAX_STANDINGS", default_value_t = 1_000_000)]
    pub max_standings: u32,
    /// A view unread this long is dropped (its next reader waits for a fresh query).
    #[arg(long, env = "LEADERBOARD_IDLE_AFTER", default_value = "60s", value_parser = duration)]
    pub idle_after: std::time::Duration,
    /// The most views (a campaign's top, or a window of one span) held at once; the least
    /// recently read is dropped first.
    #[arg(long, env = "LEADERBOARD_MAX_VIEWS", default_value_t = 256,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub max_views: u64,
    /// The most memory the held snapshots (and their encoded pages) may take, e.g. 512MiB.
    #[arg(long, env = "LEADERBOARD_SNAPSHOT_MEMORY", default_value = "512MiB")]
    pub snapshot_memory: bytesize::ByteSize,
    /// A campaign that ended this long ago is final once nothing waits to be stored: its views
    /// are not refreshed, only computed again when a later spin is stored (embedded) or found
    /// by the check every --reconcile-every (ADX).
    #[arg(long, env = "LEADERBOARD_LATE_ARRIVAL", default_value = "10m", value_parser = duration)]
    pub late_arrival: std::time::Duration,
    /// How views are refreshed on a backend that answers incremental queries (ADX): by asking
    /// only for what changed since the last refresh, or by a full query each time.
    #[arg(long, env = "LEADERBOARD_REFRESH", value_enum, default_value = "incremental")]
    pub refresh: RefreshMode,
    /// How often a view refreshed incrementally (ADX) also re-checks the buckets older than
    /// --late-arrival, which catches spins that arrived later than that.
    #[arg(long, env = "LEADERBOARD_RECONCILE_EVERY", default_value = "10m", value_parser = duration)]
    pub reconcile_every: std::time::Duration,
    /// Time budget of one request: past it the client gets a 504, while the backend query
    /// goes on and fills the view's snapshot for the next reader.
    #[arg(long, env = "LEADERBOARD_REQUEST_TIMEOUT", default_value = "5s", value_parser = duration)]
    pub request_timeout: std::time::Duration,
    /// Longest a backend query may run (server-side timeout for ADX).
    #[arg(long, env = "LEADERBOARD_BACKEND_TIMEOUT", default_value = "30s", value_parser = duration)]
    pub backend_timeout: std::time::Duration,
    #[arg(long, env = "LEADERBOARD_LOG_FORMAT", value_enum, default_value = "pretty")]
    pub log_format: LogFormat,
    /// How long clients and shared caches may keep using an answer once it is stale, while
    /// revalidating or when the service fails (the `Cache-Control` stale-* directives).
    #[arg(long, env = "LEADERBOARD_STALE_IF_ERROR", default_value = "60s", value_parser = duration)]
    pub stale_if_error: std::time::Duration,
    /// Browser origins allowed to call the API (CORS), comma-separated, or `*`. Default: no
    /// CORS headers.
    #[arg(long, env = "LEADERBOARD_CORS_ORIGINS")]
    pub cors_origins: Option<crate::http::CorsOrigins>,
    /// API requests served at once; past it, 503 with Retry-After instead of a queue.
    #[arg(long, env = "LEADERBOARD_MAX_IN_FLIGHT", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,
    /// Server-sent event streams open at once; more get 503 with Retry-After. Capped by the
    /// process's open-file limit (raised to its hard limit at start-up), less a descriptor for
    /// each request in flight and each export, and a margin.
    #[arg(long, env = "LEADERBOARD_MAX_STREAMS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_streams: u32,
    /// CSV exports sent at once; more get 503 with Retry-After. Each holds its snapshot alive
    /// until it ends.
    #[arg(long, env = "LEADERBOARD_MAX_EXPORTS", default_value_t = 16,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_exports: u32,
    /// How often an idle stream sends a comment, so proxies and clients see it alive (more
    /// than 0s).
    #[arg(long, env = "LEADERBOARD_STREAM_HEARTBEAT", default_value = "15s", value_parser = period)]
    pub stream_heartbeat: std::time::Duration,
    /// How long a connection's write may make no progress (its client reads nothing) before
    /// the connection is closed, freeing what it held: a stalled download's export slot and
    /// snapshot, a stream's slot (more than 0s).
    #[arg(long, env = "LEADERBOARD_WRITE_TIMEOUT", default_value = "60s", value_parser = period)]
    pub write_timeout: std::time::Duration,
    /// On SIGTERM or Ctrl-C: how long requests in flight get to finish (streams end at once)
    /// before the connections still open (say, a download its client stopped reading) are cut.
    #[arg(long, env = "LEADERBOARD_SHUTDOWN_GRACE", default_value = "10s", value_parser = duration)]
    pub shutdown_grace: std::time::Duration,
    /// Backend queries run at once, whatever the request rate; further misses wait (within
    /// the request budget) while cached answers keep flowing.
    #[arg(long, env = "LEADERBOARD_BACKEND_CONCURRENCY", default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub backend_concurrency: u32,
}

#[derive(Debug, Clone, Args)]
pub struct EmbeddedArgs {
    /// Directory of the embedded store's database file.
    #[arg(long, env = "LEADERBOARD_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// Simulate spins at RATE per second (default 50). On by default when no campaigns file
    /// is given (the demo); `--simulate=0` turns it off.
    #[arg(long, env = "LEADERBOARD_SIMULATE", value_name = "RATE", num_args = 0..=1, default_missing_value = "50")]
    pub simulate: Option<u32>,
    /// Simulated player ids are drawn from 1..=N.
    #[arg(long, env = "LEADERBOARD_SIMULATE_PLAYERS", value_name = "N", default_value_t = 10_000,
          value_parser = clap::value_parser!(i32).range(1..))]
    pub simulate_players: i32,
    /// Require `Authorization: Bearer <token>` on POST /events.
    #[arg(long, env = "LEADERBOARD_INGEST_TOKEN", hide_env_values = true)]
    pub ingest_token: Option<String>,
    /// Bytes of POST /events bodies held at once, at least one full body (16 MiB); a request
    /// that finds no room gets 503 with Retry-After. A body of unknown length counts as 16 MiB.
    #[arg(long, env = "LEADERBOARD_INGEST_MAX_BYTES", value_name = "BYTES", default_value_t = 64 << 20,
          value_parser = clap::value_parser!(u32).range(16 << 20..))]
    pub ingest_max_bytes: u32,
    /// How long a POST /events body may take to arrive, whole (more than 0s): past it the
    /// request gets 408 and gives back its room in --ingest-max-bytes and --max-in-flight.
    #[arg(long, env = "LEADERBOARD_INGEST_BODY_TIMEOUT", default_value = "30s", value_parser = period)]
    pub ingest_body_timeout: std::time::Duration,
}

#[derive(Debug, Clone, Args)]
pub struct KafkaArgs {
    /// Consume spins from Kafka (embedded backend only): bootstrap brokers, comma-separated.
    #[arg(
        long = "kafka-brokers",
        env = "LEADERBOARD_KAFKA_BROKERS",
        value_name = "HOST:PORT[,...]",
        value_delimiter = ','
    )]
    pub brokers: Vec<String>,
    /// The topic of spin events (one JSON event per message).
    #[arg(long = "kafka-topic", env = "LEADERBOARD_KAFKA_TOPIC", default_value = "gameplay")]
    pub topic: String,
    /// The consumer's name towards the brokers (its client id). Offsets live in the store,
    /// not in the group: see the README.
    #[arg(long = "kafka-group", env = "LEADERBOARD_KAFKA_GROUP", default_value = "leaderboard")]
    pub group: String,
    /// A client setting, in librdkafka's names: security.protocol, sasl.mechanism,
    /// sasl.username, sasl.password, ssl.ca.location. Repeatable; the environment variable
    /// holds one KEY=VALUE per line (so a secret stays off the command line).
    #[arg(
        long = "kafka-option",
        env = "LEADERBOARD_KAFKA_OPTIONS",
        value_name = "KEY=VALUE",
        value_delimiter = '\n',
        hide_env_values = true
    )]
    pub options: Vec<String>,
}

impl KafkaArgs {
    /// The consumer's settings, or `None` when `--kafka-brokers` is not given.
    pub fn config(&self) -> Result<Option<crate::kafka::Config>, crate::kafka::KafkaError> {
        crate::kafka::Config::new(&self.brokers, &self.topic, &self.group, &self.options)
    }
}

#[derive(Debug, Clone, Args)]
pub struct AdxArgs {
    /// The cluster's query URI, e.g. https://mycluster.westeurope.kusto.windows.net
    /// (`http://` only with `--adx-auth none`).
    #[arg(long = "adx-cluster", env = "ADX_CLUSTER_URL")]
    pub cluster: Option<reqwest::Url>,
    #[arg(long = "adx-database", env = "ADX_DATABASE")]
    pub database: Option<String>,
    #[arg(long = "adx-table", env = "ADX_TABLE", default_value = "GamePlay")]
    pub table: TableName,
    #[arg(long = "adx-auth", env = "ADX_AUTH", value_enum, default_value = "auto")]
    pub auth: AuthMode,
    /// Token scope for Microsoft Entra. Default: the one the cluster's auth metadata
    /// (/v1/rest/auth/metadata) names, or the public cloud's when it has none.
    #[arg(long = "adx-scope", env = "ADX_SCOPE")]
    pub scope: Option<String>,
    /// Hosts a token may be sent to beyond the Kusto endpoints Microsoft's SDKs trust (a
    /// cluster behind a name of your own), comma-separated: `adx.example.com`, or
    /// `.example.com` for every host under it. Loopback addresses are always trusted.
    #[arg(long = "adx-trusted-hosts", env = "ADX_TRUSTED_HOSTS", default_value = "")]
    pub trusted_hosts: TrustedHosts,
    /// Let ADX answer from its results cache when a result this fresh exists (shared by all
    /// replicas). Default: the cache TTL for https clusters, off for http:// (local engines
    /// have no results cache). `0s` turns it off.
    #[arg(long = "adx-results-cache-max-age", env = "ADX_RESULTS_CACHE_MAX_AGE", value_parser = duration)]
    pub results_cache_max_age: Option<std::time::Duration>,
}

#[derive(Debug, Clone, Args)]
pub struct KqlArgs {
    /// Campaign id.
    pub campaign_id: String,
    #[arg(long, env = "LEADERBOARD_CAMPAIGNS")]
    pub campaigns: PathBuf,
    /// The `/window` span (e.g. 15m); without it, the `/top` query.
    #[arg(long)]
    pub last: Option<String>,
    /// The most rows the query returns (the server's --max-standings).
    #[arg(long, env = "LEADERBOARD_MAX_STANDINGS", default_value_t = 1_000_000)]
    pub max_standings: u32,
    #[arg(long = "adx-table", env = "ADX_TABLE", default_value = "GamePlay")]
    pub table: TableName,
    /// The server's --late-arrival: a campaign's whole board is first read with the counts its
    /// incremental refreshes start from, laid out around it.
    #[arg(long, env = "LEADERBOARD_LATE_ARRIVAL", default_value = "10m", value_parser = duration)]
    pub late_arrival: std::time::Duration,
    /// The server's --refresh: with `full`, no board is read with counts.
    #[arg(long, env = "LEADERBOARD_REFRESH", value_enum, default_value = "incremental")]
    pub refresh: RefreshMode,
    /// The instant of the request (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

fn duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text)
        .map_err(|e| format!("`{text}` is not a duration (e.g. 1s, 500ms, 2m): {e}"))
}

/// A duration that paces something, so more than zero.
fn period(text: &str) -> Result<std::time::Duration, String> {
    match duration(text)? {
        zero if zero.is_zero() => Err("must be more than 0s (e.g. 15s)".into()),
        period => Ok(period),
    }
}

impl ServeArgs {
    /// Parses serve flags alone (`args[0]` is the program name), as tests and embedders need.
    pub fn try_parse_from<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            serve: ServeArgs,
        }
        Only::try_parse_from(args).map(|o| o.serve)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_stream_heartbeat_or_write_timeout_is_refused_with_what_to_give() {
        for flag in ["--stream-heartbeat", "--write-timeout"] {
            for zero in ["0s", "0ms", "0"] {
                let refused = ServeArgs::try_parse_from(["leaderboard", flag, zero]).unwrap_err();
                let message = refused.to_string();
                assert!(message.contains(flag) && message.contains("more than 0s"), "{message}");
            }
        }
        let given = ServeArgs::try_parse_from([
            "leaderboard",
            "--stream-heartbeat",
            "250ms",
            "--write-timeout",
            "2s",
        ])
        .unwrap();
        assert_eq!(given.stream_heartbeat, std::time::Duration::from_millis(250));
        assert_eq!(given.write_timeout, std::time::Duration::from_secs(2));
    }
}
