//! Assembly: turns command-line settings into a running server (catalogue, backend, cache,
//! router, listener) and runs it until shutdown; also the `kql` subcommand.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::adx::auth::TokenSource;
use crate::adx::{AdxBackend, AdxConfig};
use crate::backend::Backend;
use crate::campaigns::{CampaignId, Catalogue, CatalogueError, CatalogueSource, SharedCatalogue};
use crate::cli::{AdxArgs, BackendKind, KqlArgs, LogFormat, RefreshMode, ServeArgs};
use crate::engine::{Engine, Settings};
use crate::http::caching::CachePolicy;
use crate::http::listener::{self, Listener};
use crate::http::{AppState, Edge, Exports, Ingest, Readiness, Streams};
use crate::leaderboard::{MaxLimit, MaxStandings, Span, View, Window};
use crate::simulator::Simulation;
use crate::store::{EmbeddedStore, Scope};

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Catalogue(#[from] CatalogueError),
    #[error("configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
}

/// A server bound to its port, ready to run.
pub struct App {
    listener: Listener,
    state: AppState,
    edge: Edge,
    catalogue: SharedCatalogue,
    /// Tells open streams the server is closing, so graceful shutdown does not wait on them.
    closing: tokio::sync::watch::Sender<bool>,
    /// How long graceful shutdown waits for the requests in flight.
    grace: std::time::Duration,
}

impl App {
    pub async fn build(args: &ServeArgs) -> Result<Self, StartError> {
        let max_limit = MaxLimit::new(args.max_limit).map_err(StartError::Config)?;
        let max_standings = MaxStandings::new(args.max_standings).map_err(StartError::Config)?;
        let source = match &args.campaigns {
            Some(path) => CatalogueSource::File(path.clone()),
            None => CatalogueSource::Demo,
        };
        let catalogue = Arc::new(ArcSwap::from_pointee(source.load()?));
        let kafka = args.kafka.config().map_err(|e| StartError::Config(e.to_string()))?;
        if kafka.is_some() && args.backend == BackendKind::Adx {
            return Err(StartError::Config(
                "--kafka-brokers needs the embedded backend: with --backend adx, spins reach ADX through its own \
                 ingestion (e.g. the Kafka Connect Kusto sink), not through this service"
                    .into(),
            ));
        }
        let (backend, store) = backend(args).await?;
        if let Some(store) = &store {
            store.track(scopes(&catalogue.load())).await.map_err(|e| StartError::Config(e.to_string()))?;
        }
        if let Some(simulation) = simulation(args, &store)? {
            crate::simulator::spawn(store.clone().expect("checked by simulation()"), simulation);
        }
        let mut metrics = crate::metrics::Metrics::default();
        if let Some(store) = &store {
            metrics.register_store(store.counters());
        }
        let metrics = Arc::new(metrics);
        let consumer = match (kafka, &store) {
            (Some(config), Some(store)) => Some(crate::kafka::spawn(config, store.clone(), metrics.clone())),
            _ => None,
        };
        let settings = Settings {
            ttl: args.cache_ttl,
            budget: args.request_timeout,
            max_limit,
            max_standings,
            stale_if_error: args.stale_if_error,
            backend_concurrency: args.backend_concurrency as usize,
            idle_after: args.idle_after,
            max_views: args.max_views,
            max_bytes: args.snapshot_memory.as_u64(),
            late_arrival: args.late_arrival,
            reconcile_every: args.reconcile_every,
            incremental: args.refresh == RefreshMode::Incremental,
        };
        let engine = Arc::new(Engine::new(backend, settings, metrics));
        let on_change = {
            let (engine, catalogue, store) = (engine.clone(), catalogue.clone(), store.clone());
            move || {
                let current = catalogue.load();
                engine.reload(&current);
                if let Some(store) = store.clone() {
                    let scopes = scopes(&current);
                    tokio::spawn(async move {
                        if let Err(e) = store.track(scopes).await {
                            tracing::warn!(error = %e, "the embedded store could not track the new campaigns");
                        }
                    });
                }
            }
        };
        source.watch(catalogue.clone(), on_change);
        let tcp =
            listener::bind(args.listen).map_err(|source| StartError::Bind { addr: args.listen, source })?;
        let descriptors = descriptors(args);
        let listener = Listener::new(tcp, args.write_timeout, descriptors.connections);
        let ingest = store.map(|store| Ingest {
            sink: store,
            token: args.embedded.ingest_token.as_deref().map(Arc::from),
            origins: args.cors_origins.clone(),
            bytes: Arc::new(tokio::sync::Semaphore::new(args.embedded.ingest_max_bytes as usize)),
            body_timeout: args.embedded.ingest_body_timeout,
        });
        let (closing, closed) = tokio::sync::watch::channel(false);
        let streams = Streams {
            slots: Arc::new(tokio::sync::Semaphore::new(descriptors.streams)),
            heartbeat: args.stream_heartbeat,
            closing: closed,
        };
        let state = AppState::new(crate::http::App {
            catalogue: catalogue.clone(),
            engine,
            ingest,
            readiness: Readiness::new(reports(consumer)),
            streams,
            exports: Exports { slots: Arc::new(tokio::sync::Semaphore::new(args.max_exports as usize)) },
            caching: CachePolicy::new(args.cache_ttl, args.stale_if_error, args.reconcile_every),
        });
        Ok(Self { listener, state, edge: edge(args), catalogue, closing, grace: args.shutdown_grace })
    }

