//! Binding by SMS under attack: one WeChat user spraying codes over many cards, several users
//! guessing one card, a stranger locking the owner out (and the service desk's unlock),
//! unfollowing to shed the limits, mapping the campus by 学工号, and pumping SMS through
//! 绑定手机. Every reply is compared with the configured message; every SMS count comes from
//! the SMS simulator's outbox.

use serde_json::{Value, json};

use crate::helpers::*;

/// The configured binding limits (what the replies name).
fn limits() -> onecard::settings::BindingSettings {
    demo_settings(&Overrides::default()).binding
}

/// `n` cards from the card simulator that `keep` accepts, as (学工号, phone on file).
async fn cards(app: &TestApp, n: usize, keep: impl Fn(&Value) -> bool) -> Vec<(String, Value)> {
    let list = app.sim_accounts(300).await;
    let found: Vec<(String, Value)> = list
        .into_iter()
        .filter(|a| keep(a))
        .map(|a| (a["id"].as_str().unwrap().to_owned(), a["phone"].clone()))
        .take(n)
        .collect();
    assert_eq!(found.len(), n, "the simulator has {n} such cards");
    found
}

/// Normal cards with a phone on file, each with a different phone.
async fn bindable_cards(app: &TestApp, n: usize) -> Vec<(String, String)> {
    let candidates = cards(app, 3 * n, can_bind).await;
    let mut phones = std::collections::HashSet::new();
    let found: Vec<(String, String)> = candidates
        .into_iter()
        .map(|(sno, phone)| (sno, phone.as_str().unwrap().to_owned()))
        .filter(|(_, phone)| phones.insert(phone.clone()))
        .take(n)
        .collect();
    assert_eq!(found.len(), n);
    found
}

/// Move the simulators' clock past the SMS platform's one-message-per-minute rule.
async fn next_minute(app: &TestApp) {
    app.advance_sim_clock(61).await;
}

fn wrong_for(code: &str) -> &'static str {
    if code == "000000" { "111111" } else { "000000" }
}

/// Codes may be resent at once (the store's one-per-minute rule has its own race test); the
/// simulator's clock is moved instead of waiting for its own per-minute rule.
fn no_resend_wait() -> TestOptions {
    TestOptions {
        settings: |s| s.binding.resend_secs = 0,
        ..TestOptions::default()
    }
}

#[tokio::test]
async fn sms_spray_over_twelve_cards_from_one_openid_reaches_three_phones() {
    let app = spawn_app();
    let sprayer = openid("spray");
    let targets = bindable_cards(&app, 12).await;
    let max = limits().cards_per_user_per_day as usize;
    for (i, (sno, phone)) in targets.iter().enumerate() {
        let reply = app.say(&sprayer, &format!("绑定 {sno}")).await;
        if i < max {
            let masked = masked_phone(phone);
            assert_eq!(
                reply,
                message("bind.ask_code", json!({ "phone_masked": masked })),
                "card {i}"
            );
        } else {
            assert_eq!(
                reply,
                message("bind.too_many_cards", json!({ "max_subjects": max })),
                "card {i}"
            );
        }
    }
    for (i, (_, phone)) in targets.iter().enumerate() {
        let expected = usize::from(i < max);
        assert_eq!(
            app.sms_texts(phone).await.len(),
            expected,
            "SMS to card {i}"
        );
    }
}

#[tokio::test]
async fn three_openids_guessing_one_card_stop_at_ten_wrong_codes() {
    let app = spawn_app_with(no_resend_wait());
    let (sno, phone) = bindable_cards(&app, 1).await.remove(0);
    let guessers = [openid("guessA"), openid("guessB"), openid("guessC")];
    let per_card = limits().wrong_codes_per_card_per_day;
    let mut judged = 0;
    let mut first_code = String::new();
    let mut last = String::new();
    for (n, guesser) in guessers.iter().enumerate() {
        if n > 0 {
            next_minute(&app).await;
        }
        app.say(guesser, &format!("绑定 {sno}")).await;
        let code = app.latest_code(&phone).await;
        if n == 0 {
            first_code = code.clone();
        }
        // Four wrong codes each (the fifth would spend the code), until the card's day is used up.
        for k in 1..=4 {
            if judged == per_card {
                break;
            }
            last = app.say(guesser, wrong_for(&code)).await;
            judged += 1;
            if judged < per_card {
                let tries_left = (limits().wrong_per_code - k).min(per_card - judged);
                assert_eq!(
                    last,
                    message("bind.bad_code", json!({ "tries_left": tries_left })),
                    "wrong code {judged}"
                );
            }
        }
    }
    assert_eq!(judged, per_card);
    assert_eq!(last, message("bind.locked", json!({})));
    // The first guesser's own code was right all along: it no longer counts today.
    assert_eq!(
        app.say(&guessers[0], &first_code).await,
        message("bind.locked", json!({}))
    );
    assert_eq!(app.sms_texts(&phone).await.len(), 3, "one SMS per guesser");
    assert_eq!(
        app.say(&guessers[0], "余额").await,
        "该功能需要先绑定校园卡，请回复「绑定」开始绑定。"
    );
}

