//! Access tokens: `cgi-bin/token` (a new fetch kills the previous token after the overlap, a
//! daily quota), `stable_token` (the same token while valid, rate-limited force refresh),
//! expiry, and the JS-SDK ticket.

use rand::Rng;
use serde_json::{Value, json};

use super::errors::{
    E_APPID, E_APPID_MISSING, E_APPSECRET, E_DAILY_QUOTA, E_GRANT_TYPE, E_INVALID_CREDENTIAL,
    E_MINUTE_QUOTA, E_SECRET_MISSING, E_TICKET_TYPE, E_TOKEN_EXPIRED, E_TOKEN_MISSING,
};
use super::{
    FORCE_REFRESH_SPACING_SECS, STABLE_ROTATE_BEFORE_SECS, TOKEN_DAILY_QUOTA, TOKEN_OVERLAP_SECS,
    TokenRec, WechatSim, WxError, WxState,
};
use crate::lock;

/// A successfully issued token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
}

pub(super) fn new_token() -> String {
    // Real tokens are ~136 chars of [A-Za-z0-9_-]; clients must store ≥ 512.
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
    let mut rng = rand::rng();
    (0..136)
        .map(|_| char::from(CHARS[rng.random_range(0..CHARS.len())]))
        .collect()
}

impl WechatSim {
    pub(super) fn check_credentials(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        wrong_secret: WxError,
    ) -> Result<(), WxError> {
        if grant_type != Some("client_credential") {
            return Err(E_GRANT_TYPE);
        }
        let appid = appid.filter(|s| !s.is_empty()).ok_or(E_APPID_MISSING)?;
        let secret = secret.filter(|s| !s.is_empty()).ok_or(E_SECRET_MISSING)?;
        if appid != self.cfg.app_id {
            return Err(E_APPID);
        }
        if secret != self.cfg.app_secret {
            return Err(wrong_secret);
        }
        Ok(())
    }

    /// `GET cgi-bin/token`: always a new token; the previous one dies after the overlap.
    pub fn fetch_token(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        now: i64,
    ) -> Result<IssuedToken, WxError> {
        self.check_credentials(grant_type, appid, secret, E_INVALID_CREDENTIAL)?;
        let mut st = lock(&self.st);
        // Daily quota of cgi-bin/token (docs/wechat-protocol.md §8.2): a refresh loop runs into 45009.
        let day = (now + 8 * 3600).div_euclid(86_400);
        if st.token_calls_today.0 != day {
            st.token_calls_today = (day, 0);
        }
        if st.token_calls_today.1 >= TOKEN_DAILY_QUOTA {
            return Err(E_DAILY_QUOTA);
        }
        st.token_calls_today.1 += 1;
        if let Some(prev) = st.plain_current.take()
            && let Some(rec) = st.tokens.get_mut(&prev)
        {
            let end = now + TOKEN_OVERLAP_SECS;
            rec.revoked_at = Some(rec.revoked_at.map_or(end, |r| r.min(end)));
        }
        let issued = self.issue(&mut st, now);
        st.plain_current = Some(issued.access_token.clone());
        tracing::debug!(family = "plain", "sim wechat issued access_token");
        Ok(issued)
    }

    /// A new token for the configured lifetime, recorded and counted as a fetch.
    fn issue(&self, st: &mut WxState, now: i64) -> IssuedToken {
        let token = new_token();
        st.tokens.insert(
            token.clone(),
            TokenRec {
                expires_at: now + self.cfg.token_ttl_secs,
                revoked_at: None,
            },
        );
        st.stats.token_fetches += 1;
        IssuedToken {
            access_token: token,
            expires_in: self.cfg.token_ttl_secs,
        }
    }

