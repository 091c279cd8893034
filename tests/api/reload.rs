//! The campaigns file is reloaded without a restart; a bad edit keeps the last good catalogue;
//! and a file whose read hangs stalls the watcher alone, never the requests.
//!
//! To know when the watcher has read an edit, each edit comes through a named pipe of its
//! own put in the file's place: the watcher's read waits for a writer, and the edit is
//! written once the watcher is seen waiting. Its wait on the next pipe proves the edit before
//! it was fully handled.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::within;
use crate::common::{TestApp, spawn_embedded};

const ONE: &str =
    "[[campaigns]]\nid = \"first\"\nstart = \"2026-01-01T00:00:00Z\"\nend = \"2026-02-01T00:00:00Z\"\n";
const TWO: &str =
    "[[campaigns]]\nid = \"second\"\nstart = \"2026-01-01T00:00:00Z\"\nend = \"2026-02-01T00:00:00Z\"\n";

async fn ids(app: &TestApp) -> Vec<String> {
    let body = app.json("/campaigns").await;
    body["campaigns"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_owned()).collect()
}

async fn catalogue_becomes(app: &TestApp, expected: &[&str]) {
    let what = format!("the catalogue became {expected:?}");
    within(Duration::from_secs(30), &what, || async { ids(app).await == expected }).await;
}

/// How long the pipe's writer waits for the watcher, or for the test to let it write: far
/// beyond need, only so that a broken server fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

/// The campaigns file replaced by named pipes, one per edit, fed from a thread of its own
/// (the test's runtime may be the one stalled). Once the edits are written, any later read
/// gets the last edit again, until the test is over and a plain file takes the pipes' place:
/// no read blocks for good, in the server or at the runtime's shutdown.
struct Pipes {
    file: PathBuf,
    last: &'static str,
    /// One message each time the watcher waits on a pipe for an edit.
    waiting: tokio::sync::mpsc::UnboundedReceiver<()>,
    go: mpsc::Sender<()>,
    over: Arc<AtomicBool>,
    /// Whether every `go` came within `PATIENCE` (the test ran while the watcher waited).
    feeder: Option<std::thread::JoinHandle<bool>>,
}