    /// The URLs to try, for the person who just started the server: the standings page
    /// first (its first line ends with the base URL, which scripts and tests read), then the API.
    pub fn banner(&self) -> String {
        let base = format!("http://{}", self.local_addr());
        let mut text = format!("leaderboard: open the standings page at {base}\n");
        for campaign in self.catalogue.load().iter().take(8) {
            let id = &campaign.id;
            text += &format!("  {id}: {base}/board/{id}  (JSON: {base}/campaigns/{id}/top)\n");
        }
        text += &format!("  API: {base}/campaigns  docs: {base}/docs");
        text
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests for at most the grace
    /// period: a client that stops reading cannot hold the process.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (closing, grace) = (self.closing, self.grace);
        let mut closed = closing.subscribe();
        let shutdown = async move {
            shutdown.await;
            closing.send_replace(true);
        };
        // One copy of the stack per connection, sharing the router: serving the Router itself
        // would copy every route for each accepted connection (about 64 KB a stream with ten
        // thousand streams open).
        let service = crate::http::service(self.state, &self.edge);
        let serve = self.listener.serve(service, shutdown);
        let cut = async move {
            let _ = closed.wait_for(|closing| *closing).await;
            tokio::time::sleep(grace).await;
        };
        tokio::select! {
            () = serve => {}
            () = cut => {
                tracing::warn!(?grace, "requests still in flight after the grace period: closing their connections");
            }
        }
    }
}

/// Descriptors kept for the store, the backend and listeners, beside connections and exports.
const MARGIN: u64 = 256;

/// What the open-file limit (raised to its hard limit first) leaves the connections.
struct Descriptors {
    /// Streams open at once: `--max-streams`, unless the limit cannot also hold a connection for
    /// each request in flight (each may be a new one) and each export, and [`MARGIN`].
    streams: usize,
    /// Connections open at once, whatever they are doing (idle ones included): all the limit
    /// holds past [`MARGIN`], so that they never take the descriptors of the store, the backend
    /// and the listeners.
    connections: usize,
}

fn descriptors(args: &ServeArgs) -> Descriptors {
    let (requests, exports) = (u64::from(args.max_in_flight), u64::from(args.max_exports));
    let wanted = u64::from(args.max_streams);
    let limit = match rlimit::increase_nofile_limit(wanted + requests + exports + MARGIN) {
        Ok(limit) => limit,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read or raise the open-file limit");
            return Descriptors { streams: wanted as usize, connections: usize::MAX };
        }
    };
    let streams = streams_within(limit, requests, exports, wanted);
    if streams < wanted {
        tracing::warn!(limit, streams, wanted, requests, "the open-file limit caps the streams");
    }
    let connections = usize::try_from(limit.saturating_sub(MARGIN).max(1)).unwrap_or(usize::MAX);
    Descriptors { streams: streams as usize, connections }
}

/// The streams an open-file `limit` holds beside `requests` in flight, `exports` and the margin:
/// all `wanted` when it holds everything. Else what is left past the exports and the margin is
/// shared fairly: the requests keep what they ask for, or half of it if they ask for more, and
/// streams get the rest (at least one, at most `wanted`). A limit below the requests' own
/// reservation (the common 4,096 against the default 10,000) so leaves streams half, not none.
fn streams_within(limit: u64, requests: u64, exports: u64, wanted: u64) -> u64 {
    let room = limit.saturating_sub(exports + MARGIN);
    let kept = requests.min(room.saturating_sub(wanted).max(room / 2));
    (room - kept).clamp(1, wanted.max(1))
}

