//! The six billers' dialogs, each ending in an [`super::offer`] and its 「确认」.
//!
//! Electricity: building (numbered list) → room number → remaining kWh shown → amount.
//! Network fee: the account's balance and traffic → a package. Photo fee and library fines:
//! the receivables still open (library amounts from the public data store). Exam fee: the
//! registered exams still unpaid. Donation: project → amount → optional message.

use serde_json::{Value, json};

use super::super::support::{adapters, binding, upstream, yuan};
use super::super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput, DialogChange};
use super::{
    CONFIRM_STEP, Offer, amount_within, billers_of, catalog_entry, confirm, new_order_id, offer,
};
use crate::domain::Fen;
use crate::wire::{ErrorCode, LocationsQuery};

const PAY_FIELDS: &[&str] = &[];
/// Every offer ends in 「确认」.
const OFFER_WORDS: &[&str] = &["confirm"];

/// A payment dialog's own messages plus the ones every offer may answer with.
macro_rules! with_offer_messages {
    ($($own:literal),* $(,)?) => {
        &[
            "pay.bad_amount",
            "pay.below_min",
            "pay.above_max",
            "pay.card_unusable",
            "pay.insufficient",
            "pay.over_single_limit",
            "pay.over_day_limit",
            "pay.needs_password",
            "pay.accepted",
            "pay.kept",
            "card.status.normal",
            "card.status.lost",
            "card.status.frozen",
            "card.status.closed",
            $($own),*
        ]
    };
}

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "pay_electricity",
            fields: PAY_FIELDS,
            messages: with_offer_messages!(
                "pay.elec.ask_building",
                "pay.elec.bad_building",
                "pay.elec.ask_room",
                "pay.elec.no_room",
                "pay.elec.meter_offline",
                "pay.elec.ask_amount",
                "pay.elec.quote",
            ),
            words: OFFER_WORDS,
            run: electricity,
        },
        ActionDef {
            name: "pay_network",
            fields: PAY_FIELDS,
            messages: with_offer_messages!(
                "pay.net.ask_package",
                "pay.net.bad_package",
                "pay.net.quote"
            ),
            words: OFFER_WORDS,
            run: network,
        },
        ActionDef {
            name: "pay_photo",
            fields: PAY_FIELDS,
            messages: with_offer_messages!("pay.photo.none", "pay.photo.quote"),
            words: OFFER_WORDS,
            run: photo,
        },
        ActionDef {
            name: "pay_library_fine",
            fields: PAY_FIELDS,
            messages: with_offer_messages!("pay.library.none", "pay.library.quote"),
            words: OFFER_WORDS,
            run: library_fine,
        },
        ActionDef {
            name: "pay_exam",
            fields: PAY_FIELDS,
            messages: with_offer_messages!("pay.exam.none", "pay.exam.quote"),
            words: OFFER_WORDS,
            run: exam,
        },
        ActionDef {
            name: "pay_donation",
            fields: PAY_FIELDS,
            messages: with_offer_messages!(
                "pay.donation.ask_project",
                "pay.donation.bad_project",
                "pay.donation.ask_amount",
                "pay.donation.ask_message",
                "pay.donation.too_long",
                "pay.donation.quote",
            ),
            words: &["confirm", "skip"],
            run: donation,
        },
    ]
}

/// The dialog step and its data, or `None` when the action starts fresh.
fn step<'a>(input: &'a ActionInput<'_>) -> Option<(&'a str, &'a Value)> {
    input.dialog.map(|d| (d.step.as_str(), &d.data))
}

fn ask(key: &'static str, fields: Value, step: &str, data: Value) -> ActionOutput {
    ActionOutput::message(key, fields).with_dialog(DialogChange::Step {
        step: step.to_owned(),
        data,
    })
}

fn text_of(data: &Value, key: &str) -> String {
    data.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// A numbered choice `1`..=`len`, or the entry whose name is the text.
fn choose<'a>(text: &str, items: &'a [Value]) -> Option<&'a Value> {
    let text = text.trim();
    if let Ok(n) = text.parse::<usize>() {
        return n.checked_sub(1).and_then(|i| items.get(i));
    }
    items.iter().find(|i| {
        i.get("name").and_then(Value::as_str) == Some(text)
            || i.get("id").and_then(Value::as_str) == Some(text)
    })
}

fn numbered(items: &[Value]) -> Vec<Value> {
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let mut v = item.clone();
            if let Some(o) = v.as_object_mut() {
                o.insert("n".into(), json!(i + 1));
            }
            v
        })
        .collect()
}

// ---- 电费 ---------------------------------------------------------------------------------