impl Pipes {
    fn install(file: &Path, edits: &[&'static str]) -> Self {
        let pipes: Vec<PathBuf> = (0..edits.len()).map(|i| file.with_extension(format!("pipe{i}"))).collect();
        for (i, pipe) in pipes.iter().enumerate() {
            make_pipe(pipe, 1_000_000 + i as i64);
        }
        let (waiting_tx, waiting) = tokio::sync::mpsc::unbounded_channel();
        let (go, go_rx) = mpsc::channel();
        let over = Arc::new(AtomicBool::new(false));
        let last = *edits.last().unwrap();
        let (edits, file_path, done) = (edits.to_vec(), file.to_owned(), over.clone());
        let feeder = std::thread::spawn(move || {
            let in_time = feed_edits(&edits, &pipes, &file_path, waiting_tx, go_rx);
            loop {
                let finished = done.load(Ordering::SeqCst);
                for pipe in &pipes {
                    if let Ok(mut reader_waiting) = open_writer(pipe) {
                        // The reader may be one already done and closing: then no one takes it.
                        let _ = reader_waiting.write_all(last.as_bytes());
                    }
                }
                if finished {
                    return in_time;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        Self { file: file.to_owned(), last, waiting, go, over, feeder: Some(feeder) }
    }

    async fn watcher_waits(&mut self) {
        let waits = self.waiting.recv().await;
        waits.expect("the watcher read the file, and the test ran while it waited, in time");
    }

    fn write_next(&self) {
        // The feeder may have given up (see `watcher_waits`).
        let _ = self.go.send(());
    }

    /// Puts a plain file back and stops the feeder, after a last pass for a reader that
    /// opened a pipe before the swap; whether every edit was let through in time.
    fn finish(&mut self) -> Option<bool> {
        let feeder = self.feeder.take()?;
        let plain = self.file.with_extension("plain");
        std::fs::write(&plain, self.last).unwrap();
        std::fs::rename(&plain, &self.file).unwrap();
        self.over.store(true, Ordering::SeqCst);
        feeder.join().ok()
    }
}

impl Drop for Pipes {
    fn drop(&mut self) {
        self.finish();
    }
}

/// A named pipe at `path` modified at `mtime` (seconds since the epoch): each pipe's own time,
/// so that the watcher sees the file change whenever one takes its place (creation times
/// could be equal at the clock's coarse resolution).
fn make_pipe(path: &Path, mtime: i64) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    let time = libc::timespec { tv_sec: mtime, tv_nsec: 0 };
    // SAFETY: mkfifo(3) and utimensat(2) read a NUL-terminated path and, for utimensat, two
    // timespecs; they touch no other memory.
    unsafe {
        assert_eq!(libc::mkfifo(c_path.as_ptr(), 0o600), 0);
        assert_eq!(libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), [time, time].as_ptr(), 0), 0);
    }
}

/// Makes `file` a second name of `pipe`, atomically.
fn put_in_place(pipe: &Path, file: &Path) {
    let swap = file.with_extension("swap");
    std::fs::hard_link(pipe, &swap).unwrap();
    std::fs::rename(&swap, file).unwrap();
}

/// Writes each edit into its own pipe, put in the file's place, once the watcher waits on it
/// and the test lets it; false (and the rest unwritten) when either was not there in time.
fn feed_edits(
    edits: &[&str],
    pipes: &[PathBuf],
    file: &Path,
    waiting: tokio::sync::mpsc::UnboundedSender<()>,
    go: mpsc::Receiver<()>,
) -> bool {
    for (edit, pipe) in edits.iter().zip(pipes) {
        put_in_place(pipe, file);
        let Some(mut writer) = writer_once_read(pipe) else { return false };
        let in_time = waiting.send(()).is_ok() && go.recv_timeout(PATIENCE).is_ok();
        writer.write_all(edit.as_bytes()).unwrap();
        if !in_time {
            return false;
        }
    }
    true
}

/// The pipe's write end, opened as soon as a reader waits on it (opening it without blocking
/// fails until then); `None` if none came in time.
fn writer_once_read(pipe: &Path) -> Option<File> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match open_writer(pipe) {
            Ok(file) => return Some(file),
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(_) => return None,
        }
    }
}

fn open_writer(pipe: &Path) -> std::io::Result<File> {
    OpenOptions::new().write(true).custom_flags(libc::O_NONBLOCK).open(pipe)
}

#[tokio::test]
async fn edits_apply_without_restart_and_bad_edits_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("campaigns.toml");
    std::fs::write(&path, ONE).unwrap();
    let (app, _data) = spawn_embedded(&path, &[]).await;
    assert_eq!(ids(&app).await, ["first"]);

    std::fs::write(&path, format!("{ONE}\n{TWO}")).unwrap();
    catalogue_becomes(&app, &["first", "second"]).await;
    assert_eq!(app.get("/campaigns/second/top").await.status(), 200);

    // A duplicate id is invalid, and so is an empty file (a save in progress): the last good
    // catalogue stays.
    let bad: &'static str = format!("{ONE}\n{ONE}").leak();
    let mut pipes = Pipes::install(&path, &[bad, "", TWO]);
    pipes.watcher_waits().await;
    assert_eq!(ids(&app).await, ["first", "second"], "answered while the watcher's read hangs");
    pipes.write_next();
    pipes.watcher_waits().await;
    assert_eq!(ids(&app).await, ["first", "second"], "the bad edit was read and refused");
    pipes.write_next();
    pipes.watcher_waits().await;
    assert_eq!(ids(&app).await, ["first", "second"], "the empty file was read and refused");
    pipes.write_next();
    catalogue_becomes(&app, &["second"]).await;
    assert_eq!(app.get("/campaigns/first/top").await.status(), 404);
    assert_eq!(pipes.finish(), Some(true), "requests stalled while the watcher waited on the file");
}
