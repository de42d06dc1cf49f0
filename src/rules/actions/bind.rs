//! Binding a campus card to a WeChat user, unbinding it, and verifying a phone.
//!
//! Binding is a dialog: 绑定 → the 学工号 → a code sent by SMS to the phone the card system has
//! on file (shown masked) → the code → bound. One card ↔ one openid (enforced in the store's
//! transaction). The code limits (one per phone per minute, ten a day, five minutes valid,
//! five wrong tries lock for thirty minutes) live in the store, so a restart changes nothing.

use std::collections::BTreeMap;

use serde_json::json;

use super::support::{adapters, binding, mask_card, mask_name, phone_tail, upstream};
use super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::domain::{Phone, StudentId};
use crate::store::{Binding, Check, Issue, StoreError};
use crate::wire::{CardStatus, ErrorCode};

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "bind_card",
            fields: &["student_id", "name_masked"],
            messages: &[
                "bind.ask_student_id",
                "bind.bad_student_id",
                "bind.ask_code",
                "bind.code_format",
                "bind.bad_code",
                "bind.code_expired",
                "bind.too_soon",
                "bind.daily_limit",
                "bind.locked",
                "bind.not_found",
                "bind.no_phone",
                "bind.card_closed",
                "bind.card_taken",
                "bind.done",
                "bind.already",
            ],
            run: bind_card,
        },
        ActionDef {
            name: "unbind_card",
            fields: &["card_no_masked"],
            messages: &["unbind.confirm", "unbind.done", "unbind.kept"],
            run: unbind_card,
        },
        ActionDef {
            name: "bind_phone",
            fields: &["phone_masked"],
            messages: &[
                "phone.ask",
                "phone.invalid",
                "phone.ask_code",
                "phone.code_format",
                "phone.bad_code",
                "phone.code_expired",
                "phone.too_soon",
                "phone.daily_limit",
                "phone.locked",
                "phone.done",
            ],
            run: bind_phone,
        },
    ]
}

fn step(name: &str, data: serde_json::Value) -> DialogChange {
    DialogChange::Step {
        step: name.to_owned(),
        data,
    }
}

/// The messages one verification-code dialog answers with; binding and phone verification
/// share the code rules and differ only in their words.
struct CodeMessages {
    too_soon: &'static str,
    daily_limit: &'static str,
    locked: &'static str,
    bad_code: &'static str,
    expired: &'static str,
    /// No code is pending (or it was consumed): start the dialog over.
    restart: &'static str,
    restart_step: &'static str,
}

const BIND_CODES: CodeMessages = CodeMessages {
    too_soon: "bind.too_soon",
    daily_limit: "bind.daily_limit",
    locked: "bind.locked",
    bad_code: "bind.bad_code",
    expired: "bind.code_expired",
    restart: "bind.ask_student_id",
    restart_step: "await_student_id",
};

const PHONE_CODES: CodeMessages = CodeMessages {
    too_soon: "phone.too_soon",
    daily_limit: "phone.daily_limit",
    locked: "phone.locked",
    bad_code: "phone.bad_code",
    expired: "phone.code_expired",
    restart: "phone.ask",
    restart_step: "await_phone",
};

/// The code to send, or the reply that explains why none is sent.
fn code_or_refusal(
    m: &CodeMessages,
    issued: Issue,
    waiting: DialogChange,
    fields: serde_json::Value,
) -> Result<String, ActionOutput> {
    match issued {
        Issue::Code(code) => Ok(code),
        Issue::TooSoon { wait_secs } => Err(ActionOutput::message(
            m.too_soon,
            json!({ "wait_secs": wait_secs }),
        )
        .with_dialog(waiting)),
        Issue::DailyLimit => {
            Err(ActionOutput::message(m.daily_limit, fields).with_dialog(DialogChange::End))
        }
        Issue::Locked { minutes_left } => Err(ActionOutput::message(
            m.locked,
            json!({ "minutes_left": minutes_left }),
        )
        .with_dialog(DialogChange::End)),
    }
}