fn electricity(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        binding(&input)?;
        let billers = billers_of(&input)?;
        match step(&input) {
            None => {
                let campuses = billers
                    .locations(&LocationsQuery {
                        biller_id: "elec".into(),
                        level: "campus".into(),
                        parent_id: None,
                    })
                    .await
                    .map_err(upstream("billers"))?;
                let mut buildings = Vec::new();
                for campus in campuses.items {
                    let list = billers
                        .locations(&LocationsQuery {
                            biller_id: "elec".into(),
                            level: "building".into(),
                            parent_id: Some(campus.id),
                        })
                        .await
                        .map_err(upstream("billers"))?;
                    buildings.extend(
                        list.items
                            .into_iter()
                            .map(|b| json!({ "id": b.id, "name": b.name })),
                    );
                }
                let shown = numbered(&buildings);
                Ok(ask(
                    "pay.elec.ask_building",
                    json!({ "buildings": shown }),
                    "building",
                    json!({ "buildings": buildings }),
                ))
            }
            Some(("building", data)) => {
                let buildings = data
                    .get("buildings")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let Some(b) = choose(input.text, &buildings) else {
                    return Ok(ActionOutput::message(
                        "pay.elec.bad_building",
                        json!({ "count": buildings.len() }),
                    ));
                };
                let (id, name) = (text_of(b, "id"), text_of(b, "name"));
                Ok(ask(
                    "pay.elec.ask_room",
                    json!({ "building": name }),
                    "room",
                    json!({ "building_id": id, "building": name }),
                ))
            }
            Some(("room", data)) => {
                let room = input.text.trim();
                let building = text_of(data, "building");
                if room.len() != 3 || !room.bytes().all(|b| b.is_ascii_digit()) {
                    return Ok(ActionOutput::message(
                        "pay.elec.no_room",
                        json!({ "building": building, "room": room }),
                    ));
                }
                let target = format!("{}-{room}", text_of(data, "building_id"));
                let found = match billers.lookup("elec", &target).await {
                    Ok(t) => t,
                    Err(e) => {
                        return match e.code() {
                            Some(ErrorCode::BillerTargetNotFound) => Ok(ActionOutput::message(
                                "pay.elec.no_room",
                                json!({ "building": building, "room": room }),
                            )),
                            Some(ErrorCode::MeterOffline) => Ok(ActionOutput::message(
                                "pay.elec.meter_offline",
                                json!({ "room_name": format!("{building}{room}") }),
                            )
                            .with_dialog(DialogChange::End)),
                            _ => Err(upstream("billers")(e)),
                        };
                    }
                };
                let biller = catalog_entry(&input, "elec").await?;
                let kwh = found.remaining_kwh_hundredths.unwrap_or_default();
                let fields = json!({
                    "room_name": found.display_name,
                    "kwh": yuan(kwh),
                    "meter_balance_yuan": found.balance_fen.unwrap_or_default().yuan(),
                    "min_yuan": biller.min_fen.yuan(),
                    "max_yuan": biller.max_fen.yuan(),
                });
                Ok(ask(
                    "pay.elec.ask_amount",
                    fields.clone(),
                    "amount",
                    json!({ "target_id": found.target_id, "room_name": found.display_name, "kwh": kwh }),
                ))
            }
            Some(("amount", data)) => {
                let biller = catalog_entry(&input, "elec").await?;
                let amount = match amount_within(input.text, &biller) {
                    Ok(a) => a,
                    Err(reply) => return Ok(reply),
                };
                let unit = biller.unit_price_fen.map_or(1, Fen::fen).max(1);
                let kwh_now = data.get("kwh").and_then(Value::as_i64).unwrap_or_default();
                let offered = Offer {
                    order_id: new_order_id(&input),
                    biller_id: "elec".into(),
                    target_id: text_of(data, "target_id"),
                    receivable_ids: Vec::new(),
                    amount_fen: amount,
                    item: biller.name.clone(),
                    note: None,
                };
                let fields = json!({
                    "room_name": text_of(data, "room_name"),
                    "kwh": yuan(kwh_now),
                    "kwh_bought": yuan(amount.fen() * 100 / unit),
                    "unit_price_yuan": yuan(unit),
                });
                offer(&input, offered, "pay.elec.quote", fields).await
            }
            Some((CONFIRM_STEP, data)) => confirm(&input, data).await,
            Some(_) => Ok(ActionOutput::default().with_dialog(DialogChange::End)),
        }
    })
}

// ---- 网费 ---------------------------------------------------------------------------------