    /// `POST cgi-bin/stable_token`: the same token while valid in normal mode; a force
    /// refresh (at most every 30 s) invalidates the previous token at once.
    pub fn stable_token(
        &self,
        grant_type: Option<&str>,
        appid: Option<&str>,
        secret: Option<&str>,
        force_refresh: bool,
        now: i64,
    ) -> Result<IssuedToken, WxError> {
        self.check_credentials(grant_type, appid, secret, E_APPSECRET)?;
        let mut st = lock(&self.st);
        let current = st.stable_current.clone().and_then(|t| {
            let rec = st.tokens.get(&t)?;
            let alive = rec.revoked_at.is_none_or(|r| r > now) && rec.expires_at > now;
            alive.then_some((t, rec.expires_at))
        });
        if !force_refresh
            && let Some((token, expires_at)) = &current
            && expires_at - now > STABLE_ROTATE_BEFORE_SECS
        {
            st.stats.token_fetches += 1;
            return Ok(IssuedToken {
                access_token: token.clone(),
                expires_in: expires_at - now,
            });
        }
        if force_refresh {
            if st
                .last_force_refresh
                .is_some_and(|t| now - t < FORCE_REFRESH_SPACING_SECS)
            {
                return Err(E_MINUTE_QUOTA);
            }
            st.last_force_refresh = Some(now);
            if let Some((old, _)) = &current
                && let Some(rec) = st.tokens.get_mut(old)
            {
                rec.revoked_at = Some(now);
            }
        }
        // Normal-mode rotation near expiry: the old token simply runs out on its own.
        let issued = self.issue(&mut st, now);
        st.stable_current = Some(issued.access_token.clone());
        tracing::debug!(
            family = "stable",
            force_refresh,
            "sim wechat issued access_token"
        );
        Ok(issued)
    }

    /// `POST /sim/wechat/expire_tokens`: every issued token answers 42001 from now on.
    pub fn expire_tokens(&self, now: i64) {
        let mut st = lock(&self.st);
        for rec in st.tokens.values_mut() {
            rec.expires_at = rec.expires_at.min(now);
        }
    }

    pub(super) fn check_token(st: &WxState, token: Option<&str>, now: i64) -> Result<(), WxError> {
        let token = token.filter(|t| !t.is_empty()).ok_or(E_TOKEN_MISSING)?;
        let rec = st.tokens.get(token).ok_or(E_INVALID_CREDENTIAL)?;
        if rec.revoked_at.is_some_and(|r| r <= now) {
            return Err(E_INVALID_CREDENTIAL);
        }
        if rec.expires_at <= now {
            return Err(E_TOKEN_EXPIRED);
        }
        Ok(())
    }

    /// Whether `token` would be accepted by a business API right now.
    pub fn token_status(&self, token: &str, now: i64) -> Result<(), WxError> {
        Self::check_token(&lock(&self.st), Some(token), now)
    }