#[tokio::test]
async fn unfollow_and_follow_again_keeps_the_locks_and_the_day_counts() {
    let app = spawn_app_with(no_resend_wait());
    let user = openid("refollow");
    let cards = bindable_cards(&app, 4).await;
    let (locked_sno, locked_phone) = &cards[0];
    // Lock the first card: two codes, ten wrong guesses.
    for round in 0..2 {
        if round > 0 {
            next_minute(&app).await;
        }
        app.say(&user, &format!("绑定 {locked_sno}")).await;
        let code = app.latest_code(locked_phone).await;
        for _ in 0..5 {
            app.say(&user, wrong_for(&code)).await;
        }
    }
    for (sno, _) in &cards[1..3] {
        app.say(&user, &format!("绑定 {sno}")).await;
    }
    let sent_before = app.sms_texts(locked_phone).await.len();

    app.unsubscribe(&user).await;
    app.subscribe(&user).await;

    assert_eq!(
        app.say(&user, &format!("绑定 {locked_sno}")).await,
        message("bind.locked", json!({}))
    );
    let (fourth, fourth_phone) = &cards[3];
    assert_eq!(
        app.say(&user, &format!("绑定 {fourth}")).await,
        message(
            "bind.too_many_cards",
            json!({ "max_subjects": limits().cards_per_user_per_day })
        )
    );
    assert_eq!(app.sms_texts(locked_phone).await.len(), sent_before);
    assert!(app.sms_texts(fourth_phone).await.is_empty());
}

#[tokio::test]
async fn a_stranger_locks_the_owner_out_until_the_service_desk_unlocks_the_card() {
    let app = spawn_app_with(no_resend_wait());
    let (sno, phone) = bindable_cards(&app, 1).await.remove(0);
    let (stranger, owner) = (openid("stranger"), openid("owner"));
    let mut last = String::new();
    for round in 0..2 {
        if round > 0 {
            next_minute(&app).await;
        }
        app.say(&stranger, &format!("绑定 {sno}")).await;
        let code = app.latest_code(&phone).await;
        for _ in 0..5 {
            last = app.say(&stranger, wrong_for(&code)).await;
        }
    }
    assert_eq!(last, message("bind.locked", json!({})));
    // The owner is told to wait for tomorrow or come to the desk; no SMS reaches them.
    next_minute(&app).await;
    assert_eq!(
        app.say(&owner, &format!("绑定 {sno}")).await,
        message("bind.locked", json!({}))
    );
    assert_eq!(
        app.sms_texts(&phone).await.len(),
        2,
        "the stranger's two codes"
    );

    // At the service desk, after checking the owner's ID, with the server running.
    let args = ["binding", "unlock", &sno, "--admin", &app.admin_base].map(str::to_owned);
    let stdout = tokio::task::spawn_blocking(move || {
        run_cli(&args.each_ref().map(String::as_str), &Overrides::default())
    })
    .await
    .unwrap();
    assert_eq!(
        stdout,
        format!("cleared today's binding limits of card {sno}; its owner can bind now\n")
    );

    next_minute(&app).await;
    let masked = masked_phone(&phone);
    assert_eq!(
        app.say(&owner, &format!("绑定 {sno}")).await,
        message("bind.ask_code", json!({ "phone_masked": masked }))
    );
    let code = app.latest_code(&phone).await;
    assert_eq!(app.say(&owner, &code).await, app.bind_done(&sno).await);
}