fn network(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let account = b.student_id.as_str().to_owned();
        let packages = &input.services.payments.net_packages_fen;
        let shown: Vec<Value> = packages
            .iter()
            .enumerate()
            .map(|(i, fen)| json!({ "n": i + 1, "amount_yuan": yuan(*fen) }))
            .collect();
        match step(&input) {
            None => {
                let found = billers_of(&input)?
                    .lookup("net", &account)
                    .await
                    .map_err(upstream("billers"))?;
                Ok(ask(
                    "pay.net.ask_package",
                    json!({
                        "account": account,
                        "net_balance_yuan": found.balance_fen.unwrap_or_default().yuan(),
                        "used_mb": found.used_traffic_mb.unwrap_or_default(),
                        "quota_mb": found.quota_mb.unwrap_or_default(),
                        "packages": shown,
                    }),
                    "package",
                    json!({ "net_balance_fen": found.balance_fen.unwrap_or_default() }),
                ))
            }
            Some(("package", data)) => {
                let chosen = input
                    .text
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|i| packages.get(i));
                let Some(&amount) = chosen else {
                    return Ok(ActionOutput::message(
                        "pay.net.bad_package",
                        json!({ "packages": shown }),
                    ));
                };
                let biller = catalog_entry(&input, "net").await?;
                if let Err(reply) = amount_within(&yuan(amount), &biller) {
                    return Ok(reply.with_dialog(DialogChange::End));
                }
                let net_balance = data
                    .get("net_balance_fen")
                    .and_then(Value::as_i64)
                    .unwrap_or_default();
                let offered = Offer {
                    order_id: new_order_id(&input),
                    biller_id: "net".into(),
                    target_id: account.clone(),
                    receivable_ids: Vec::new(),
                    amount_fen: Fen(amount),
                    item: biller.name.clone(),
                    note: None,
                };
                let fields = json!({
                    "account": account,
                    "net_balance_after_yuan": yuan(net_balance + amount),
                });
                offer(&input, offered, "pay.net.quote", fields).await
            }
            Some((CONFIRM_STEP, data)) => confirm(&input, data).await,
            Some(_) => Ok(ActionOutput::default().with_dialog(DialogChange::End)),
        }
    })
}

// ---- 照片费 / 考试费: the biller's open receivables ---------------------------------------

/// Offer every open receivable of `biller_id` for the user, or answer `none_key`.
async fn receivables_offer(
    input: &ActionInput<'_>,
    biller_id: &str,
    none_key: &'static str,
    quote_key: &'static str,
) -> Result<ActionOutput, ActionError> {
    let b = binding(input)?;
    let sno = b.student_id.as_str();
    let found = match billers_of(input)?.lookup(biller_id, sno).await {
        Ok(t) => t,
        // not a student of this biller (staff for the exam fee): nothing owed
        Err(e) if e.code() == Some(ErrorCode::BillerTargetNotFound) => {
            return Ok(ActionOutput::message(none_key, json!({})));
        }
        Err(e) => return Err(upstream("billers")(e)),
    };
    if found.receivables.is_empty() {
        return Ok(ActionOutput::message(none_key, json!({})));
    }
    let biller = catalog_entry(input, biller_id).await?;
    let total = Fen::checked_sum(found.receivables.iter().map(|r| r.amount_fen)).ok_or(
        ActionError::Upstream {
            upstream: "billers",
            detail: "protocol".to_owned(),
        },
    )?;
    let items: Vec<Value> = found
        .receivables
        .iter()
        .map(|r| json!({ "item": r.item, "amount_yuan": r.amount_fen.yuan(), "due": r.due.map(|d| d.to_string()).unwrap_or_default() }))
        .collect();
    let offered = Offer {
        order_id: new_order_id(input),
        biller_id: biller_id.to_owned(),
        target_id: sno.to_owned(),
        receivable_ids: found.receivables.iter().map(|r| r.id.clone()).collect(),
        amount_fen: total,
        item: biller.name.clone(),
        note: None,
    };
    offer(input, offered, quote_key, json!({ "items": items })).await
}

fn photo(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        match step(&input) {
            Some((CONFIRM_STEP, data)) => confirm(&input, data).await,
            _ => receivables_offer(&input, "photo", "pay.photo.none", "pay.photo.quote").await,
        }
    })
}

fn exam(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        match step(&input) {
            Some((CONFIRM_STEP, data)) => confirm(&input, data).await,
            _ => receivables_offer(&input, "exam", "pay.exam.none", "pay.exam.quote").await,
        }
    })
}

// ---- 图书馆罚款: amounts from the public data store ----------------------------------------

