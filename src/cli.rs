//! The command line: parse arguments, load settings, start logging, call into the library.
//! Everything here is wiring; the behaviour lives in the modules it calls.

mod desk;
mod orders;
mod reconcile;
mod tickets;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

mod content;

use crate::actions::ActionRegistry;
use crate::chat::{WeChatClient, pushed_text};
use crate::settings::Settings;
use crate::startup::{Application, Profile};
use crate::wechat::{Event, Reply};

#[derive(Parser)]
#[command(name = "onecard", version, about = "校园一卡通 × 微信公众号 platform")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Everything in one process on loopback: platform + every simulator (config/demo.toml).
    Demo {
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
        /// Listen address (default from the config: 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
        /// Data directory for the embedded store.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// The platform alone, pointed at real upstreams. Refuses settings with a [sim] section.
    Serve {
        #[arg(long)]
        config: PathBuf,
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// The upstream simulators alone (WeChat API, card system, SMS, public data).
    Sim {
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
    },
    /// Play WeChat in the terminal against a running callback.
    Chat {
        /// Server root of the platform.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Settings to take token, app_id and EncodingAESKey from.
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
        /// The OpenID to chat as.
        #[arg(long, default_value = "oDemoUser000000000000000001")]
        openid: String,
        /// Plaintext mode instead of safe mode.
        #[arg(long)]
        plain: bool,
    },
    /// Rule files: check, test, import.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The custom menu.
    Menu {
        #[command(subcommand)]
        command: MenuCommand,
    },
    /// Replay WeChat's URL verification and a signed test message against a deployed callback,
    /// and explain what is wrong.
    Doctor {
        /// The callback URL as configured in WeChat (…/wechat).
        url: String,
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
    },
    /// The embedded store: backup.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Binding by SMS code: what the service desk does after checking a person's ID.
    Binding {
        #[command(subcommand)]
        command: BindingCommand,
    },
    /// News, announcements and guide articles (docs/notices.md).
    Content {
        #[command(subcommand)]
        command: content::ContentCommand,
    },
    /// Repair tickets: list, show, reply, move (through the running server's admin listener).
    Tickets {
        #[command(subcommand)]
        command: tickets::TicketsCommand,
    },
    /// Orders (top-ups and payments): the manual queue and the rest (docs/MONEY.md); through
    /// the running server's admin listener, or a stopped server's data directory.
    Orders {
        #[command(subcommand)]
        command: orders::OrdersCommand,
    },
    /// Reconciliation (对账) of a campus day against the bank, card system and billers; the
    /// manual queue (docs/RECONCILIATION.md).
    Reconcile(reconcile::ReconcileArgs),
    /// A school's gateway against docs/upstream-api.md.
    Upstream {
        #[command(subcommand)]
        command: UpstreamCommand,
    },
}

#[derive(Subcommand)]
enum BindingCommand {
    /// Clear today's binding limits of a card (wrong codes and codes sent), so its owner can
    /// bind now instead of tomorrow. Check the owner's ID first: this also reopens the card to
    /// whoever locked it. Goes through the running server's admin listener, or with `--data`
    /// straight to the store of a stopped server.
    Unlock {
        /// The card's 学工号.
        student_id: String,
        /// The admin listener's base URL (default: `server.admin_listen` of `--config`).
        #[arg(long)]
        admin: Option<String>,
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
        /// The data directory of a stopped server, instead of the admin listener.
        #[arg(long, conflicts_with = "admin")]
        data: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum UpstreamCommand {
    /// Run the conformance kit: one PASS/FAIL/SKIP line per check, exit 1 on any difference.
    Check {
        /// A onecard config: every `[upstreams.*]` section is checked.
        #[arg(long, required_unless_present = "url", conflicts_with = "url")]
        config: Option<PathBuf>,
        /// One gateway's base URL instead of a config (with --app-key and --secret).
        #[arg(long, requires_all = ["app_key", "secret"])]
        url: Option<String>,
        /// Which upstream --url is: card, sms, public_data, bank or billers.
        #[arg(long, default_value = "card")]
        upstream: String,
        #[arg(long)]
        app_key: Option<String>,
        #[arg(long)]
        secret: Option<String>,
        /// 学工号 of a test person with a normal card (default: the simulator's 张三).
        #[arg(long, default_value = "2024000001")]
        sno: String,
        /// That person's card account.
        #[arg(long, default_value = "20001")]
        account: String,
        /// That card's password (sent only as its digest).
        #[arg(long, default_value = "123456")]
        password: String,
        /// Also run the writes: a 1 元 load and debit (both undone), a loss report (cancelled),
        /// one SMS to the test person, a 1 元 bank debit (reversed) and a 1 元 payment to
        /// --biller/--biller-target (not undoable). Only against test accounts.
        #[arg(long)]
        writes: bool,
        /// The biller the payment check pays (default: the simulator's donations).
        #[arg(long, default_value = "donation")]
        biller: String,
        /// The target of that payment (default: the simulator's library fund).
        #[arg(long, default_value = "FUND-LIB")]
        biller_target: String,
        /// The simulator's fault switch (http://HOST:PORT/sim/faults): lets the kit provoke
        /// 1006, 9000 and 9001, which no legitimate request can. Simulator only.
        #[arg(long)]
        sim_faults: Option<String>,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate the rules exactly as the service loads them; print file:line:col errors and
    /// exit non-zero on any. PATH is the rules directory, or one file checked as it would be
    /// once copied into --dir.
    Check {
        path: Option<PathBuf>,
        /// The rules directory a single file joins (and the default PATH).
        #[arg(long, default_value = "config/rules")]
        dir: PathBuf,
        /// The menu to cross-check [default: menu.toml next to the rules directory, else
        /// config/menu.toml].
        #[arg(long)]
        menu: Option<PathBuf>,
    },
    /// Show which rule a message hits and the rendered reply.
    Test {
        text: Option<String>,
        /// An event instead of text: CLICK:KEY, SCAN:KEY, SUBSCRIBE or SUBSCRIBE:SCENE.
        #[arg(long)]
        event: Option<String>,
        #[arg(long, default_value = "config/rules")]
        dir: PathBuf,
        /// When, in campus time: "周一 10:00" (this week) or an RFC 3339 time [default: now].
        #[arg(long)]
        at: Option<String>,
        /// Settings to take the campus time zone from (`server.utc_offset_hours`).
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
    },
    /// Convert WeChat's get_current_autoreply_info JSON into a rule file.
    Import {
        file: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Overwrite --out if it exists.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
enum MenuCommand {
    /// Validate config/menu.toml against WeChat's limits.
    Check {
        #[arg(long, default_value = "config/menu.toml")]
        file: PathBuf,
    },
    /// Validate and push the menu through the WeChat API.
    Push {
        #[arg(long, default_value = "config/demo.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Write every record as JSON lines (the backup and migration format).
    Export {
        #[arg(long, default_value = "data/demo")]
        data: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// `onecard sim`: the simulators alone.
#[cfg(feature = "sim")]
fn serve_simulators(cfg: crate::sim::SimConfig, listen: &str) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let state = crate::sim::SimState::new(cfg);
        tracing::info!(%listen, "simulators listening under /sim/");
        actix_web::HttpServer::new(move || {
            actix_web::App::new().configure(crate::sim::configure(state.clone()))
        })
        .bind(listen)?
        .run()
        .await
    })?;
    Ok(())
}

#[cfg(not(feature = "sim"))]
fn serve_simulators(_: crate::settings::SimSection, _: &str) -> anyhow::Result<()> {
    bail!("this binary was built without the simulators (cargo feature `sim`)")
}

pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Demo {
            config,
            listen,
            data,
        } => {
            let mut settings = load(&config)?;
            if let Some(l) = listen {
                settings.server.listen = l;
            }
            if let Some(d) = data {
                settings.server.data_dir = d;
            }
            if settings.sim.is_none() {
                bail!(
                    "{} has no [sim] section; `demo` needs the simulators",
                    config.display()
                );
            }
            serve(settings, Profile::Demo)
        }
        Command::Serve { config, data } => {
            let mut settings = load(&config)?;
            if let Some(d) = data {
                settings.server.data_dir = d;
            }
            serve(settings, Profile::Production)
        }
        Command::Sim { config, listen } => {
            crate::telemetry::init_logging(false);
            let settings = load(&config)?;
            let cfg = settings.sim.context("the config has no [sim] section")?;
            serve_simulators(cfg, &listen)
        }
        Command::Chat {
            url,
            config,
            openid,
            plain,
        } => chat(&url, &load(&config)?, &openid, !plain),
        Command::Rules { command } => rules(command),
        Command::Menu { command } => menu(command),
        Command::Doctor { url, config } => doctor(&url, &load(&config)?),
        Command::Content { command } => content::run(command),
        Command::Upstream {
            command:
                UpstreamCommand::Check {
                    config,
                    url,
                    upstream,
                    app_key,
                    secret,
                    sno,
                    account,
                    password,
                    writes,
                    biller,
                    biller_target,
                    sim_faults,
                },
        } => {
            let gateways = match (config, url, app_key, secret) {
                (Some(config), ..) => {
                    let mut settings = load(&config)?;
                    let own = format!("http://{}", settings.server.listen);
                    settings.resolve_self_urls(&own);
                    let upstreams = settings
                        .upstreams
                        .context("the config has no [upstreams] sections")?;
                    crate::conformance::gateways(&upstreams)
                }
                (None, Some(url), Some(key), Some(secret)) => {
                    let which = crate::conformance::Upstream::parse(&upstream)
                        .with_context(|| format!("unknown upstream {upstream:?}"))?;
                    let creds = crate::wire::Credentials::new(key, secret);
                    vec![crate::conformance::Gateway::new(which, &url, creds)]
                }
                _ => bail!("give --config FILE, or --url URL --app-key K --secret S"),
            };
            let fixtures = crate::conformance::Fixtures {
                sno,
                account,
                password,
                writes,
                biller_id: biller,
                biller_target,
                sim_faults,
            };
            let report = actix_web::rt::System::new()
                .block_on(crate::conformance::run(&gateways, &fixtures));
            println!("{report}");
            if !report.passed() {
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Store { command } => match command {
            StoreCommand::Export { data, out } => {
                let store = crate::store::Store::open(&data, 16)?;
                let n = match out {
                    Some(path) => {
                        let mut f = std::io::BufWriter::new(std::fs::File::create(&path)?);
                        store.export(&mut f)?
                    }
                    None => store.export(&mut std::io::stdout().lock())?,
                };
                eprintln!("exported {n} records");
                Ok(())
            }
        },
        Command::Binding {
            command:
                BindingCommand::Unlock {
                    student_id,
                    admin,
                    config,
                    data,
                },
        } => unlock_binding(&student_id, admin, &config, data.as_deref()),
        Command::Tickets { command } => tickets::run(command),
        Command::Orders { command } => orders::run(command),
        Command::Reconcile(args) => reconcile::run(args),
    }
}

fn unlock_binding(
    student_id: &str,
    admin: Option<String>,
    config: &Path,
    data: Option<&Path>,
) -> anyhow::Result<()> {
    let sno = crate::domain::StudentId::parse(student_id)
        .map_err(|e| anyhow::anyhow!("{student_id:?} is not a 学工号: {e}"))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let cleared = match data {
        Some(dir) => {
            let store = crate::store::Store::open(dir, 16).with_context(|| {
                format!(
                    "opening the store at {} (a running server holds it: leave out --data to go through its admin listener)",
                    dir.display()
                )
            })?;
            let cleared = store.unlock_card_binding(&sno, chrono::Utc::now().timestamp())?;
            runtime.block_on(store.flush())?;
            cleared
        }
        None => {
            let base = match admin {
                Some(url) => url,
                None => format!("http://{}", load(config)?.server.admin_listen),
            };
            let url = format!("{}/binding/unlock/{sno}", base.trim_end_matches('/'));
            let answer: serde_json::Value = runtime.block_on(async {
                let response = reqwest::Client::new()
                    .post(&url)
                    .timeout(Duration::from_secs(10))
                    .send()
                    .await
                    .with_context(|| format!("reaching the admin listener at {base}"))?;
                let status = response.status();
                if !status.is_success() {
                    bail!("the admin listener answered {status}");
                }
                Ok(response.json().await?)
            })?;
            answer["cleared"].as_bool().unwrap_or(false)
        }
    };
    if cleared {
        println!("cleared today's binding limits of card {sno}; its owner can bind now");
    } else {
        println!("card {sno} has no binding limits today; nothing to clear");
    }
    Ok(())
}

fn load(path: &Path) -> anyhow::Result<Settings> {
    Settings::load(path).with_context(|| format!("loading settings from {}", path.display()))
}

/// Where the operator commands find the running server's admin listener: `--admin` as given,
/// else `server.admin_listen` of the `--config` settings. The base URL, without a trailing `/`.
fn admin_base(given: Option<&str>, config: &Path) -> anyhow::Result<String> {
    Ok(match given {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", load(config)?.server.admin_listen),
    })
}

fn serve(settings: Settings, profile: Profile) -> anyhow::Result<()> {
    crate::telemetry::init_logging(false);
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings.clone(), profile).await?;
        let base = app.handles().base_url.clone();
        let admin = app.handles().admin_url.clone();
        if profile == Profile::Demo {
            println!("onecard demo is running at {base}");
            println!(
                "  callback      {base}/wechat   (token {:?}, app_id {:?}, safe mode)",
                settings.wechat.token, settings.wechat.app_id
            );
            println!("  health        {base}/healthz");
            println!("  metrics       {admin}/metrics   (admin listener)");
            println!("  simulators    {base}/sim/…");
            println!("chat with it in another terminal:  cargo run --release -- chat --url {base}");
        } else {
            tracing::info!(%base, %admin, "onecard serving");
        }
        app.run_until_stopped().await?;
        anyhow::Ok(())
    })
}

fn print_reply(reply: &Reply) {
    match reply {
        Reply::Text(t) => println!("公众号 > {t}"),
        Reply::News(a) => println!(
            "公众号 > [图文] {}\n          {}\n          {}",
            a.title, a.description, a.url
        ),
    }
}

fn chat(url: &str, settings: &Settings, openid: &str, safe: bool) -> anyhow::Result<()> {
    crate::domain::OpenId::parse(openid).map_err(|_| {
        anyhow::anyhow!("--openid {openid:?} is not an OpenID (letters, digits, _ and -)")
    })?;
    let w = &settings.wechat;
    let key = Some(w.encoding_aes_key.as_str()).filter(|k| !k.is_empty());
    let safe = safe && key.is_some();
    let client =
        WeChatClient::new(url, &w.token, key, &w.app_id, safe)?.with_account(&w.original_id);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    println!(
        "chatting with {url} as {openid} ({} mode). Type a message; commands:",
        if safe { "safe" } else { "plaintext" }
    );
    println!(
        "  /click KEY   menu click     /subscribe [SCENE]   follow     /scan KEY   scan a QR code"
    );
    println!("  /unsubscribe                /wait SECONDS (show pushed messages)          /quit");
    let mut seen = rt
        .block_on(client.outbox(openid))
        .map(|v| v.len())
        .unwrap_or(0);
    let stdin = std::io::stdin();
    loop {
        print!("我 > ");
        std::io::stdout().flush()?;
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 {
            break;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let mut words = line.splitn(2, ' ');
        let head = words.next().unwrap_or_default();
        let arg = words.next().map(str::trim).unwrap_or_default().to_owned();
        let exchange = match head {
            "/quit" | "/exit" => break,
            "/wait" => {
                let secs: u64 = arg.parse().unwrap_or(5);
                std::thread::sleep(Duration::from_secs(secs));
                None
            }
            "/click" => Some(rt.block_on(client.event(openid, Event::Click { key: arg }))),
            "/scan" => Some(rt.block_on(client.event(
                openid,
                Event::Scan {
                    key: arg,
                    ticket: None,
                },
            ))),
            "/subscribe" => Some(rt.block_on(client.event(
                openid,
                Event::Subscribe {
                    scene: Some(arg).filter(|s| !s.is_empty()),
                    ticket: None,
                },
            ))),
            "/unsubscribe" => Some(rt.block_on(client.event(openid, Event::Unsubscribe))),
            _ => Some(rt.block_on(client.text(openid, line))),
        };
        match exchange {
            Some(Ok(ex)) if ex.status != 200 => println!("(HTTP {}: {})", ex.status, ex.body),
            Some(Ok(ex)) => match ex.reply {
                Some(r) => print_reply(&r),
                None => println!("(no passive reply: \"{}\")", ex.body),
            },
            Some(Err(e)) => println!("(error: {e})"),
            None => {}
        }
        // Replies that came later through the customer-service API.
        std::thread::sleep(Duration::from_millis(150));
        if let Ok(pushed) = rt.block_on(client.outbox(openid)) {
            for msg in pushed.iter().skip(seen) {
                println!("公众号 (推送) > {}", pushed_text(msg));
            }
            seen = pushed.len();
        }
    }
    Ok(())
}

fn parse_event(spec: &str) -> anyhow::Result<(String, Option<String>)> {
    let (kind, key) = match spec.split_once(':') {
        Some((k, v)) => (k.to_ascii_uppercase(), Some(v.to_owned())),
        None => (spec.to_ascii_uppercase(), None),
    };
    Ok((kind, key))
}

fn rules(command: RulesCommand) -> anyhow::Result<()> {
    let catalog = ActionRegistry::builtin();
    match command {
        RulesCommand::Check { path, dir, menu } => {
            let path = path.unwrap_or_else(|| dir.clone());
            let dir = if path.is_dir() { path.clone() } else { dir };
            let menu = menu
                .or_else(|| {
                    dir.parent()
                        .map(|p| p.join("menu.toml"))
                        .filter(|p| p.is_file())
                })
                .unwrap_or_else(|| PathBuf::from("config/menu.toml"));
            match crate::rules::check(&path, &dir, Some(&menu), &catalog) {
                Ok(summary) => {
                    println!("{summary}");
                    Ok(())
                }
                Err(diags) => {
                    for d in &diags {
                        eprintln!("{d}");
                    }
                    bail!("{} error(s) in {}", diags.len(), path.display())
                }
            }
        }
        RulesCommand::Test {
            text,
            event,
            dir,
            at,
            config,
        } => {
            let offset_hours = load(&config)?.server.utc_offset_hours;
            let table = crate::rules::load_dir(&dir, &catalog).map_err(diagnostics_error)?;
            let now =
                chrono::Utc::now().naive_utc() + chrono::Duration::hours(i64::from(offset_hours));
            let now = match &at {
                Some(spec) => crate::rules::parse_campus_time(spec, now, offset_hours)
                    .map_err(anyhow::Error::msg)?,
                None => now,
            };
            let normalized;
            let trigger = match (&text, &event) {
                (_, Some(spec)) => {
                    let (kind, key) = parse_event(spec)?;
                    match (kind.as_str(), key) {
                        ("CLICK", Some(k)) => {
                            normalized = k;
                            crate::rules::Trigger::Click(&normalized)
                        }
                        ("SCAN", Some(k)) => {
                            normalized = k;
                            crate::rules::Trigger::Scan(&normalized)
                        }
                        ("SUBSCRIBE", k) => {
                            normalized = k.unwrap_or_default();
                            crate::rules::Trigger::Subscribe {
                                scene: Some(normalized.as_str()).filter(|s| !s.is_empty()),
                            }
                        }
                        _ => {
                            bail!("--event takes CLICK:KEY, SCAN:KEY, SUBSCRIBE or SUBSCRIBE:SCENE")
                        }
                    }
                }
                (Some(t), None) => {
                    normalized = crate::rules::normalize(t);
                    crate::rules::Trigger::Text(&normalized)
                }
                (None, None) => bail!("give a text or --event"),
            };
            println!("{}", crate::rules::explain(&table, &trigger, now));
            Ok(())
        }
        RulesCommand::Import { file, out, force } => {
            if let Some(path) = &out
                && path.exists()
                && !force
            {
                bail!(
                    "{} already exists; choose another --out, or add --force to overwrite it",
                    path.display()
                );
            }
            let json = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let (toml, warnings) = crate::rules::import_autoreply_with_warnings(&json)?;
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            match out {
                Some(path) => {
                    std::fs::write(&path, toml)?;
                    eprintln!(
                        "wrote {}; check it with `onecard rules check`",
                        path.display()
                    );
                }
                None => print!("{toml}"),
            }
            Ok(())
        }
    }
}

/// A loader's diagnostics as one error, one diagnostic a line.
fn diagnostics_error(diags: Vec<crate::rules::Diagnostic>) -> anyhow::Error {
    anyhow::anyhow!(crate::rules::Diagnostic::one_per_line(&diags))
}

fn menu(command: MenuCommand) -> anyhow::Result<()> {
    let load_menu = |path: &Path| crate::rules::menu::Menu::load(path).map_err(diagnostics_error);
    match command {
        MenuCommand::Check { file } => {
            let menu = load_menu(&file)?;
            println!(
                "{} is valid:\n{}",
                file.display(),
                serde_json::to_string_pretty(&menu.to_wechat_json())?
            );
            Ok(())
        }
        MenuCommand::Push { config } => {
            let settings = load(&config)?;
            let menu = load_menu(&settings.rules.menu)?;
            let w = &settings.wechat;
            if w.api_base.starts_with('/') {
                bail!(
                    "api_base {:?} is relative to a running demo; start `onecard demo` and set ONECARD__WECHAT__API_BASE=http://127.0.0.1:8080/sim/wechat",
                    w.api_base
                );
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let api = crate::wechat::api::ApiClient::new(
                    &w.api_base,
                    &w.app_id,
                    &w.app_secret,
                    Duration::from_secs(10),
                )?;
                let token = if w.use_stable_token {
                    api.fetch_stable_token(false).await?
                } else {
                    api.fetch_token().await?
                };
                api.create_menu(&token.token, &menu.to_wechat_json())
                    .await?;
                println!("menu pushed to {}", w.api_base);
                anyhow::Ok(())
            })
        }
    }
}

fn doctor(url: &str, settings: &Settings) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(crate::doctor::diagnose(url, &settings.wechat));
    for line in &report.lines {
        println!("{line}");
    }
    if report.ok {
        println!("✔ the callback answers like WeChat expects");
        Ok(())
    } else {
        bail!("the callback has problems (see above)")
    }
}
