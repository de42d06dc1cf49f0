//! Real processes: `onecard serve` / `onecard sim` started, signalled and killed, and the two
//! of them side by side on one data directory.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use onecard::chat::WeChatClient;
use rand::Rng as _;

use super::{
    AES_KEY, APP_ID, DEMO_CONFIG, Overrides, TOKEN, loopback_http, write_demo_without_sim,
};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_onecard");

/// A child process that is killed if the test ends early.
pub struct Proc {
    child: Child,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(args: &[&str], log: PathBuf) -> Self {
        Self::spawn_with(args, &Overrides::default(), log)
    }

    /// With `overrides` of its settings in its environment.
    pub fn spawn_with(args: &[&str], overrides: &Overrides, log: PathBuf) -> Self {
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(BIN)
            .args(args)
            .envs(overrides.vars().iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("start onecard");
        Self { child, log }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Send a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{name}");
    }

    /// SIGKILL: no drain, no flush.
    pub fn kill_hard(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Wait for the process to end by itself.
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {timeout:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// `onecard ARGS` run to its end in the repository root, as an operator runs it: with `env`
/// and without a backtrace on errors (what an operator sees).
pub fn onecard(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_LIB_BACKTRACE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run onecard")
}

/// Set in a child process that runs one test of this binary by itself.
const OWN_PROCESS: &str = "ONECARD_TEST_OWN_PROCESS";

/// Whether this test runs in a process of its own: a child of [`run_in_own_process`], or a
/// runner that starts a process per test (cargo-nextest).
pub fn in_own_process() -> bool {
    std::env::var_os(OWN_PROCESS).is_some()
        || std::env::var("NEXTEST_EXECUTION_MODE").is_ok_and(|m| m == "process-per-test")
}

/// How long a test may run in a process of its own before it is killed and fails: many times
/// the slowest test's time on a loaded machine, there only so that a test that hangs fails
/// with its output instead of holding up the whole run.
const OWN_PROCESS_LIMIT: Duration = Duration::from_secs(300);

/// Run the calling test again, by itself, in a child process of this test binary; panic with
/// its output unless it ran and passed within [`OWN_PROCESS_LIMIT`]. The child is found by
/// the name the test harness gives the test's own thread, so this must be called on that
/// thread (directly in the test's body, not in a task or thread it spawns).
pub fn run_in_own_process() {
    let name = std::thread::current()
        .name()
        .filter(|n| n.contains("::"))
        .expect("called on a test's own thread")
        .to_owned();
    let (mut out, mut err) = (tempfile::tempfile().unwrap(), tempfile::tempfile().unwrap());
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([&name, "--exact", "--include-ignored", "--test-threads=1"])
        .env(OWN_PROCESS, "1")
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .expect("run the test binary");
    let deadline = Instant::now() + OWN_PROCESS_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the test binary") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (out_text, err_text) = (written(&mut out), written(&mut err));
    // The harness shows it as the test's own output (on failure, or with --nocapture).
    print!("{out_text}");
    eprint!("{err_text}");
    let Some(status) = status else {
        panic!(
            "{name} did not finish within {OWN_PROCESS_LIMIT:?} in a process of its own and was \
             killed: its output is above"
        );
    };
    assert!(
        status.success() && out_text.contains("test result: ok. 1 passed;"),
        "{name} did not pass in a process of its own ({status}): its output is above"
    );
}

/// Everything written to `file`, from its start.
fn written(file: &mut std::fs::File) -> String {
    use std::io::{Read, Seek};
    let mut bytes = Vec::new();
    file.rewind().unwrap();
    file.read_to_end(&mut bytes).unwrap();
    String::from_utf8_lossy(&bytes).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// [`onecard`] with `overrides` in its environment, for a command that must succeed: its
/// standard output. Panics with both outputs otherwise.
pub fn run_cli(args: &[&str], overrides: &Overrides) -> String {
    let env: Vec<(&str, &str)> = overrides
        .vars()
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let out = onecard(args, &env);
    assert!(
        out.status.success(),
        "onecard {}: {}\n{}{}",
        args.join(" "),
        out.status,
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// One JSON value a line, as `--json` listings and `onecard store export` print them.
pub fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// A port for a child process to listen on: free now, and outside the kernel's ephemeral
/// range, from which every `bind(…:0)` (the other tests' apps) and every outgoing connection
/// takes its port. One from inside that range could be taken by one of those between this
/// check and the child's bind, or while the child restarts. Never the same port twice in one
/// test process.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let ephemeral = ephemeral_ports();
    let mut given = GIVEN.lock().unwrap();
    loop {
        let port = rand::rng().random_range(1024..=u16::MAX);
        if ephemeral.contains(&port) || given.contains(&port) {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
}

/// The ports the kernel picks from by itself (Linux's default where it cannot be read).
fn ephemeral_ports() -> std::ops::RangeInclusive<u16> {
    let configured = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| {
            let mut ends = range.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some(ends.next()??..=ends.next()??)
        });
    configured.unwrap_or(32768..=60999)
}

/// Whether `url` answers (any HTTP status) within `timeout`. A fresh client each try: a
/// kept-alive connection that a killed or restarting server is closing would fail the check.
pub async fn answers_within(url: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let http = loopback_http().pool_max_idle_per_host(0).build().unwrap();
    while http.get(url).send().await.is_err() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// The simulators in their own `onecard sim` process, and `onecard serve` started (and
/// restarted) beside them on one data directory, so the upstreams' state outlives the
/// platform's crashes as it would in real life.
pub struct SimAndServe {
    pub dir: tempfile::TempDir,
    pub sim: Proc,
    pub sim_base: String,
    pub serve_port: u16,
    /// `ONECARD__…` overrides each `onecard serve` starts with.
    serve_env: Overrides,
    starts: usize,
}

impl SimAndServe {
    /// `onecard sim` on config/demo.toml with `sim` overrides, and `onecard serve` (at each
    /// [`SimAndServe::serve`]) on the demo without `[sim]`, pointed at those simulators, on
    /// its own port and data directory, with `serve` overrides. Returns once the simulators
    /// answer.
    pub async fn start_demo(sim: Overrides, serve: Overrides) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let serve_config = dir.path().join("serve.toml");
        write_demo_without_sim(&serve_config);
        let (sim_port, serve_port) = (free_port(), free_port());
        let sim_base = format!("http://127.0.0.1:{sim_port}");
        let serve = Overrides::default()
            .pointed_at(&sim_base)
            .set("server.listen", format!("127.0.0.1:{serve_port}"))
            .set("server.admin_listen", "127.0.0.1:0")
            .set("server.workers", 2)
            .set("server.store_cache_mb", 16)
            .and(serve);
        onecard::telemetry::init_logging(true);
        let sim = Proc::spawn_with(
            &[
                "sim",
                "--config",
                DEMO_CONFIG,
                "--listen",
                &format!("127.0.0.1:{sim_port}"),
            ],
            &sim,
            dir.path().join("sim.log"),
        );
        assert!(
            answers_within(&format!("{sim_base}/sim/clock"), Duration::from_secs(60)).await,
            "the simulators never answered:\n{}",
            sim.logs()
        );
        Self {
            dir,
            sim,
            sim_base,
            serve_port,
            serve_env: serve,
            starts: 0,
        }
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn serve_config(&self) -> PathBuf {
        self.dir.path().join("serve.toml")
    }

    pub fn serve_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.serve_port)
    }

    /// WeChat as the simulators play it, calling the server's callback.
    pub fn wechat(&self) -> WeChatClient {
        WeChatClient::new(&self.sim_base, TOKEN, Some(AES_KEY), APP_ID, true)
            .unwrap()
            .with_callback_url(&format!("{}/wechat", self.serve_url()))
    }

    /// `onecard ARGS` beside the server, with the overrides it runs with (its listeners, the
    /// simulators' URLs): the standard output of a command that must succeed.
    pub fn cli(&self, args: &[&str]) -> String {
        run_cli(args, &self.serve_env)
    }

    /// `onecard serve` on the data directory and port, once it answers.
    pub async fn serve(&mut self) -> Proc {
        self.starts += 1;
        let (cfg, data) = (self.serve_config(), self.data());
        let p = Proc::spawn_with(
            &[
                "serve",
                "--config",
                cfg.to_str().unwrap(),
                "--data",
                data.to_str().unwrap(),
            ],
            &self.serve_env,
            self.dir.path().join(format!("serve-{}.log", self.starts)),
        );
        assert!(
            answers_within(
                &format!("{}/healthz", self.serve_url()),
                Duration::from_secs(60)
            )
            .await,
            "serve never answered:\n{}",
            p.logs()
        );
        p
    }
}
