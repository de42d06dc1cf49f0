//! Where `onecard orders` and `onecard reconcile` find the money desk: the running server's
//! admin listener (it holds the store), or a stopped server's data directory.
//!
//! `--data DIR` opens that directory. Otherwise the admin listener (`--admin`, default
//! `server.admin_listen` of `--config`) is asked; when nothing listens there and `--admin` was
//! not given, the server is taken to be stopped and the settings' data directory is opened.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};

use crate::actions::money_desk::MoneyDesk;
use crate::settings::Settings;

#[derive(clap::Args, Clone)]
pub struct DeskArgs {
    /// The admin listener's base URL (default: `server.admin_listen` of `--config`).
    #[arg(long)]
    admin: Option<String>,
    /// Settings to take the admin listener, data directory, upstreams and campus time offset
    /// from.
    #[arg(long, default_value = "config/demo.toml")]
    pub config: PathBuf,
    /// The data directory of a stopped server, instead of the admin listener.
    #[arg(long, conflicts_with = "admin")]
    pub data: Option<PathBuf>,
}

/// A request for the admin listener, relative to its base URL.
pub struct Ask {
    pub method: reqwest::Method,
    pub path: String,
    pub body: Option<serde_json::Value>,
}

impl Ask {
    pub fn get(path: impl Into<String>) -> Self {
        Self {
            method: reqwest::Method::GET,
            path: path.into(),
            body: None,
        }
    }

    pub fn post(path: impl Into<String>, body: serde_json::Value) -> Self {
        Self {
            method: reqwest::Method::POST,
            path: path.into(),
            body: Some(body),
        }
    }
}

impl DeskArgs {
    pub fn settings(&self) -> anyhow::Result<Settings> {
        Settings::load(&self.config)
            .with_context(|| format!("loading settings from {}", self.config.display()))
    }

    /// Ask the running server. `Ok(None)`: go to the data directory instead (`--data` was
    /// given, or nothing listens at the settings' admin address). A refusal is an error with
    /// the server's one-line reason.
    pub async fn ask(&self, ask: Ask) -> anyhow::Result<Option<reqwest::Response>> {
        if self.data.is_some() {
            return Ok(None);
        }
        let base = super::admin_base(self.admin.as_deref(), &self.config)?;
        let mut request = reqwest::Client::new()
            .request(ask.method, format!("{base}{}", ask.path))
            // a reconciliation run fetches every statement: minutes on a slow upstream
            .timeout(Duration::from_secs(300));
        if let Some(body) = &ask.body {
            request = request.json(body);
        }
        let response = match request.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() && self.admin.is_none() => {
                eprintln!("no server answers at {base}: reading the data directory instead");
                return Ok(None);
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!("reaching the admin listener at {base} (is the server running?)")
                });
            }
        };
        let status = response.status();
        if !status.is_success() {
            let why = response.text().await.unwrap_or_default();
            bail!("{why} ({status})");
        }
        Ok(Some(response))
    }

    /// The store of a stopped server (its lock is held while a server runs).
    pub fn open_store(&self) -> anyhow::Result<(crate::store::Store, Settings)> {
        let settings = self.settings()?;
        let dir = self
            .data
            .clone()
            .unwrap_or_else(|| settings.server.data_dir.clone());
        let store = crate::store::Store::open(&dir, 16).with_context(|| {
            format!(
                "opening the store at {} (if the server is running it holds the store: leave out --data to go through its admin listener)",
                dir.display()
            )
        })?;
        Ok((store, settings))
    }

    /// The desk on a stopped server's store, without upstreams (lists and the queue).
    pub fn local_desk(&self) -> anyhow::Result<MoneyDesk> {
        let (store, settings) = self.open_store()?;
        Ok(MoneyDesk::new(
            store.orders()?,
            store.reconcile()?,
            None,
            settings.reconcile.report_dir(&settings.server.data_dir),
            settings.server.utc_offset_hours,
        ))
    }
}

/// A current-thread runtime for one command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting a runtime")
}
