//! The admin listener as an operator's tools call it (the back office, the repair desk, content
//! and push jobs): the status and the exact body, or the JSON of a call that must succeed.

use reqwest::Method;
use serde_json::Value;

use super::TestApp;

impl TestApp {
    /// A request to the admin listener, with a JSON body if any.
    pub async fn admin_send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Response {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.admin_base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.unwrap()
    }

    /// A request to the admin listener: the status and the body as sent.
    pub async fn admin_call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, String) {
        status_and_text(self.admin_send(method, path, body).await).await
    }

    /// `GET` on the admin listener: the status and the body as sent.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        status_and_text(self.admin_send(Method::GET, path, None).await).await
    }

    /// `POST` JSON to the admin listener: the status and the body as sent.
    pub async fn admin_post(&self, path: &str, body: Value) -> (u16, String) {
        status_and_text(self.admin_send(Method::POST, path, Some(body)).await).await
    }

    /// The JSON answer to an admin call that must succeed.
    pub async fn admin(&self, method: Method, path: &str, body: Option<Value>) -> Value {
        let (status, text) = self.admin_call(method, path, body).await;
        assert!((200..300).contains(&status), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }

    /// The JSON answer to an admin `GET` that must succeed.
    pub async fn admin_json(&self, path: &str) -> Value {
        self.admin(Method::GET, path, None).await
    }
}

async fn status_and_text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.unwrap())
}
