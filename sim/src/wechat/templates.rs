//! Template messages (no window needed; `client_msg_id` deduplicated for 10 minutes) and mass
//! sends, which deliver through the broadcasting limits of `crate::wechat_mass`.

use serde_json::{Value, json};

use crate::lock;
use crate::wechat_mass::{MASS_CLIENT_MSG_ID_EXISTS, MassRefusal, MassSim};

use super::errors::{E_DATA_FORMAT, E_REQUIRE_SUBSCRIBE, E_TEMPLATE_ID};
use super::messages::{parse_body, push_outbox, touser};
use super::{TEMPLATE_DEDUP_SECS, WechatSim, WxError};

impl WechatSim {
    /// `POST cgi-bin/message/template/send` → msgid (the same one for a deduplicated retry).
    pub fn template_send(&self, token: Option<&str>, raw: &[u8], now: i64) -> Result<u64, WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let body = parse_body(raw)?;
        let openid = touser(&body)?;
        let template_id = match body.get("template_id").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => t.to_owned(),
            _ => return Err(E_TEMPLATE_ID),
        };
        if !self.cfg.templates.is_empty() && !self.cfg.templates.contains(&template_id) {
            return Err(E_TEMPLATE_ID);
        }
        if !body.get("data").is_some_and(Value::is_object) {
            return Err(E_DATA_FORMAT);
        }
        if st.users.get(&openid).is_some_and(|u| u.unsubscribed) {
            return Err(E_REQUIRE_SUBSCRIBE);
        }
        let client_msg_id = body
            .get("client_msg_id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned);
        st.template_dedup
            .retain(|_, (at, _)| now - *at < TEMPLATE_DEDUP_SECS);
        if let Some(id) = &client_msg_id
            && let Some(&(_, msgid)) = st.template_dedup.get(&(openid.clone(), id.clone()))
        {
            st.stats.template_deduplicated += 1;
            return Ok(msgid);
        }
        if let Err(e) = self.mass.admit_template(&template_id, now) {
            st.stats.template_refused += 1;
            return Err(e);
        }
        let msgid = st.next_msgid;
        st.next_msgid += 1;
        if let Some(id) = client_msg_id {
            st.template_dedup.insert((openid.clone(), id), (now, msgid));
        }
        st.stats.template_sent += 1;
        push_outbox(&mut st, &openid, body, "template", now);
        Ok(msgid)
    }

    /// `POST cgi-bin/message/mass/sendall`: to every follower or a tag's members, each
    /// within their monthly allowance; a repeated `clientmsgid` answers 45065 with the first
    /// send's `msg_id`.
    pub fn mass_sendall(
        &self,
        token: Option<&str>,
        raw: &[u8],
        now: i64,
    ) -> Result<Value, WxError> {
        let mut st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        let body = parse_body(raw)?;
        let req = MassSim::parse_sendall(&body)?;
        match self.mass.sendall(&req, now) {
            Ok(d) => {
                st.stats.mass_delivered += d.recipients.len() as u64;
                for openid in &d.recipients {
                    push_outbox(&mut st, openid, req.message.clone(), "mass", now);
                }
                Ok(
                    json!({"errcode": 0, "errmsg": "send job submission success", "msg_id": d.msg_id, "msg_data_id": d.msg_id}),
                )
            }
            Err(MassRefusal::Exists(msg_id)) => Ok(json!({
                "errcode": MASS_CLIENT_MSG_ID_EXISTS,
                "errmsg": "clientmsgid exist",
                "msg_id": msg_id,
            })),
            Err(MassRefusal::Error(e)) => Err(e),
        }
    }

    /// The broadcasting side (tags, quotas, mass-send records), after the token check.
    pub fn mass(&self, token: Option<&str>, now: i64) -> Result<&MassSim, WxError> {
        Self::check_token(&lock(&self.st), token, now)?;
        Ok(&self.mass)
    }

    /// The broadcasting side for the simulator's own inspection and knobs (no token).
    pub fn mass_inspection(&self) -> &MassSim {
        &self.mass
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::{Value, json};

    use crate::wechat::test_support::{ALICE, errcode, token_uri};
    use crate::{SimConfig, SimState, configure};

    #[actix_web::test]
    async fn an_account_that_names_its_templates_refuses_any_other_with_40037() {
        let mut config = SimConfig::default();
        config.wechat.templates = vec!["TPL-news".into()];
        let state = SimState::new(config);
        let app = app!(state);
        let token = get!(app, &token_uri()).await["access_token"]
            .as_str()
            .unwrap()
            .to_owned();
        let uri = format!("/sim/wechat/cgi-bin/message/template/send?access_token={token}");
        let send = |template_id: &str| json!({"touser": ALICE, "template_id": template_id, "data": {"content": {"value": "x"}}});
        let refused = post!(app, &uri, &send("TPL-other")).await;
        assert_eq!(errcode(&refused), 40037);
        assert!(
            refused["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("invalid template_id rid: "),
            "{refused}"
        );
        assert_eq!(errcode(&post!(app, &uri, &send("TPL-news")).await), 0);
        let outbox = get!(app, format!("/sim/wechat/outbox?openid={ALICE}")).await;
        let ids: Vec<&str> = outbox
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|m| m["template_id"].as_str())
            .collect();
        assert_eq!(ids, ["TPL-news"]);
    }
}