/// What a right code confirms, or the reply for a wrong, expired or missing one.
fn payload_or_refusal(m: &CodeMessages, checked: Check) -> Result<serde_json::Value, ActionOutput> {
    match checked {
        Check::Ok(payload) => Ok(payload),
        Check::Wrong { tries_left } => Err(ActionOutput::message(
            m.bad_code,
            json!({ "tries_left": tries_left }),
        )),
        Check::Locked { minutes_left } => Err(ActionOutput::message(
            m.locked,
            json!({ "minutes_left": minutes_left }),
        )
        .with_dialog(DialogChange::End)),
        Check::Expired => Err(ActionOutput::message(m.expired, json!({}))),
        Check::NoCode => Err(ActionOutput::message(m.restart, json!({}))
            .with_dialog(step(m.restart_step, json!({})))),
    }
}

/// Words that ask for a new code.
fn wants_resend(text: &str) -> bool {
    matches!(text.trim(), "重发" | "重新发送" | "再发一次" | "没收到")
}

fn bind_card(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        if let Some(b) = input.binding {
            return Ok(ActionOutput::message(
                "bind.already",
                json!({ "student_id": b.student_id.as_str() }),
            )
            .with_dialog(DialogChange::End));
        }
        match input.dialog.map(|d| d.step.as_str()) {
            // 绑定 (or 绑定 2024000001): start.
            None => match super::support::argument(&input) {
                Some(sno) => ask_for_code(&input, &sno).await,
                None => Ok(ActionOutput::message("bind.ask_student_id", json!({}))
                    .with_dialog(step("await_student_id", json!({})))),
            },
            Some("await_student_id") => {
                let typed = input.text.to_owned();
                ask_for_code(&input, &typed).await
            }
            Some(_) => {
                let sno = input
                    .dialog
                    .and_then(|d| d.data.get("student_id"))
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                if wants_resend(input.text) {
                    return ask_for_code(&input, &sno).await;
                }
                check_code(&input, &sno).await
            }
        }
    })
}

/// Look the card up and send a code to the phone on file.
async fn ask_for_code(input: &ActionInput<'_>, typed: &str) -> Result<ActionOutput, ActionError> {
    let Ok(sno) = StudentId::parse(typed) else {
        return Ok(ActionOutput::message("bind.bad_student_id", json!({}))
            .with_dialog(step("await_student_id", json!({}))));
    };
    let fields = json!({ "student_id": sno.as_str() });
    let adapters = adapters(input)?;
    let accounts = match adapters.card.find_by_sno(&sno).await {
        Ok(a) => a,
        Err(e) if e.code() == Some(ErrorCode::AccountNotFound) => Vec::new(),
        Err(e) => return Err(upstream("card")(e)),
    };
    let Some(account) = accounts.into_iter().next() else {
        return Ok(ActionOutput::message("bind.not_found", fields)
            .with_dialog(step("await_student_id", json!({}))));
    };
    if account.status == CardStatus::Closed {
        return Ok(ActionOutput::message("bind.card_closed", fields).with_dialog(DialogChange::End));
    }
    let store = &input.services.store;
    if let Some(owner) = store.bindings().owner_of(&sno)?
        && &owner != input.openid
    {
        return Ok(ActionOutput::message("bind.card_taken", fields).with_dialog(DialogChange::End));
    }
    let Some(phone_masked) = account.phone_masked.clone() else {
        return Ok(ActionOutput::message("bind.no_phone", fields).with_dialog(DialogChange::End));
    };
    let payload = json!({
        "student_id": sno.as_str(),
        "name": account.name,
        "account": account.account,
        "card_no": account.card_no_display,
        "phone_masked": phone_masked,
    });
    // The phone on file is only known to us masked, so its limits are keyed by the card.
    let phone_key = format!("sno-{}", sno.as_str());
    let issued = store.codes().issue(
        "bind",
        input.openid,
        sno.as_str(),
        &phone_key,
        payload,
        input.now,
    )?;
    store.flush().await?;
    let dialog = step("await_code", json!({ "student_id": sno.as_str() }));
    let code = match code_or_refusal(&BIND_CODES, issued, dialog.clone(), fields.clone()) {
        Ok(code) => code,
        Err(refused) => return Ok(refused),
    };
    let params = BTreeMap::from([
        ("code".to_owned(), code),
        ("minutes".to_owned(), "5".to_owned()),
    ]);
    let out_id = format!(
        "BIND{}{}",
        input.now,
        &input.openid.as_str()[input.openid.as_str().len().saturating_sub(6)..]
    );
    let s = &input.services.settings;
    match adapters
        .sms
        .send_to_sno(&sno, &s.sms_sign, &s.bind_code_template, params, &out_id)
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == Some(ErrorCode::NoPhoneOnFile) => {
            return Ok(
                ActionOutput::message("bind.no_phone", fields).with_dialog(DialogChange::End)
            );
        }
        Err(e) => return Err(upstream("sms")(e)),
    }
    Ok(ActionOutput::message(
        "bind.ask_code",
        json!({ "phone_masked": phone_masked, "phone_tail": phone_tail(&phone_masked) }),
    )
    .with_dialog(dialog))
}