fn library_fine(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        if let Some((CONFIRM_STEP, data)) = step(&input) {
            return confirm(&input, data).await;
        }
        let b = binding(&input)?;
        let loans = adapters(&input)?
            .public_data
            .library_loans(&b.student_id)
            .await
            .map_err(upstream("public_data"))?;
        // the library biller lists the fines not paid yet; the amounts are the library's own
        let open = billers_of(&input)?
            .lookup("library", b.student_id.as_str())
            .await
            .map_err(upstream("billers"))?;
        let fined: Vec<_> = loans
            .items
            .iter()
            .filter(|l| l.fine_fen > Fen(0))
            .filter_map(|l| {
                let id = format!("LIB-{}", l.barcode);
                open.receivables
                    .iter()
                    .any(|r| r.id == id)
                    .then_some((id, l))
            })
            .collect();
        if fined.is_empty() {
            return Ok(ActionOutput::message("pay.library.none", json!({})));
        }
        let biller = catalog_entry(&input, "library").await?;
        let total = Fen::checked_sum(fined.iter().map(|(_, l)| l.fine_fen)).ok_or(
            ActionError::Upstream {
                upstream: "public_data",
                detail: "protocol".to_owned(),
            },
        )?;
        let items: Vec<Value> = fined
            .iter()
            .map(|(_, l)| json!({ "title": l.title, "overdue_days": l.overdue_days, "amount_yuan": l.fine_fen.yuan() }))
            .collect();
        let offered = Offer {
            order_id: new_order_id(&input),
            biller_id: "library".into(),
            target_id: b.student_id.as_str().to_owned(),
            receivable_ids: fined.iter().map(|(id, _)| id.clone()).collect(),
            amount_fen: total,
            item: biller.name.clone(),
            note: None,
        };
        offer(
            &input,
            offered,
            "pay.library.quote",
            json!({ "items": items }),
        )
        .await
    })
}

// ---- 校友捐赠 ------------------------------------------------------------------------------

fn donation(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        binding(&input)?;
        let billers = billers_of(&input)?;
        match step(&input) {
            None => {
                let projects = billers
                    .locations(&LocationsQuery {
                        biller_id: "donation".into(),
                        level: "project".into(),
                        parent_id: None,
                    })
                    .await
                    .map_err(upstream("billers"))?;
                let projects: Vec<Value> = projects
                    .items
                    .into_iter()
                    .map(|p| json!({ "id": p.id, "name": p.name }))
                    .collect();
                Ok(ask(
                    "pay.donation.ask_project",
                    json!({ "projects": numbered(&projects) }),
                    "project",
                    json!({ "projects": projects }),
                ))
            }
            Some(("project", data)) => {
                let projects = data
                    .get("projects")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let Some(p) = choose(input.text, &projects) else {
                    return Ok(ActionOutput::message(
                        "pay.donation.bad_project",
                        json!({ "count": projects.len() }),
                    ));
                };
                let biller = catalog_entry(&input, "donation").await?;
                let (id, name) = (text_of(p, "id"), text_of(p, "name"));
                Ok(ask(
                    "pay.donation.ask_amount",
                    json!({ "project": name, "min_yuan": biller.min_fen.yuan() }),
                    "amount",
                    json!({ "project_id": id, "project": name }),
                ))
            }
            Some(("amount", data)) => {
                let biller = catalog_entry(&input, "donation").await?;
                let amount = match amount_within(input.text, &biller) {
                    Ok(a) => a,
                    Err(reply) => return Ok(reply),
                };
                let mut next = data.clone();
                if let Some(o) = next.as_object_mut() {
                    o.insert("amount_fen".into(), json!(amount.fen()));
                }
                Ok(ask(
                    "pay.donation.ask_message",
                    json!({ "max_chars": input.services.payments.donation_message_max_chars }),
                    "message",
                    next,
                ))
            }
            Some(("message", data)) => {
                let max = input.services.payments.donation_message_max_chars;
                let message = input.raw_text.trim();
                if message.chars().count() > max {
                    return Ok(ActionOutput::message(
                        "pay.donation.too_long",
                        json!({ "max_chars": max }),
                    ));
                }
                let skip = input.messages.is_word("skip", message);
                let biller = catalog_entry(&input, "donation").await?;
                let offered = Offer {
                    order_id: new_order_id(&input),
                    biller_id: "donation".into(),
                    target_id: text_of(data, "project_id"),
                    receivable_ids: Vec::new(),
                    amount_fen: Fen(data
                        .get("amount_fen")
                        .and_then(Value::as_i64)
                        .unwrap_or_default()),
                    item: biller.name.clone(),
                    note: (!skip && !message.is_empty()).then(|| message.to_owned()),
                };
                let fields = json!({
                    "project": text_of(data, "project"),
                    "has_message": !skip && !message.is_empty(),
                    "message": if skip { "" } else { message },
                });
                offer(&input, offered, "pay.donation.quote", fields).await
            }
            Some((CONFIRM_STEP, data)) => confirm(&input, data).await,
            Some(_) => Ok(ActionOutput::default().with_dialog(DialogChange::End)),
        }
    })
}