/// What `/readyz` shows besides the backend's verdict: the Kafka consumer's state, if any.
fn reports(consumer: Option<Arc<crate::kafka::Status>>) -> Vec<crate::http::Report> {
    let report = |status: Arc<crate::kafka::Status>| Box::new(move || status.report()) as crate::http::Report;
    consumer.into_iter().map(report).collect()
}

/// What the embedded store keeps standings for: each campaign's whole range, games, stakes,
/// score and `max-spins`.
fn scopes(catalogue: &Catalogue) -> Vec<Scope> {
    let scope = |c: &Arc<crate::campaigns::Campaign>| Scope {
        window: Window { from: c.start, to: c.end },
        games: c.games.clone(),
        stakes: c.stakes,
        scoring: c.score,
        max_spins: c.max_spins,
    };
    catalogue.iter().map(scope).collect()
}

/// The HTTP edge's settings.
fn edge(args: &ServeArgs) -> Edge {
    Edge { cors: args.cors_origins.clone(), max_in_flight: args.max_in_flight as usize }
}

/// The backend, and the embedded store again when that is the backend (it also takes events).
type Backends = (Arc<dyn Backend>, Option<Arc<EmbeddedStore>>);

async fn backend(args: &ServeArgs) -> Result<Backends, StartError> {
    match args.backend {
        BackendKind::Adx => Ok((Arc::new(adx(&args.adx, args).await?), None)),
        BackendKind::Embedded => {
            let store = Arc::new(
                EmbeddedStore::open(&args.embedded.data_dir)
                    .await
                    .map_err(|e| StartError::Config(e.to_string()))?,
            );
            tracing::info!(file = %store.path().display(), "embedded store");
            Ok((store.clone(), Some(store)))
        }
    }
}

/// The simulator runs when asked, and by default in the demo (embedded store, no campaigns file).
fn simulation(
    args: &ServeArgs,
    store: &Option<Arc<EmbeddedStore>>,
) -> Result<Option<Simulation>, StartError> {
    let demo = args.campaigns.is_none() && store.is_some();
    let rate = args.embedded.simulate.or(demo.then_some(50)).filter(|&r| r > 0);
    match (rate, store) {
        (None, _) => Ok(None),
        (Some(_), None) => Err(StartError::Config("--simulate needs the embedded backend".into())),
        (Some(rate), Some(_)) => Ok(Some(Simulation { rate, players: args.embedded.simulate_players })),
    }
}

async fn adx(adx: &AdxArgs, args: &ServeArgs) -> Result<AdxBackend, StartError> {
    let missing = |what: &str| StartError::Config(format!("--backend adx needs {what}"));
    let cluster = adx.cluster.clone().ok_or_else(|| missing("--adx-cluster (ADX_CLUSTER_URL)"))?;
    let database = adx.database.clone().ok_or_else(|| missing("--adx-database (ADX_DATABASE)"))?;
    let default_age = (cluster.scheme() == "https").then_some(args.cache_ttl);
    let results_cache_max_age = adx.results_cache_max_age.or(default_age).filter(|age| !age.is_zero());
    let auth = TokenSource::for_cluster(adx.auth, &cluster, adx.scope.clone(), &adx.trusted_hosts)
        .map_err(|e| StartError::Config(e.to_string()))?;
    // The origin only: a URL's userinfo may hold a password.
    let origin = cluster.origin().ascii_serialization();
    tracing::info!(cluster = %origin, database, credential = auth.as_ref().map_or("none".into(), |a| a.credential_name()), "ADX backend");
    let config = AdxConfig {
        cluster,
        database,
        table: adx.table.clone(),
        timeout: args.backend_timeout,
        margin: crate::adx::TIMEOUT_MARGIN,
        // Retries end within four fifths of the request budget, so that the last failure (an
        // unreachable cluster: a 502) reaches the reader before the budget's 504 does.
        retry_window: args.request_timeout * 4 / 5,
        results_cache_max_age,
    };
    AdxBackend::new(config, auth).map_err(|e| StartError::Config(e.to_string()))
}

