//! Binding a campus card to a WeChat user, unbinding it, and verifying a phone.
//!
//! Binding is a dialog: 绑定 → the 学工号 → a code sent by SMS to the phone the card system has
//! on file (shown masked) → the code → bound. One card ↔ one openid (enforced in the store's
//! transaction). The code limits (config `[binding]`: resend interval, codes and wrong codes
//! per card and per user per campus day, cards per user per day) live in `store::codes`, so
//! neither a restart nor unfollowing and following again changes anything.
//!
//! Full phone numbers never enter dialog data: 绑定手机 keeps only the masked number there, and
//! a resend takes the number from the pending code in the store.

use std::collections::BTreeMap;

use serde_json::json;

use super::support::{adapters, binding, mask_card, mask_name, phone_tail, upstream};
use super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput, DialogChange};
use crate::domain::{Phone, StudentId};
use crate::store::{Binding, Check, CodeLimits, Issue, Purpose, StoreError};
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
                "bind.code_spent",
                "bind.code_expired",
                "bind.too_soon",
                "bind.daily_limit",
                "bind.user_daily_limit",
                "bind.too_many_cards",
                "bind.locked",
                "bind.cannot_bind",
                "bind.card_taken",
                "bind.done",
                "bind.already",
            ],
            words: &["resend"],
            run: bind_card,
        },
        ActionDef {
            name: "unbind_card",
            fields: &["card_no_masked"],
            messages: &["unbind.confirm", "unbind.done", "unbind.kept"],
            words: &["confirm"],
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
                "phone.code_spent",
                "phone.code_expired",
                "phone.too_soon",
                "phone.daily_limit",
                "phone.user_daily_limit",
                "phone.too_many_numbers",
                "phone.all_daily_limit",
                "phone.locked",
                "phone.done",
            ],
            words: &["resend"],
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
    purpose: Purpose,
    too_soon: &'static str,
    subject_daily_limit: &'static str,
    user_daily_limit: &'static str,
    too_many_subjects: &'static str,
    all_daily_limit: &'static str,
    locked: &'static str,
    bad_code: &'static str,
    spent: &'static str,
    expired: &'static str,
    /// No code is pending (or it was consumed): start the dialog over.
    restart: &'static str,
    restart_step: &'static str,
}

const BIND_CODES: CodeMessages = CodeMessages {
    purpose: Purpose::Bind,
    too_soon: "bind.too_soon",
    subject_daily_limit: "bind.daily_limit",
    user_daily_limit: "bind.user_daily_limit",
    too_many_subjects: "bind.too_many_cards",
    // Binding has no all-users cap: each code goes to a phone the card system has on file.
    all_daily_limit: "bind.daily_limit",
    locked: "bind.locked",
    bad_code: "bind.bad_code",
    spent: "bind.code_spent",
    expired: "bind.code_expired",
    restart: "bind.ask_student_id",
    restart_step: "await_student_id",
};

const PHONE_CODES: CodeMessages = CodeMessages {
    purpose: Purpose::Phone,
    too_soon: "phone.too_soon",
    subject_daily_limit: "phone.daily_limit",
    user_daily_limit: "phone.user_daily_limit",
    too_many_subjects: "phone.too_many_numbers",
    all_daily_limit: "phone.all_daily_limit",
    locked: "phone.locked",
    bad_code: "phone.bad_code",
    spent: "phone.code_spent",
    expired: "phone.code_expired",
    restart: "phone.ask",
    restart_step: "await_phone",
};

impl CodeMessages {
    /// The configured limits of this dialog's codes.
    fn limits(&self, input: &ActionInput<'_>) -> CodeLimits {
        let b = &input.services.binding;
        let (subjects, codes, all) = match self.purpose {
            Purpose::Bind => (b.cards_per_user_per_day, b.codes_per_user_per_day, None),
            Purpose::Phone => (
                b.phone_numbers_per_user_per_day,
                b.phone_codes_per_user_per_day,
                Some(b.phone_codes_per_day),
            ),
        };
        CodeLimits {
            resend_secs: b.resend_secs,
            valid_secs: b.valid_secs,
            wrong_per_code: b.wrong_per_code,
            wrong_per_subject_per_day: b.wrong_codes_per_card_per_day,
            codes_per_subject_per_day: b.codes_per_phone_per_day,
            subjects_per_user_per_day: subjects,
            codes_per_user_per_day: codes,
            codes_per_day_all_users: all,
            utc_offset_hours: input.services.utc_offset_hours,
        }
    }

    /// The fields every refusal may show: the limits themselves, so the words can name them.
    fn limit_fields(limits: &CodeLimits, mut fields: serde_json::Value) -> serde_json::Value {
        if let Some(obj) = fields.as_object_mut() {
            obj.insert("max_codes".into(), limits.codes_per_user_per_day.into());
            obj.insert(
                "max_subjects".into(),
                limits.subjects_per_user_per_day.into(),
            );
            obj.insert("wrong_per_code".into(), limits.wrong_per_code.into());
            obj.insert("minutes".into(), (limits.valid_secs / 60).into());
        }
        fields
    }

