//! The campus simulators as a test reads them (accounts, SMS, faults, the clock, the data a
//! reply is built from) and the binding dialog a user goes through.

use serde_json::json;

use super::{TestApp, masked_name, masked_phone, message, post_ok, text_of, whole_match};
use onecard::chat::Exchange;

impl TestApp {
    /// The card simulator's first `limit` accounts, as its listing shows them (`id`, `kind`,
    /// `dept`, `status`, `phone`, `balance_fen`, …).
    pub async fn sim_accounts(&self, limit: usize) -> Vec<serde_json::Value> {
        let list = self
            .get_json(&format!("/sim/card/accounts?limit={limit}"))
            .await;
        serde_json::from_value(list).unwrap()
    }

    /// An account as the card simulator holds it (`id`, `name`, `status`, `phone`, `balance_fen`, `pending_fen`).
    pub async fn sim_account(&self, sno: &str) -> serde_json::Value {
        self.get(&format!("/sim/card/accounts/{sno}"))
            .await
            .json()
            .await
            .unwrap()
    }

    /// The card number as replies show it: `****` and the last four digits.
    pub async fn masked_card(&self, sno: &str) -> String {
        let account = self.sim_account(sno).await;
        let no = account["card_no_display"].as_str().unwrap();
        format!("****{}", &no[no.len() - 4..])
    }

    /// What an upstream simulator answers a signed request (`"/sim/data"`,
    /// `onecard::wire::paths::DATA_MEETINGS_LIST`, the body), signed with the demo
    /// credentials as our adapters sign it: the data a reply is built from. Panics unless the
    /// answer is code 0.
    pub async fn upstream_read<T: serde::de::DeserializeOwned>(
        &self,
        base: &str,
        path: &str,
        body: serde_json::Value,
    ) -> T {
        use onecard::wire::{Credentials, Envelope, sign_request};
        let bytes = serde_json::to_vec(&body).unwrap();
        let path = format!("{base}{path}");
        let nonce = format!(
            "test{:016x}{:016x}",
            rand::random::<u64>(),
            rand::random::<u64>()
        );
        let creds = Credentials::new("onecard-demo", "demo-secret-change-me");
        let now = chrono::Utc::now().timestamp();
        let signed = sign_request(&creds, "POST", &path, &bytes, now, &nonce);
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(bytes);
        for (name, value) in signed.pairs() {
            request = request.header(name, value);
        }
        let text = request.send().await.unwrap().text().await.unwrap();
        let envelope: Envelope<T> =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        envelope.data.unwrap_or_else(|| panic!("{path}: {text}"))
    }

    /// Check that `reply` is 「余额」's whole answer for `sno`, with the balance and 过渡余额 the
    /// card simulator holds now (only the time of the data is left open).
    pub async fn assert_balance_reply(&self, sno: &str, reply: &str) {
        let account = self.sim_account(sno).await;
        let fen = |field: &str| onecard::domain::Fen(account[field].as_i64().unwrap());
        let pending = match fen("pending_fen") {
            p if p.fen() > 0 => format!(
                "\n另有过渡余额 {} 元待领取：请在食堂任意 POS 机或自助圈存机刷卡领款。",
                p.yuan()
            ),
            _ => String::new(),
        };
        let expected = format!(
            "您的校园卡（{}）当前余额为 {} 元。{pending}\n数据更新于 ",
            self.masked_card(sno).await,
            fen("balance_fen").yuan()
        );
        let [_as_of] = whole_match(&format!("{}(.+)。", regex::escape(&expected)), reply);
    }

    /// Texts the SMS simulator delivered to `phone`, oldest first.
    pub async fn sms_texts(&self, phone: &str) -> Vec<String> {
        let list: Vec<serde_json::Value> = self
            .get(&format!("/sim/sms/outbox?phone={phone}"))
            .await
            .json()
            .await
            .unwrap();
        list.iter()
            .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// The six-digit code in the newest SMS to `phone`.
    pub async fn latest_code(&self, phone: &str) -> String {
        let texts = self.sms_texts(phone).await;
        let last = texts.last().expect("an SMS was sent");
        last.chars()
            .collect::<Vec<_>>()
            .windows(6)
            .map(|w| w.iter().collect::<String>())
            .find(|w| w.chars().all(|c| c.is_ascii_digit()))
            .expect("a six-digit code in the SMS")
    }

    /// Set fault knobs of one simulated upstream (`card`, `sms`, `public_data`, `bank`, `billers`).
    pub async fn set_faults(&self, upstream: &str, faults: serde_json::Value) {
        self.sim_act(&format!("/sim/faults/{upstream}"), faults)
            .await;
    }

    /// Move the simulators' clock forward (timed upstream behaviour: code expiry, meters).
    pub async fn advance_sim_clock(&self, secs: u64) {
        self.sim_act("/sim/clock/advance", serde_json::json!({ "secs": secs }))
            .await;
    }

    /// `POST` to a simulator's test endpoint that must succeed (faults, the clock, a meter
    /// going offline, a claim at a POS).
    pub async fn sim_act(&self, path: &str, body: serde_json::Value) {
        post_ok(&self.http, &format!("{}{path}", self.base), body).await;
    }

    /// `POST` JSON to the public listener (the simulators' inspection and test endpoints).
    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        self.http
            .post(format!("{}{}", self.base, path))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_default()
    }

    /// The user follows the account (again).
    pub async fn subscribe(&self, user: &str) -> Exchange {
        let follow = onecard::wechat::Event::Subscribe {
            scene: None,
            ticket: None,
        };
        self.wx.event(user, follow).await.unwrap()
    }

    /// The user unfollows the account; WeChat is answered `success`.
    pub async fn unsubscribe(&self, user: &str) {
        let unfollow = onecard::wechat::Event::Unsubscribe;
        let ex = self.wx.event(user, unfollow).await.unwrap();
        assert_eq!(ex.body, "success");
    }

    /// Send text and return the reply text.
    pub async fn say(&self, user: &str, text: &str) -> String {
        text_of(&self.wx.text(user, text).await.unwrap())
    }

    /// What a successful binding of `sno` answers, with the name the card system holds.
    pub async fn bind_done(&self, sno: &str) -> String {
        let name = self.sim_account(sno).await["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let name_masked = masked_name(&name);
        message(
            "bind.done",
            json!({ "name_masked": name_masked, "student_id": sno }),
        )
    }

    /// Bind `sno` to `user` through the real dialog (happy path).
    pub async fn bind(&self, user: &str, sno: &str) {
        let phone = self.sim_account(sno).await["phone"]
            .as_str()
            .unwrap()
            .to_owned();
        let asked = self.say(user, "绑定").await;
        assert_eq!(asked, message("bind.ask_student_id", json!({})));
        let sent = self.say(user, sno).await;
        let phone_masked = masked_phone(&phone);
        assert_eq!(
            sent,
            message("bind.ask_code", json!({ "phone_masked": phone_masked }))
        );
        let code = self.latest_code(&phone).await;
        let done = self.say(user, &code).await;
        assert_eq!(done, self.bind_done(sno).await);
    }
}

/// Whether a person can bind: a normal card and a phone on file for the SMS code.
pub fn can_bind(account: &serde_json::Value) -> bool {
    account["status"] == "normal" && account["phone"].is_string()
}
