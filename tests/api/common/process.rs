//! The real binary as a child process: started on a free port, its address read from the
//! banner it prints, killed on drop.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

pub struct Server {
    pub base: String,
    pub child: Child,
}

impl Server {
    /// Runs `leaderboard args…` in `cwd` with `LEADERBOARD_LISTEN=127.0.0.1:0`.
    pub fn start(cwd: &Path, args: &[&str]) -> Self {
        Self::start_with(cwd, args, |_| {})
    }

    /// Like [`Server::start`], once `configure` has set what else it needs (environment, a
    /// file for the logs on stderr).
    pub fn start_with(cwd: &Path, args: &[&str], configure: impl FnOnce(&mut Command)) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_leaderboard"));
        command
            .args(args)
            .current_dir(cwd)
            .env("LEADERBOARD_LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        configure(&mut command);
        let mut child = command.spawn().expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let banner = lines.next().expect("a banner line").unwrap();
        let base = banner.rsplit(' ').next().unwrap().to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{banner}");
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Self { base, child }
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill_hard(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
