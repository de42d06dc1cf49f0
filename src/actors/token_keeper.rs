//! TokenKeeper: the one holder of the WeChat access_token.
//!
//! WeChat invalidates the previous token whenever a new one is fetched from `cgi-bin/token`, so
//! every part of the platform asks this actor instead of fetching its own. Fetches are
//! single-flight: the handler is atomic, so callers that arrive during a refresh queue behind
//! it and get the fresh token. When an API call fails with 40001/40014/42001 the caller reports
//! the token it used; it is dropped only if it is still the current one, so a burst of failures
//! causes one refresh, not a storm. The token is refreshed ahead of expiry in the background.

use std::time::{Duration, Instant};

use actix::prelude::*;

use crate::wechat::api::{AccessToken, ApiClient, ApiError};

#[derive(Message)]
#[rtype(result = "Result<String, ApiError>")]
struct GetToken;

#[derive(Message)]
#[rtype(result = "()")]
struct Invalidate(String);

#[derive(Message)]
#[rtype(result = "u64")]
struct Refreshes;

pub struct TokenKeeper {
    api: ApiClient,
    stable: bool,
    margin: Duration,
    current: Option<(String, Instant)>,
    refreshes: u64,
}

impl TokenKeeper {
    fn valid(&self) -> Option<String> {
        match &self.current {
            Some((token, expires_at)) if Instant::now() + self.margin < *expires_at => {
                Some(token.clone())
            }
            _ => None,
        }
    }

    fn refresh(&mut self) -> ResponseActFuture<Self, Result<String, ApiError>> {
        let api = self.api.clone();
        let stable = self.stable;
        Box::pin(
            async move {
                if stable {
                    api.fetch_stable_token(false).await
                } else {
                    api.fetch_token().await
                }
            }
            .into_actor(self)
            .map(|result: Result<AccessToken, ApiError>, act, _| {
                let token = result?;
                act.refreshes += 1;
                metrics::counter!("onecard_wechat_token_refreshes_total").increment(1);
                let expires_at = Instant::now() + Duration::from_secs(token.expires_in.max(1));
                act.current = Some((token.token.clone(), expires_at));
                tracing::info!(expires_in = token.expires_in, "access_token refreshed");
                Ok(token.token)
            }),
        )
    }
}

impl Actor for TokenKeeper {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        // Refresh ahead of expiry so no caller ever waits for a fetch in steady state.
        ctx.run_interval(Duration::from_secs(15), |act, ctx| {
            let due = match &act.current {
                Some((_, expires_at)) => Instant::now() + act.margin >= *expires_at,
                None => false,
            };
            if due {
                let fut = act.refresh().map(|r, _, _| {
                    if let Err(e) = r {
                        tracing::warn!(error = %e, "background access_token refresh failed");
                    }
                });
                ctx.wait(fut);
            }
        });
    }
}

impl Handler<GetToken> for TokenKeeper {
    type Result = AtomicResponse<Self, Result<String, ApiError>>;

    fn handle(&mut self, _: GetToken, _: &mut Self::Context) -> Self::Result {
        if let Some(token) = self.valid() {
            return AtomicResponse::new(Box::pin(fut::ready(Ok(token))));
        }
        AtomicResponse::new(self.refresh())
    }
}

impl Handler<Invalidate> for TokenKeeper {
    type Result = ();
    fn handle(&mut self, Invalidate(failed): Invalidate, _: &mut Self::Context) {
        if self.current.as_ref().is_some_and(|(t, _)| *t == failed) {
            self.current = None;
        }
    }
}

impl Handler<Refreshes> for TokenKeeper {
    type Result = u64;
    fn handle(&mut self, _: Refreshes, _: &mut Self::Context) -> u64 {
        self.refreshes
    }
}

/// The handle everyone uses; restarts the actor if it died.
#[derive(Clone)]
pub struct TokenKeeperHandle {
    addr: std::sync::Arc<std::sync::Mutex<Addr<TokenKeeper>>>,
    api: ApiClient,
    stable: bool,
    margin: Duration,
}

const ASK_TIMEOUT: Duration = Duration::from_secs(15);

impl TokenKeeperHandle {
    /// Start the keeper on the current arbiter.
    pub fn start(api: ApiClient, stable: bool, margin: Duration) -> Self {
        let addr = Self::spawn(api.clone(), stable, margin);
        Self {
            addr: std::sync::Arc::new(std::sync::Mutex::new(addr)),
            api,
            stable,
            margin,
        }
    }

    fn spawn(api: ApiClient, stable: bool, margin: Duration) -> Addr<TokenKeeper> {
        TokenKeeper {
            api,
            stable,
            margin,
            current: None,
            refreshes: 0,
        }
        .start()
    }

    fn addr(&self) -> Addr<TokenKeeper> {
        let mut guard = self.addr.lock().unwrap_or_else(|p| p.into_inner());
        if !guard.connected() {
            tracing::error!("token keeper was gone; restarting it");
            metrics::counter!("onecard_actor_restarts_total", "actor" => "token_keeper")
                .increment(1);
            *guard = Self::spawn(self.api.clone(), self.stable, self.margin);
        }
        guard.clone()
    }

    pub async fn token(&self) -> Result<String, ApiError> {
        match self.addr().send(GetToken).timeout(ASK_TIMEOUT).await {
            Ok(r) => r,
            Err(e) => Err(ApiError::Unavailable(e.to_string())),
        }
    }

    /// Report a token that WeChat refused (40001/40014/42001).
    pub fn invalidate(&self, failed: &str) {
        self.addr().do_send(Invalidate(failed.to_owned()));
    }

    pub async fn refreshes(&self) -> u64 {
        self.addr().send(Refreshes).await.unwrap_or(0)
    }

    /// Run an API call with the current token, refreshing once if WeChat says it is invalid.
    pub async fn call<T, F, Fut>(&self, f: F) -> Result<T, ApiError>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, ApiError>>,
    {
        let token = self.token().await?;
        match f(token.clone()).await {
            Err(e) if e.is_token_invalid() => {
                self.invalidate(&token);
                let fresh = self.token().await?;
                f(fresh).await
            }
            other => other,
        }
    }
}