    /// `GET cgi-bin/ticket/getticket?type=jsapi`.
    pub fn jsapi_ticket(
        &self,
        token: Option<&str>,
        kind: Option<&str>,
        now: i64,
    ) -> Result<Value, WxError> {
        let st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        if kind != Some("jsapi") && kind != Some("wx_card") {
            return Err(E_TICKET_TYPE);
        }
        Ok(
            json!({"errcode": 0, "errmsg": "ok", "ticket": new_token()[..86].to_owned(), "expires_in": 7200}),
        )
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{App, test};
    use serde_json::{Value, json};

    use crate::configure;
    use crate::wechat::test_support::{
        ALICE, APPID, SECRET, errcode, frozen_state, send_uri, text, token_uri, typing_body,
        typing_uri,
    };
    use crate::wechat::{WechatSim, WechatSimConfig};

    #[actix_web::test]
    async fn token_endpoint_answers_real_shape_and_rejects_bad_credentials() {
        let state = frozen_state();
        let app = app!(state);
        let v = get!(app, &token_uri()).await;
        let obj = v.as_object().unwrap();
        assert_eq!(obj.len(), 2, "{v}");
        assert_eq!(v["expires_in"], 7200);
        assert_eq!(v["access_token"].as_str().unwrap().len(), 136);

        let v = get!(app, &format!("/sim/wechat/cgi-bin/token?grant_type=client_credential&appid=wxnope&secret={SECRET}")).await;
        assert_eq!(errcode(&v), 40013);
        assert!(
            v["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("invalid appid rid: "),
            "{v}"
        );
        let v = get!(
            app,
            &format!(
                "/sim/wechat/cgi-bin/token?grant_type=client_credential&appid={APPID}&secret=wrong"
            )
        )
        .await;
        assert_eq!(errcode(&v), 40001);
        let v = get!(
            app,
            &format!("/sim/wechat/cgi-bin/token?grant_type=password&appid={APPID}&secret={SECRET}")
        )
        .await;
        assert_eq!(errcode(&v), 40002);
        let v = post!(app, "/sim/wechat/cgi-bin/stable_token", &json!({"grant_type":"client_credential","appid":APPID,"secret":"wrong","force_refresh":false})).await;
        assert_eq!(errcode(&v), 40125);
        assert_eq!(state.wechat().stats().token_fetches, 1);
    }

    #[actix_web::test]
    async fn new_token_fetch_kills_the_previous_one_after_five_minutes() {
        let state = frozen_state();
        let app = app!(state);
        let a = access_token!(app).await;
        let b = access_token!(app).await;
        assert_ne!(a, b);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&a), &typing_body()).await),
            0
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri(&b), &typing_body()).await),
            0
        );
        state.clock().advance(299);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&a), &typing_body()).await),
            0
        );
        state.clock().advance(1);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&a), &typing_body()).await),
            40001
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri(&b), &typing_body()).await),
            0
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri("made-up"), &typing_body()).await),
            40001
        );
        assert_eq!(
            errcode(
                &post!(
                    app,
                    "/sim/wechat/cgi-bin/message/custom/typing",
                    &typing_body()
                )
                .await
            ),
            41001
        );

        // Natural expiry after 7200 s, then the refresh-test knob.
        state.clock().advance(7200);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&b), &typing_body()).await),
            42001
        );
        let c = access_token!(app).await;
        assert_eq!(
            errcode(&post!(app, &typing_uri(&c), &typing_body()).await),
            0
        );
        assert_eq!(
            post!(app, "/sim/wechat/expire_tokens", &json!({})).await,
            json!({"errcode":0,"errmsg":"ok"})
        );
        assert_eq!(
            errcode(&post!(app, &typing_uri(&c), &typing_body()).await),
            42001
        );
        let sent = post!(app, &send_uri(&c), &text(ALICE, "你好")).await;
        assert_eq!(errcode(&sent), 42001);
        assert!(
            sent["errmsg"]
                .as_str()
                .unwrap()
                .starts_with("access_token expired")
        );
    }

    #[actix_web::test]
    async fn a_token_refresh_loop_hits_the_daily_quota() {
        let sim = WechatSim::new(WechatSimConfig::default());
        let g = Some("client_credential");
        let now = 1_764_062_400; // 17:20 campus time
        for _ in 0..2000 {
            assert!(sim.fetch_token(g, Some(APPID), Some(SECRET), now).is_ok());
        }
        assert_eq!(
            sim.fetch_token(g, Some(APPID), Some(SECRET), now),
            Err(super::E_DAILY_QUOTA)
        );
        // The quota resets at campus midnight (7 h later).
        assert!(
            sim.fetch_token(g, Some(APPID), Some(SECRET), now + 7 * 3600)
                .is_ok()
        );
    }

    #[actix_web::test]
    async fn stable_token_is_stable_until_forced_and_force_is_rate_limited() {
        let state = frozen_state();
        let app = app!(state);
        let body = |force: bool| json!({"grant_type":"client_credential","appid":APPID,"secret":SECRET,"force_refresh":force});
        let uri = "/sim/wechat/cgi-bin/stable_token";
        let first = post!(app, uri, &body(false)).await;
        assert_eq!(first["expires_in"], 7200);
        state.clock().advance(100);
        let again = post!(app, uri, &body(false)).await;
        assert_eq!(again["access_token"], first["access_token"]);
        assert_eq!(again["expires_in"], 7100);
        // cgi-bin/token is isolated from stable tokens.
        get!(app, &token_uri()).await;
        let old = first["access_token"].as_str().unwrap().to_owned();
        state.clock().advance(400);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&old), &typing_body()).await),
            0
        );

        let forced = post!(app, uri, &body(true)).await;
        assert_ne!(forced["access_token"], first["access_token"]);
        assert_eq!(
            errcode(&post!(app, &typing_uri(&old), &typing_body()).await),
            40001
        );
        assert_eq!(errcode(&post!(app, uri, &body(true)).await), 45011);
        state.clock().advance(30);
        assert_eq!(errcode(&post!(app, uri, &body(true)).await), 0);

        // Normal mode rotates within the last 5 minutes; every answer has ≥ 300 s left.
        let cur = post!(app, uri, &body(false)).await;
        state.clock().advance(7200 - 300);
        let rotated = post!(app, uri, &body(false)).await;
        assert_ne!(rotated["access_token"], cur["access_token"]);
        assert_eq!(rotated["expires_in"], 7200);
        let cur_token = cur["access_token"].as_str().unwrap().to_owned();
        assert_eq!(
            errcode(&post!(app, &typing_uri(&cur_token), &typing_body()).await),
            0
        );
    }
}