async fn check_code(input: &ActionInput<'_>, sno: &str) -> Result<ActionOutput, ActionError> {
    let typed = input.text.trim();
    if typed.len() != 6 || !typed.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(ActionOutput::message("bind.code_format", json!({})));
    }
    let store = &input.services.store;
    let checked = store
        .codes()
        .check("bind", input.openid, sno, typed, input.now)?;
    store.flush().await?;
    let payload = match payload_or_refusal(&BIND_CODES, checked) {
        Ok(payload) => payload,
        Err(refused) => return Ok(refused),
    };
    let text = |k: &str| {
        payload
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_owned()
    };
    let Ok(student_id) = StudentId::parse(&text("student_id")) else {
        return Ok(ActionOutput::message("bind.ask_student_id", json!({}))
            .with_dialog(step("await_student_id", json!({}))));
    };
    let binding = Binding {
        student_id: student_id.clone(),
        name: text("name"),
        bound_at: input.now,
        phone_masked: text("phone_masked"),
        account: text("account"),
        card_no: text("card_no"),
        phone: None,
    };
    let fields =
        json!({ "student_id": student_id.as_str(), "name_masked": mask_name(&binding.name) });
    match store.bindings().bind(input.openid, &binding) {
        Ok(()) => {}
        Err(StoreError::CardTaken) => {
            return Ok(
                ActionOutput::message("bind.card_taken", fields).with_dialog(DialogChange::End)
            );
        }
        Err(StoreError::AlreadyBound) => {
            return Ok(ActionOutput::message("bind.already", fields).with_dialog(DialogChange::End));
        }
        Err(e) => return Err(e.into()),
    }
    store.flush().await?;
    store.audit(&json!({ "event": "card_bound", "user": input.openid.log_tag(), "student_id_tail": phone_tail(student_id.as_str()) }))?;
    tracing::info!(user = %input.openid.log_tag(), "card bound");
    Ok(ActionOutput::message("bind.done", fields).with_dialog(DialogChange::End))
}

fn unbind_card(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let fields = json!({ "card_no_masked": mask_card(&b.card_no) });
        if input.dialog.is_none() {
            return Ok(ActionOutput::message("unbind.confirm", fields)
                .with_dialog(step("await_confirm", json!({}))));
        }
        if !super::support::is_confirm(input.text) {
            return Ok(ActionOutput::message("unbind.kept", fields).with_dialog(DialogChange::End));
        }
        let store = &input.services.store;
        store.bindings().unbind(input.openid)?;
        store.flush().await?;
        store.audit(&json!({ "event": "card_unbound", "user": input.openid.log_tag() }))?;
        Ok(ActionOutput::message("unbind.done", fields).with_dialog(DialogChange::End))
    })
}

