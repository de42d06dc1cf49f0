//! `onecard content …`: publish, list, withdraw and push news, announcements and guide
//! articles (docs/notices.md).
//!
//! By default every command goes through the running server's admin listener
//! (`server.admin_listen`, see `http::content_admin`): the server holds the store. With
//! `--data DIR` the command opens the store of a *stopped* server instead; a push job made that
//! way runs when the server starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};

use crate::store::{ContentItem, ContentState, PushChannel, Store};

#[derive(Subcommand)]
pub(super) enum ContentCommand {
    /// Publish (or update) items from Markdown files with TOML front matter; `--push` also
    /// pushes every published one to its audience.
    Publish {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Push each item: `template` (one 模板消息 per user) or `mass` (群发).
        #[arg(long, value_parser = ["template", "mass"])]
        push: Option<String>,
        #[command(flatten)]
        target: Target,
    },
    /// Every item with its state.
    List {
        #[command(flatten)]
        target: Target,
    },
    /// Take an item off the lists and its page.
    Withdraw {
        id: String,
        #[command(flatten)]
        target: Target,
    },
    /// Push a published item to its audience.
    Push {
        id: String,
        #[arg(long, default_value = "template", value_parser = ["template", "mass"])]
        channel: String,
        #[command(flatten)]
        target: Target,
    },
    /// Push jobs: state, recipients and their outcomes.
    Jobs {
        #[command(flatten)]
        target: Target,
    },
}

/// Where a content command acts: the running server (default) or a stopped server's store.
#[derive(clap::Args)]
pub(super) struct Target {
    /// Settings: the admin listener's address, or the data directory with --data.
    #[arg(long, default_value = "config/demo.toml")]
    config: PathBuf,
    /// The admin listener's base URL (default: `server.admin_listen` of --config).
    #[arg(long)]
    admin: Option<String>,
    /// The data directory of a stopped server, instead of the admin listener.
    #[arg(long, conflicts_with = "admin")]
    data: Option<PathBuf>,
}

enum Via {
    Admin(String),
    Store(Store, Box<crate::settings::Settings>),
}

