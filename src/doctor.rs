//! `onecard doctor URL`: replays what WeChat does when an administrator saves the server
//! configuration (the URL-verification handshake) and then a signed message, against any
//! deployed callback, and says in plain words what is wrong. "Token verification failed"
//! (Token验证失败) is the most common setup complaint in other SDKs' trackers, and WeChat's
//! own console does not say why.

use std::time::{Duration, Instant};

use rand::Rng;

use crate::chat::WeChatClient;
use crate::settings::WeChatSettings;

pub struct Report {
    pub ok: bool,
    pub lines: Vec<String>,
}

impl Report {
    fn pass(&mut self, s: impl Into<String>) {
        self.lines.push(format!("  ok    {}", s.into()));
    }
    fn fail(&mut self, s: impl Into<String>) {
        self.ok = false;
        self.lines.push(format!("  FAIL  {}", s.into()));
    }
    fn warn(&mut self, s: impl Into<String>) {
        self.lines.push(format!("  warn  {}", s.into()));
    }
}

pub async fn diagnose(url: &str, w: &WeChatSettings) -> Report {
    let mut r = Report {
        ok: true,
        lines: vec![format!(
            "checking {url} as WeChat would (app_id {})",
            w.app_id
        )],
    };
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            r.fail(format!("not a URL: {e}"));
            return r;
        }
    };
    match (parsed.scheme(), parsed.port()) {
        ("http", None) | ("https", None) => {
            r.pass("scheme and port are ones WeChat accepts (80/443)")
        }
        (_, Some(p)) => r.warn(format!(
            "port {p}: WeChat only calls ports 80 and 443; put a proxy in front"
        )),
        (s, _) => r.fail(format!("scheme {s}: WeChat only calls http:// or https://")),
    }
    let key = Some(w.encoding_aes_key.as_str()).filter(|k| !k.is_empty());
    let client = match WeChatClient::new(url, &w.token, key, &w.app_id, key.is_some()) {
        Ok(c) => c
            .with_callback_url(url)
            .with_account(&w.original_id)
            .without_sim(),
        Err(e) => {
            r.fail(format!("our own settings are invalid: {e}"));
            return r;
        }
    };

    if w.original_id.is_empty() {
        r.warn("wechat.original_id is not set, so messages addressed to another account are not refused: copy 原始ID (gh_…) from 公众号后台 → 设置与开发 → 公众号设置 → 注册信息, or the `to_user` in the server's log line \"wechat.original_id is not set\" after its first message");
    } else {
        r.pass(format!("messages must be addressed to {}", w.original_id));
    }

    // 1. URL verification (GET) with the right signature.
    let echostr = rand::rng()
        .random_range(1_000_000_000_000u64..9_999_999_999_999)
        .to_string();
    let now = chrono::Utc::now().timestamp();
    let query = client
        .platform()
        .verify_url_query(&echostr, now, "1514711492");
    match client.http().get(format!("{url}?{query}")).send().await {
        Err(e) => {
            r.fail(format!(
                "cannot connect: {e} (is the server running and reachable from the internet?)"
            ));
            return r;
        }
        Ok(resp) => {
            let status = resp.status().as_u16();
            let body = resp.text().await.unwrap_or_default();
            if status == 200 && body == echostr {
                r.pass("URL verification: echostr echoed exactly");
            } else if status == 200 && body.trim() == echostr {
                r.fail("URL verification: echostr came back with extra whitespace or a newline; WeChat compares it byte for byte");
            } else if status == 200 && body.contains(&echostr) {
                r.fail("URL verification: echostr is wrapped (quotes, XML or JSON); return it as the whole plain body");
            } else if status == 401 || status == 403 {
                r.fail(format!("URL verification refused ({status} {body:?}): the Token configured on the server differs from this one, or the server's clock is off"));
            } else {
                r.fail(format!("URL verification: HTTP {status}, body {body:?}; WeChat needs 200 with the echostr as body"));
            }
        }
    }

    // 2. A forged signature must be refused.
    let forged = client
        .platform()
        .verify_url_query(&echostr, now, "1514711492")
        .replace("signature=", "signature=0");
    if let Ok(resp) = client.http().get(format!("{url}?{forged}")).send().await {
        let body = resp.text().await.unwrap_or_default();
        if body == echostr {
            r.fail("a forged signature was accepted: the callback does not check signatures");
        } else {
            r.pass("forged signatures are refused");
        }
    }

    // 3. A signed message, in the mode we are configured for.
    let started = Instant::now();
    match client.text("oDoctorCheck000000000000001", "doctor ping").await {
        Ok(ex) if ex.status == 200 => {
            let elapsed = started.elapsed();
            r.pass(format!(
                "signed {} message accepted in {} ms{}",
                if key.is_some() { "safe-mode" } else { "plaintext" },
                elapsed.as_millis(),
                match &ex.reply {
                    Some(_) => ", reply decrypted and verified",
                    None => " (answered \"success\")",
                }
            ));
            if elapsed > Duration::from_millis(4500) {
                r.fail("the answer took longer than 4.5 s: WeChat gives up after 5 s and retries");
            }
        }
        Ok(ex) => r.fail(format!(
            "signed message refused: HTTP {} {:?} — {}",
            ex.status,
            ex.body,
            match ex.body.as_str() {
                b if b.contains("signature") => "Token or EncodingAESKey differs between WeChat and the server",
                b if b.contains("app") => "the AppID inside the encrypted message differs from the server's app_id",
                b if b.contains("timestamp") => "the server's clock is off by more than its timestamp window",
                b if b.contains("plaintext refused") => "the server is in safe or compatible mode (wechat.mode) and refuses plaintext; set the EncodingAESKey here too",
                b if b.contains("plaintext fields") => "the server is in safe mode but the body carries a plaintext copy: the WeChat console is in compatible mode; set wechat.mode = \"compatible\" or switch the console to safe mode",
                b if b.contains("wrong account") => "wechat.original_id differs from the ToUserName WeChat sends: copy 原始ID from 公众号设置",
                _ => "see the reason above",
            }
        )),
        Err(e) => r.fail(format!("signed message: {e} (a reply that does not decrypt means the EncodingAESKey or AppID differ)")),
    }
    r
}