/// `leaderboard serve`.
pub fn main(args: ServeArgs) -> ExitCode {
    limit_heap_arenas();
    // Held until the process ends: the log's writer thread flushes what is queued as it goes.
    let _logs = init_tracing(args.log_format);
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    runtime.block_on(async {
        let app = match App::build(&args).await {
            Ok(app) => app,
            Err(e) => {
                tracing::error!("{e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(address = %app.local_addr(), "listening");
        println!("{}", app.banner());
        app.run(shutdown_signal()).await;
        ExitCode::SUCCESS
    })
}

/// Two of glibc's heap arenas rather than its default of eight per core, unless the operator set
/// `MALLOC_ARENA_MAX`. The store's reads and the snapshots they build run on many threads (the
/// blocking pool's, the writer's, the workers'), and each thread's arena kept the pages its
/// million-row reads had freed: a million-player `top` with four windows peaked at 390-402 MB
/// with the default and 310-353 MB with two (BENCHMARKS.md, "Heap arenas").
fn limit_heap_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: called before any other thread of the process starts; mallopt changes a setting
        // of the allocator under its own lock.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down: finishing in-flight requests");
}

/// Logs to stderr, written by a thread of their own: a request never waits on the log's pipe
/// (when it cannot keep up, lines are dropped rather than requests slowed).
fn init_tracing(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking(std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Pretty => builder.init(),
    }
    guard
}

/// `leaderboard kql`: prints the query text the server would send for the request.
pub fn print_kql(args: &KqlArgs) -> ExitCode {
    match render_request(args) {
        Ok(text) => print(&text),
        Err(e) => {
            eprintln!("leaderboard kql: {e}");
            ExitCode::from(2)
        }
    }
}

/// Writes a subcommand's output; a reader that stopped reading (`| head`) took what it wanted.
pub fn print(text: &str) -> ExitCode {
    use std::io::Write;
    match writeln!(std::io::stdout().lock(), "{text}") {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("leaderboard: cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

fn render_request(args: &KqlArgs) -> Result<String, String> {
    let catalogue = Catalogue::load(&args.campaigns).map_err(|e| e.to_string())?;
    let view = match &args.last {
        Some(last) => View::Window(Span::parse(last).map_err(|e| e.to_string())?),
        None => View::Top,
    };
    let id = CampaignId::parse(&args.campaign_id).map_err(|e| e.to_string())?;
    let campaign = catalogue
        .get(id.as_str())
        .ok_or_else(|| format!("no campaign `{id}` in {}", args.campaigns.display()))?;
    if !campaign.declares(view) {
        return Err(format!("campaign `{id}` does not declare that window: the server refuses it"));
    }
    let at = args.at.map(|t| t.with_timezone(&chrono::Utc)).unwrap_or_else(crate::leaderboard::now);
    let at = chrono::SubsecRound::trunc_subsecs(at, 6);
    let window = view
        .window(campaign.start, campaign.end, at)
        .ok_or_else(|| format!("campaign `{id}` has not started at {at}: the server sends no query"))?;
    let limit = MaxStandings::new(args.max_standings)?.get();
    let refreshes = (args.late_arrival, args.refresh == RefreshMode::Incremental);
    let query = crate::engine::first_query(campaign, view, window, at, refreshes, limit);
    Ok(crate::kql::render(&query, &args.table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_share_an_open_file_limit_too_small_for_all() {
        // Room for everything: every stream asked for.
        assert_eq!(streams_within(1 << 20, 10_000, 16, 10_000), 10_000);
        assert_eq!(streams_within(10_000 + 10_000 + 16 + MARGIN, 10_000, 16, 10_000), 10_000);
        // Room for the requests and some streams: the requests keep all they ask for.
        assert_eq!(streams_within(500, 100, 4, 10_000), 140);
        // Too little room for both: half each, whichever asks for more.
        assert_eq!(streams_within(20_000, 10_000, 16, 10_000), 9_864);
        // A common hard limit, below the requests' own reservation: half each, not one stream.
        assert_eq!(streams_within(4_096, 10_000, 16, 10_000), 1_912);
        assert_eq!(streams_within(400, 100, 4, 10_000), 70);
        // Streams asking for less than half leave the rest to the requests.
        assert_eq!(streams_within(4_096, 10_000, 16, 1_000), 1_000);
        // Never none, never more than asked.
        assert_eq!(streams_within(100, 10_000, 16, 10_000), 1);
        assert_eq!(streams_within(4_096, 0, 16, 10_000), 3_824);
    }
}