    /// The code to send, or the reply that explains why none is sent.
    fn code_or_refusal(
        &self,
        limits: &CodeLimits,
        issued: Issue,
        waiting: DialogChange,
        fields: serde_json::Value,
    ) -> Result<String, ActionOutput> {
        let refuse = |key: &'static str, fields: serde_json::Value| {
            Err(
                ActionOutput::message(key, Self::limit_fields(limits, fields))
                    .with_dialog(DialogChange::End),
            )
        };
        match issued {
            Issue::Code(code) => Ok(code),
            Issue::TooSoon { wait_secs } => Err(ActionOutput::message(
                self.too_soon,
                json!({ "wait_secs": wait_secs }),
            )
            .with_dialog(waiting)),
            Issue::SubjectDailyLimit => refuse(self.subject_daily_limit, fields),
            Issue::UserDailyLimit => refuse(self.user_daily_limit, fields),
            Issue::TooManySubjects => refuse(self.too_many_subjects, fields),
            Issue::AllUsersDailyLimit => refuse(self.all_daily_limit, fields),
            Issue::Locked => refuse(self.locked, fields),
        }
    }

    /// What a right code confirms, or the reply for a wrong, spent, expired or missing one.
    fn payload_or_refusal(
        &self,
        limits: &CodeLimits,
        checked: Check,
    ) -> Result<serde_json::Value, ActionOutput> {
        match checked {
            Check::Ok(payload) => Ok(payload),
            Check::Wrong { tries_left } => Err(ActionOutput::message(
                self.bad_code,
                json!({ "tries_left": tries_left }),
            )),
            Check::Spent => Err(ActionOutput::message(
                self.spent,
                Self::limit_fields(limits, json!({})),
            )),
            Check::Locked => {
                Err(ActionOutput::message(self.locked, json!({})).with_dialog(DialogChange::End))
            }
            Check::Expired => Err(ActionOutput::message(self.expired, json!({}))),
            Check::NoCode => Err(ActionOutput::message(self.restart, json!({}))
                .with_dialog(step(self.restart_step, json!({})))),
        }
    }
}

/// The user asks for a new code: their reply is one of the `resend` words.
fn wants_resend(input: &ActionInput<'_>) -> bool {
    input.messages.is_word("resend", input.text)
}

/// The SMS platform's idempotency key of one send: unique per issued code (a key derived from
/// the user and the second collided when one user had two codes sent within a second, and the
/// platform refused the second as a changed duplicate). At most 31 characters.
fn sms_out_id(prefix: &str, now: i64) -> String {
    format!("{prefix}{now}{:016x}", rand::random::<u64>())
}

fn is_six_digits(text: &str) -> bool {
    text.len() == 6 && text.bytes().all(|b| b.is_ascii_digit())
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
                if wants_resend(&input) {
                    return ask_for_code(&input, &sno).await;
                }
                check_code(&input).await
            }
        }
    })
}