fn bind_phone(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?.clone();
        match input.dialog.map(|d| d.step.as_str()) {
            None => match super::support::argument(&input) {
                Some(typed) => send_phone_code(&input, &b, &typed).await,
                None => Ok(ActionOutput::message("phone.ask", json!({}))
                    .with_dialog(step("await_phone", json!({})))),
            },
            Some("await_phone") => {
                let typed = input.text.to_owned();
                send_phone_code(&input, &b, &typed).await
            }
            Some(_) => {
                let phone = input
                    .dialog
                    .and_then(|d| d.data.get("phone"))
                    .and_then(|v| v.as_str())
                    .unwrap_or_default()
                    .to_owned();
                if wants_resend(input.text) {
                    return send_phone_code(&input, &b, &phone).await;
                }
                check_phone_code(&input, b).await
            }
        }
    })
}

async fn send_phone_code(
    input: &ActionInput<'_>,
    b: &Binding,
    typed: &str,
) -> Result<ActionOutput, ActionError> {
    let Ok(phone) = Phone::parse(typed) else {
        return Ok(ActionOutput::message("phone.invalid", json!({}))
            .with_dialog(step("await_phone", json!({}))));
    };
    let fields = json!({ "phone_masked": phone.masked() });
    let store = &input.services.store;
    let issued = store.codes().issue(
        "phone",
        input.openid,
        b.student_id.as_str(),
        phone.expose(),
        json!({ "phone": phone.expose() }),
        input.now,
    )?;
    store.flush().await?;
    let dialog = step("await_code", json!({ "phone": phone.expose() }));
    let code = match code_or_refusal(&PHONE_CODES, issued, dialog.clone(), fields.clone()) {
        Ok(code) => code,
        Err(refused) => return Ok(refused),
    };
    let s = &input.services.settings;
    let send = crate::wire::SmsSend {
        phone: Some(phone.expose().to_owned()),
        sno: None,
        sign: s.sms_sign.clone(),
        template_id: s.verify_code_template.clone(),
        params: BTreeMap::from([
            ("code".to_owned(), code),
            ("minutes".to_owned(), "5".to_owned()),
        ]),
        out_id: format!("PHONE{}{}", input.now, phone_tail(phone.expose())),
    };
    adapters(input)?
        .sms
        .send(&send)
        .await
        .map_err(upstream("sms"))?;
    Ok(ActionOutput::message("phone.ask_code", fields).with_dialog(dialog))
}

async fn check_phone_code(
    input: &ActionInput<'_>,
    mut b: Binding,
) -> Result<ActionOutput, ActionError> {
    let typed = input.text.trim();
    if typed.len() != 6 || !typed.bytes().all(|c| c.is_ascii_digit()) {
        return Ok(ActionOutput::message("phone.code_format", json!({})));
    }
    let store = &input.services.store;
    let checked = store.codes().check(
        "phone",
        input.openid,
        b.student_id.as_str(),
        typed,
        input.now,
    )?;
    store.flush().await?;
    let payload = match payload_or_refusal(&PHONE_CODES, checked) {
        Ok(payload) => payload,
        Err(refused) => return Ok(refused),
    };
    let Some(phone) = payload
        .get("phone")
        .and_then(|v| v.as_str())
        .and_then(|p| Phone::parse(p).ok())
    else {
        return Ok(ActionOutput::message("phone.ask", json!({}))
            .with_dialog(step("await_phone", json!({}))));
    };
    let fields = json!({ "phone_masked": phone.masked() });
    b.phone = Some(phone);
    store.bindings().update(input.openid, &b)?;
    store.flush().await?;
    Ok(ActionOutput::message("phone.done", fields).with_dialog(DialogChange::End))
}