impl Target {
    fn open(&self) -> anyhow::Result<Via> {
        match &self.data {
            Some(dir) => {
                let settings = super::load(&self.config)?;
                let store = Store::open(dir, 16).with_context(|| {
                    format!(
                        "opening the store at {} (a running server holds it: leave out --data to go through its admin listener)",
                        dir.display()
                    )
                })?;
                Ok(Via::Store(store, Box::new(settings)))
            }
            None => Ok(Via::Admin(super::admin_base(
                self.admin.as_deref(),
                &self.config,
            )?)),
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// One request to the admin listener; a refusal is reported with the server's reason.
fn call(method: reqwest::Method, url: &str, body: Option<Value>) -> anyhow::Result<Value> {
    runtime()?.block_on(async {
        let mut req = reqwest::Client::new()
            .request(method, url)
            .timeout(Duration::from_secs(60));
        if let Some(body) = body {
            req = req.json(&body);
        }
        let response = req.send().await.with_context(|| {
            format!(
                "reaching the admin listener at {url} (is the server running? else use --data DIR)"
            )
        })?;
        let status = response.status();
        let answer: Value = response.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!(
                "{}",
                answer["error"].as_str().map_or_else(
                    || format!("the admin listener answered {status}"),
                    str::to_owned
                )
            );
        }
        Ok(answer)
    })
}

pub(super) fn run(command: ContentCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp();
    match command {
        ContentCommand::Publish {
            files,
            push,
            target,
        } => publish(&files, push.as_deref(), &target, now),
        ContentCommand::List { target } => {
            let (items, offset) = match target.open()? {
                Via::Admin(base) => {
                    let answer = call(reqwest::Method::GET, &format!("{base}/content"), None)?;
                    let settings = super::load(&target.config)?;
                    (
                        serde_json::from_value::<Vec<Value>>(answer)?,
                        settings.server.utc_offset_hours,
                    )
                }
                Via::Store(store, settings) => (
                    store
                        .content()
                        .all()?
                        .iter()
                        .map(serde_json::to_value)
                        .collect::<Result<_, _>>()?,
                    settings.server.utc_offset_hours,
                ),
            };
            for item in items {
                print_item_row(&item, offset, now);
            }
            Ok(())
        }
        ContentCommand::Withdraw { id, target } => {
            let item = match target.open()? {
                Via::Admin(base) => call(
                    reqwest::Method::POST,
                    &format!("{base}/content/{id}/withdraw"),
                    None,
                )?,
                Via::Store(store, _) => {
                    let item = store.content().withdraw(&id, now)?;
                    runtime()?.block_on(store.flush())?;
                    serde_json::to_value(item)?
                }
            };
            println!(
                "{}\twithdrawn\t{}",
                item["id"].as_str().unwrap_or_default(),
                item["title"].as_str().unwrap_or_default()
            );
            Ok(())
        }
        ContentCommand::Push {
            id,
            channel,
            target,
        } => {
            let job = match target.open()? {
                Via::Admin(base) => call(
                    reqwest::Method::POST,
                    &format!("{base}/content/{id}/push?channel={channel}"),
                    None,
                )?,
                Via::Store(store, settings) => {
                    let channel = PushChannel::parse(&channel).context("channel")?;
                    let job =
                        crate::actors::push::create_job(&store, &settings.push, &id, channel, now)?;
                    runtime()?.block_on(store.flush())?;
                    serde_json::to_value(job)?
                }
            };
            print_job_created(&job);
            Ok(())
        }
        ContentCommand::Jobs { target } => {
            let jobs = match target.open()? {
                Via::Admin(base) => call(reqwest::Method::GET, &format!("{base}/push/jobs"), None)?,
                Via::Store(store, _) => {
                    serde_json::to_value(crate::actors::push::reports(&store)?)?
                }
            };
            println!(
                "job\tstate\tchannel\tcontent\trecipients\tsent\tpending\tunsubscribed\tfailed\tunknown\tbackoffs\tlast error"
            );
            for job in jobs.as_array().into_iter().flatten() {
                print_job_row(job);
            }
            Ok(())
        }
    }
}

fn publish(files: &[PathBuf], push: Option<&str>, target: &Target, now: i64) -> anyhow::Result<()> {
    let answer = match target.open()? {
        Via::Admin(base) => {
            // Read every file first: a missing one stops everything before the server sees any.
            let files = files
                .iter()
                .map(|f| {
                    let text = std::fs::read_to_string(f)
                        .with_context(|| format!("reading {}", f.display()))?;
                    Ok(json!({ "name": file_name(f), "text": text }))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            call(
                reqwest::Method::POST,
                &format!("{base}/content"),
                Some(json!({ "files": files, "push": push })),
            )?
        }
        Via::Store(store, settings) => {
            let items = files
                .iter()
                .map(|f| crate::store::read_document(f, settings.server.utc_offset_hours, now))
                .collect::<Result<Vec<_>, _>>()?;
            let channel = push.and_then(PushChannel::parse);
            if channel == Some(PushChannel::Template) && settings.push.template_id.is_empty() {
                bail!("{}", crate::actors::push::PushError::NoTemplate);
            }
            for item in &items {
                store.content().put(item)?;
            }
            let mut jobs = Vec::new();
            if let Some(channel) = channel {
                for item in items.iter().filter(|i| i.state == ContentState::Published) {
                    jobs.push(crate::actors::push::create_job(
                        &store,
                        &settings.push,
                        &item.id,
                        channel,
                        now,
                    )?);
                }
            }
            runtime()?.block_on(store.flush())?;
            json!({ "items": items, "jobs": jobs })
        }
    };
    for item in answer["items"].as_array().into_iter().flatten() {
        println!(
            "{}\t{}\t{}",
            item["id"].as_str().unwrap_or_default(),
            item["state"].as_str().unwrap_or_default(),
            item["title"].as_str().unwrap_or_default()
        );
    }
    for job in answer["jobs"].as_array().into_iter().flatten() {
        print_job_created(job);
    }
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn print_item_row(item: &Value, utc_offset_hours: i32, now: i64) {
    let item = match serde_json::from_value::<ContentItem>(with_body(item)) {
        Ok(item) => item,
        // Said, not skipped: an operator must not miss an item in the list.
        Err(e) => {
            eprintln!("{}\t(unreadable: {e})", item["id"].as_str().unwrap_or("?"));
            return;
        }
    };
    let offset = i64::from(utc_offset_hours) * 3600;
    let day = chrono::DateTime::from_timestamp(item.publish_at + offset, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default();
    let state = if item.state == ContentState::Published && !item.visible_at(now) {
        "published (not shown now)"
    } else {
        item.state.as_str()
    };
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}",
        item.id,
        state,
        item.category.as_str(),
        item.audience,
        day,
        item.title
    );
}

/// The admin listener leaves bodies out of lists.
fn with_body(item: &Value) -> Value {
    let mut item = item.clone();
    if let Some(obj) = item.as_object_mut() {
        obj.entry("body").or_insert_with(|| json!(""));
    }
    item
}

fn print_job_created(job: &Value) {
    println!(
        "push job {} created: {} by {} to {} (see `onecard content jobs`)",
        job["id"],
        job["content_id"].as_str().unwrap_or_default(),
        job["channel"].as_str().unwrap_or_default(),
        job["audience"].as_str().unwrap_or_default(),
    );
}

fn print_job_row(job: &Value) {
    let c = &job["counts"];
    println!(
        "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
        job["id"],
        job["state"].as_str().unwrap_or_default(),
        job["channel"].as_str().unwrap_or_default(),
        job["content_id"].as_str().unwrap_or_default(),
        job["recipients"],
        c["sent"],
        c["pending"].as_u64().unwrap_or(0) + c["sending"].as_u64().unwrap_or(0),
        c["unsubscribed"],
        c["failed"],
        c["unknown"],
        job["backoffs"],
        job["last_error"].as_str().unwrap_or("-"),
    );
}