/// Look the card up and send a code to the phone on file.
///
/// "No such 学工号", "no phone on file" and "card closed" share one reply, and every distinct
/// 学工号 looked up counts against the user's cards for the day, so a script learns about a
/// handful of cards per WeChat account per day (docs/SECURITY.md).
async fn ask_for_code(input: &ActionInput<'_>, typed: &str) -> Result<ActionOutput, ActionError> {
    let Ok(sno) = StudentId::parse(typed) else {
        return Ok(ActionOutput::message("bind.bad_student_id", json!({}))
            .with_dialog(step("await_student_id", json!({}))));
    };
    let fields = json!({ "student_id": sno.as_str() });
    let store = &input.services.store;
    let limits = BIND_CODES.limits(input);
    let codes = store.codes();
    if !codes.reach_subject(
        Purpose::Bind,
        input.openid,
        sno.as_str(),
        &limits,
        input.now,
    )? {
        store.flush().await?;
        tracing::info!(user = %input.openid.log_tag(), "binding refused: cards per day reached");
        return Ok(ActionOutput::message(
            "bind.too_many_cards",
            CodeMessages::limit_fields(&limits, fields),
        )
        .with_dialog(DialogChange::End));
    }
    store.flush().await?;
    let cannot_bind = || {
        Ok(ActionOutput::message("bind.cannot_bind", fields.clone())
            .with_dialog(step("await_student_id", json!({}))))
    };
    let adapters = adapters(input)?;
    let accounts = match adapters.card.find_by_sno(&sno).await {
        Ok(a) => a,
        Err(e) if e.code() == Some(ErrorCode::AccountNotFound) => Vec::new(),
        Err(e) => return Err(upstream("card")(e)),
    };
    let Some(account) = accounts.into_iter().next() else {
        return cannot_bind();
    };
    if account.status == CardStatus::Closed {
        return cannot_bind();
    }
    let Some(phone_masked) = account.phone_masked.clone() else {
        return cannot_bind();
    };
    if let Some(owner) = store.bindings().owner_of(&sno)?
        && &owner != input.openid
    {
        return Ok(ActionOutput::message("bind.card_taken", fields).with_dialog(DialogChange::End));
    }
    let payload = json!({
        "student_id": sno.as_str(),
        "name": account.name,
        "account": account.account,
        "card_no": account.card_no_display,
        "phone_masked": phone_masked,
    });
    let issued = codes.issue(
        Purpose::Bind,
        input.openid,
        sno.as_str(),
        payload,
        &limits,
        input.now,
    )?;
    store.flush().await?;
    let dialog = step("await_code", json!({ "student_id": sno.as_str() }));
    let code = match BIND_CODES.code_or_refusal(&limits, issued, dialog.clone(), fields.clone()) {
        Ok(code) => code,
        Err(refused) => return Ok(refused),
    };
    let params = BTreeMap::from([
        ("code".to_owned(), code),
        ("minutes".to_owned(), (limits.valid_secs / 60).to_string()),
    ]);
    let out_id = sms_out_id("BIND", input.now);
    let s = &input.services.settings;
    match adapters
        .sms
        .send_to_sno(&sno, &s.sms_sign, &s.bind_code_template, params, &out_id)
        .await
    {
        Ok(_) => {}
        Err(e) if e.code() == Some(ErrorCode::NoPhoneOnFile) => return cannot_bind(),
        Err(e) => return Err(upstream("sms")(e)),
    }
    Ok(ActionOutput::message(
        "bind.ask_code",
        json!({ "phone_masked": phone_masked, "phone_tail": phone_tail(&phone_masked) }),
    )
    .with_dialog(dialog))
}

async fn check_code(input: &ActionInput<'_>) -> Result<ActionOutput, ActionError> {
    let typed = input.text.trim();
    if !is_six_digits(typed) {
        return Ok(ActionOutput::message("bind.code_format", json!({})));
    }
    let store = &input.services.store;
    let limits = BIND_CODES.limits(input);
    let checked = store
        .codes()
        .check(Purpose::Bind, input.openid, typed, &limits, input.now)?;
    store.flush().await?;
    let payload = match BIND_CODES.payload_or_refusal(&limits, checked) {
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
        if !super::support::is_confirm(&input) {
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
                Some(typed) => send_phone_code(&input, &typed).await,
                None => Ok(ActionOutput::message("phone.ask", json!({}))
                    .with_dialog(step("await_phone", json!({})))),
            },
            Some("await_phone") => {
                let typed = input.text.to_owned();
                send_phone_code(&input, &typed).await
            }
            Some(_) => {
                if wants_resend(&input) {
                    // The number is not in the dialog (it holds only the masked form): the
                    // pending code knows it.
                    let pending = input
                        .services
                        .store
                        .codes()
                        .pending_payload(Purpose::Phone, input.openid)?;
                    let number = pending
                        .as_ref()
                        .and_then(|p| p.get("phone"))
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned();
                    return send_phone_code(&input, &number).await;
                }
                check_phone_code(&input, b).await
            }
        }
    })
}

async fn send_phone_code(
    input: &ActionInput<'_>,
    typed: &str,
) -> Result<ActionOutput, ActionError> {
    let Ok(phone) = Phone::parse(typed) else {
        return Ok(ActionOutput::message("phone.invalid", json!({}))
            .with_dialog(step("await_phone", json!({}))));
    };
    let fields = json!({ "phone_masked": phone.masked() });
    let store = &input.services.store;
    let limits = PHONE_CODES.limits(input);
    let codes = store.codes();
    let issued = codes.issue(
        Purpose::Phone,
        input.openid,
        &codes.phone_subject(phone.expose()),
        json!({ "phone": phone.expose() }),
        &limits,
        input.now,
    )?;
    store.flush().await?;
    let dialog = step("await_code", fields.clone());
    let code = match PHONE_CODES.code_or_refusal(&limits, issued, dialog.clone(), fields.clone()) {
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
            ("minutes".to_owned(), (limits.valid_secs / 60).to_string()),
        ]),
        out_id: sms_out_id("PHONE", input.now),
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
    if !is_six_digits(typed) {
        return Ok(ActionOutput::message("phone.code_format", json!({})));
    }
    let store = &input.services.store;
    let limits = PHONE_CODES.limits(input);
    let checked = store
        .codes()
        .check(Purpose::Phone, input.openid, typed, &limits, input.now)?;
    store.flush().await?;
    let payload = match PHONE_CODES.payload_or_refusal(&limits, checked) {
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