#[tokio::test]
async fn the_unlock_is_not_served_on_the_public_listener() {
    let app = spawn_app();
    let r = app
        .http
        .post(format!("{}/binding/unlock/2024000001", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn unknown_cards_cards_without_a_phone_and_closed_cards_get_one_answer() {
    let app = spawn_app();
    let user = openid("enumerate");
    let (no_phone, _) = cards(&app, 1, |a| a["status"] == "normal" && a["phone"].is_null())
        .await
        .remove(0);
    let (closed, _) = cards(&app, 1, |a| a["status"] == "closed").await.remove(0);
    let unknown = "2099999999";
    let not_found = app.get(&format!("/sim/card/accounts/{unknown}")).await;
    assert_eq!(not_found.status().as_u16(), 404, "{unknown} is not a card");
    for sno in [unknown, no_phone.as_str(), closed.as_str()] {
        assert_eq!(
            app.say(&user, &format!("绑定 {sno}")).await,
            message("bind.cannot_bind", json!({ "student_id": sno })),
        );
    }
    // Each lookup counted: a fourth 学工号 is not looked up at all today.
    let (fourth, _) = cards(&app, 1, |a| a["status"] == "normal").await.remove(0);
    assert_eq!(
        app.say(&user, &format!("绑定 {fourth}")).await,
        message(
            "bind.too_many_cards",
            json!({ "max_subjects": limits().cards_per_user_per_day })
        )
    );
}

#[tokio::test]
async fn sms_pumping_through_bind_phone_stops_at_the_user_and_day_caps() {
    let disk = OnDisk::new();
    let app = spawn_app_with(TestOptions {
        settings: |s| {
            s.binding.resend_secs = 0;
            s.binding.phone_codes_per_day = 4;
        },
        ..disk.options()
    });
    let (pumper, other) = (openid("pump"), openid("pump2"));
    let cards = bindable_cards(&app, 2).await;
    app.bind(&pumper, &cards[0].0).await;
    app.bind(&other, &cards[1].0).await;
    let numbers: Vec<String> = (0..4).map(|n| format!("1391234560{n}")).collect();
    let others_number = "13912345699";
    // Another user's code first: the day's cap (4) is shared by everyone.
    assert_eq!(
        app.say(&other, &format!("绑定手机 {others_number}")).await,
        message(
            "phone.ask_code",
            json!({ "phone_masked": masked_phone(others_number) })
        )
    );
    let per_user = limits().phone_numbers_per_user_per_day as usize;
    for number in &numbers[..per_user] {
        assert_eq!(
            app.say(&pumper, &format!("绑定手机 {number}")).await,
            message(
                "phone.ask_code",
                json!({ "phone_masked": masked_phone(number) })
            )
        );
    }
    // A resend (to the number the pending code holds) would be the fifth code today.
    next_minute(&app).await;
    assert_eq!(
        app.say(&pumper, "重发").await,
        message("phone.all_daily_limit", json!({}))
    );
    assert_eq!(
        app.say(&pumper, &format!("绑定手机 {}", numbers[per_user]))
            .await,
        message(
            "phone.too_many_numbers",
            json!({ "max_subjects": per_user })
        )
    );
    let mut sent = Vec::new();
    for number in numbers.iter().map(String::as_str).chain([others_number]) {
        sent.push(app.sms_texts(number).await.len());
    }
    assert_eq!(sent, [1, 1, 1, 0, 1]);

    // The other user's dialog, still waiting for the code, kept only the masked number.
    app.stop().await;
    let store = open_when_released(&disk.data).await;
    let mut export = Vec::new();
    store.export(&mut export).unwrap();
    let export = String::from_utf8(export).unwrap();
    let sessions: Vec<&str> = export
        .lines()
        .filter(|l| l.contains(r#""tree":"sessions""#))
        .collect();
    assert!(
        sessions
            .iter()
            .any(|l| l.contains(&masked_phone(others_number))),
        "the waiting dialog: {sessions:?}"
    );
    for number in numbers.iter().map(String::as_str).chain([others_number]) {
        assert!(
            sessions.iter().all(|l| !l.contains(number)),
            "{number} in a session: {sessions:?}"
        );
    }
}
