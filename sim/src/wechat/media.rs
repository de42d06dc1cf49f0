//! Temporary media: what a user's picture message points at (`cgi-bin/media/get`, and the
//! unsigned upload a test or the playground uses).

use actix_web::{HttpResponse, web};
use serde_json::json;

use crate::{SimState, lock};

use super::errors::E_MEDIA_ID;
use super::http::{Query, reply, token_q};
use super::tokens::new_token;
use super::{WechatSim, WxError};

impl WechatSim {
    /// A user's phone uploads a picture (the image message then carries the returned id).
    pub fn upload_media(&self, content_type: &str, bytes: Vec<u8>) -> String {
        let media_id = new_token()[..64].to_owned();
        lock(&self.st)
            .media
            .insert(media_id.clone(), (content_type.to_owned(), bytes));
        media_id
    }

    /// `GET cgi-bin/media/get`: the file itself, or 40007 for an unknown media_id.
    pub fn media_get(
        &self,
        token: Option<&str>,
        media_id: Option<&str>,
        now: i64,
    ) -> Result<(String, Vec<u8>), WxError> {
        let st = lock(&self.st);
        Self::check_token(&st, token, now)?;
        st.media
            .get(media_id.unwrap_or_default())
            .cloned()
            .ok_or(E_MEDIA_ID)
    }
}

pub(super) async fn media_get(state: web::Data<SimState>, q: Query) -> HttpResponse {
    let now = state.clock().now();
    let media_id = q.get("media_id").map(String::as_str);
    match state.wechat().media_get(token_q(&q), media_id, now) {
        Ok((content_type, bytes)) => HttpResponse::Ok().content_type(content_type).body(bytes),
        Err(e) => reply(Err(e)),
    }
}

/// `POST /sim/wechat/media` (body: the picture, `Content-Type` its type) → `{"media_id"}`.
pub(super) async fn media_upload(
    state: web::Data<SimState>,
    req: actix_web::HttpRequest,
    raw: web::Bytes,
) -> HttpResponse {
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("image/jpeg");
    let media_id = state.wechat().upload_media(content_type, raw.to_vec());
    HttpResponse::Ok().json(json!({ "media_id": media_id }))
}
