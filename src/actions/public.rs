//! Public-information queries: meeting sign-ins, grades, timetable, library loans, locker.

use chrono::{Datelike, Duration, NaiveDate};
use serde_json::{Value, json};

use super::support::{
    adapters, argument, binding, label, parse_day, short_time, today, upstream, weekday_label,
    with_day_words,
};
use super::{ActionDef, ActionError, ActionFuture, ActionInput, ActionOutput};
use crate::wire::{Lesson, SignInStatus};

/// Loans due within this many days are "due soon".
const DUE_SOON_DAYS: i64 = 3;

pub(super) fn all() -> Vec<ActionDef> {
    vec![
        ActionDef {
            name: "meetings",
            fields: &["count", "items"],
            messages: &[
                "meetings.none",
                "meetings.status.signed",
                "meetings.status.late",
                "meetings.status.absent",
                "meetings.status.leave",
            ],
            words: &[],
            run: meetings,
        },
        ActionDef {
            name: "grades",
            fields: &["term", "terms", "count", "items", "gpa", "credits"],
            messages: &["grades.none"],
            words: &[],
            run: grades,
        },
        ActionDef {
            name: "timetable",
            fields: &["day", "week_no", "count", "items"],
            messages: &[
                "timetable.none",
                "timetable.bad_day",
                "timetable.day_label",
                "timetable.week_label",
                // The weekday names of `weekday_label`.
                "weekday.1",
                "weekday.2",
                "weekday.3",
                "weekday.4",
                "weekday.5",
                "weekday.6",
                "weekday.7",
            ],
            words: with_day_words!("this_week", "next_week"),
            run: timetable,
        },
        ActionDef {
            name: "library_loans",
            fields: &[
                "count",
                "overdue_count",
                "due_soon_count",
                "fine_yuan",
                "items",
            ],
            messages: &["library.none"],
            words: &[],
            run: library_loans,
        },
        ActionDef {
            name: "locker",
            fields: &["count", "items"],
            messages: &["locker.none"],
            words: &[],
            run: locker,
        },
    ]
}

fn meetings(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let today = today(&input);
        let list = adapters(&input)?
            .public_data
            .meetings(
                &b.student_id,
                today - Duration::days(7),
                today + Duration::days(30),
            )
            .await
            .map_err(upstream("public_data"))?;
        if list.is_empty() {
            return Ok(ActionOutput::message("meetings.none", json!({})));
        }
        let items = list
            .iter()
            .map(|m| {
                let status = match m.status {
                    SignInStatus::Signed => "meetings.status.signed",
                    SignInStatus::Late => "meetings.status.late",
                    SignInStatus::Absent => "meetings.status.absent",
                    SignInStatus::Leave => "meetings.status.leave",
                };
                Ok(json!({
                    "time": short_time(&input, &m.start),
                    "title": m.name,
                    "room": m.room,
                    "signed": matches!(m.status, SignInStatus::Signed | SignInStatus::Late),
                    "status": label(&input, status, json!({}))?,
                }))
            })
            .collect::<Result<Vec<Value>, ActionError>>()?;
        Ok(ActionOutput::fields(
            json!({ "count": items.len(), "items": items }),
        ))
    })
}

fn grades(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let wanted = argument(&input);
        let data = match adapters(&input)?
            .public_data
            .grades(&b.student_id, wanted.as_deref())
            .await
        {
            Ok(d) => d,
            // Staff and others without a transcript: no grades, not a failure.
            Err(crate::adapters::AdapterError::Rejected { .. }) => {
                return Ok(ActionOutput::message(
                    "grades.none",
                    json!({ "term": wanted.unwrap_or_default(), "terms": [] }),
                ));
            }
            Err(e) => return Err(upstream("public_data")(e)),
        };
        // No term named: the latest published term.
        let term = wanted
            .or_else(|| data.terms.iter().max().cloned())
            .unwrap_or_default();
        let rows: Vec<_> = data.items.iter().filter(|g| g.term == term).collect();
        if rows.is_empty() {
            return Ok(ActionOutput::message(
                "grades.none",
                json!({ "term": term, "terms": data.terms }),
            ));
        }
        let (mut weighted, mut credits) = (0u64, 0u64);
        for g in &rows {
            if let Some(gp) = g.grade_point_hundredths {
                weighted += gp as u64 * g.credit_tenths as u64;
                credits += g.credit_tenths as u64;
            }
        }
        let gpa = if credits > 0 {
            format!("{:.2}", weighted as f64 / credits as f64 / 100.0)
        } else {
            "—".to_owned()
        };
        let items: Vec<Value> = rows
            .iter()
            .map(|g| {
                json!({
                    "course": g.course_name,
                    "score": g.score,
                    "credit": format!("{}.{}", g.credit_tenths / 10, g.credit_tenths % 10),
                    "category": g.category,
                })
            })
            .collect();
        let total_credits: u32 = rows.iter().map(|g| g.credit_tenths).sum();
        Ok(ActionOutput::fields(json!({
            "term": term,
            "terms": data.terms,
            "count": items.len(),
            "items": items,
            "gpa": gpa,
            "credits": format!("{}.{}", total_credits / 10, total_credits % 10),
        })))
    })
}

fn lesson_json(input: &ActionInput<'_>, l: &Lesson, with_day: bool) -> Result<Value, ActionError> {
    let weekday = if with_day {
        weekday_label(input, l.weekday as u32)?
    } else {
        String::new()
    };
    Ok(json!({
        "period": if l.start_section == l.end_section { l.start_section.to_string() } else { format!("{}-{}", l.start_section, l.end_section) },
        "course": l.course_name,
        "room": l.location,
        "teacher": l.teacher,
        "weekday": weekday,
    }))
}

fn timetable(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let today = today(&input);
        // No argument: today's lessons.
        let arg = argument(&input);
        let is = |list: &str| {
            arg.as_deref()
                .is_some_and(|a| input.messages.is_word(list, a))
        };
        let whole_week = is("this_week");
        let next_week = is("next_week");
        let day: Option<NaiveDate> = match &arg {
            _ if whole_week || next_week => None,
            Some(arg) => parse_day(input.messages, arg, today),
            None => Some(today),
        };
        if !whole_week && !next_week && day.is_none() {
            return Ok(ActionOutput::message("timetable.bad_day", json!({})));
        }
        let public = &adapters(&input)?.public_data;
        let current = public
            .timetable(&b.student_id, None, None)
            .await
            .map_err(upstream("public_data"))?;
        // Which teaching week the day falls in, counted from the current one.
        let target = day.unwrap_or(today + Duration::days(if next_week { 7 } else { 0 }));
        let week_no = (current.week_no as i64 + weeks_from(today, target)).max(1) as u32;
        let table = if week_no == current.week_no {
            current
        } else {
            public
                .timetable(&b.student_id, Some(&current.term), Some(week_no))
                .await
                .map_err(upstream("public_data"))?
        };
        let (label, mut lessons): (String, Vec<&Lesson>) = match day {
            Some(d) => {
                let wd = d.weekday().number_from_monday() as u8;
                let fields = json!({
                    "month": d.format("%m").to_string(),
                    "day": d.format("%d").to_string(),
                    "weekday": weekday_label(&input, wd as u32)?,
                });
                (
                    label(&input, "timetable.day_label", fields)?,
                    table.items.iter().filter(|l| l.weekday == wd).collect(),
                )
            }
            None => (
                label(
                    &input,
                    "timetable.week_label",
                    json!({ "week_no": week_no }),
                )?,
                table.items.iter().collect(),
            ),
        };
        lessons.sort_by_key(|l| (l.weekday, l.start_section));
        if lessons.is_empty() {
            return Ok(ActionOutput::message(
                "timetable.none",
                json!({ "day": label }),
            ));
        }
        let items = lessons
            .iter()
            .map(|l| lesson_json(&input, l, day.is_none()))
            .collect::<Result<Vec<Value>, ActionError>>()?;
        Ok(ActionOutput::fields(
            json!({ "day": label, "week_no": week_no, "count": items.len(), "items": items }),
        ))
    })
}

/// How many calendar weeks (Monday to Sunday) `target` lies after `today`. Counted from the
/// weeks' Mondays, not ISO week numbers: some years have 53 ISO weeks.
fn weeks_from(today: NaiveDate, target: NaiveDate) -> i64 {
    let monday = |d: NaiveDate| d - Duration::days(d.weekday().num_days_from_monday().into());
    (monday(target) - monday(today)).num_weeks()
}

fn library_loans(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let loans = match adapters(&input)?
            .public_data
            .library_loans(&b.student_id)
            .await
        {
            Ok(l) => l,
            // No library account (4004 读者不存在): nothing borrowed, not a failure.
            Err(e) if e.code() == Some(crate::wire::ErrorCode::ReaderNotFound) => {
                return Ok(ActionOutput::message("library.none", json!({})));
            }
            Err(e) => return Err(upstream("public_data")(e)),
        };
        if loans.items.is_empty() {
            return Ok(ActionOutput::message("library.none", json!({})));
        }
        let today = today(&input);
        let mut items: Vec<Value> = Vec::new();
        let (mut overdue, mut due_soon) = (0, 0);
        let mut sorted = loans.items.clone();
        sorted.sort_by_key(|l| l.due_at);
        for l in &sorted {
            let is_overdue = l.overdue_days > 0 || l.due_at < today;
            let soon = !is_overdue && l.due_at - today <= Duration::days(DUE_SOON_DAYS);
            overdue += usize::from(is_overdue);
            due_soon += usize::from(soon);
            items.push(json!({
                "title": l.title,
                "due_date": l.due_at.to_string(),
                "overdue": is_overdue,
                "overdue_days": l.overdue_days,
                "due_soon": soon,
                "fine_yuan": l.fine_fen.yuan(),
            }));
        }
        Ok(ActionOutput::fields(json!({
            "count": items.len(),
            "overdue_count": overdue,
            "due_soon_count": due_soon,
            "fine_yuan": loans.total_fine_fen.yuan(),
            "items": items,
        })))
    })
}

fn locker(input: ActionInput<'_>) -> ActionFuture<'_> {
    Box::pin(async move {
        let b = binding(&input)?;
        let l = adapters(&input)?
            .public_data
            .locker(&b.student_id)
            .await
            .map_err(upstream("public_data"))?;
        if !l.assigned {
            return Ok(ActionOutput::message("locker.none", json!({})));
        }
        let items = vec![json!({
            "place": l.location.unwrap_or_default(),
            "box_no": l.locker_no.unwrap_or_default(),
            "since": l.assigned_at.map(|d| d.to_string()).unwrap_or_default(),
            "until": l.expires_at.map(|d| d.to_string()).unwrap_or_default(),
        })];
        Ok(ActionOutput::fields(json!({ "count": 1, "items": items })))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn weeks_are_counted_across_a_year_of_53_iso_weeks() {
        // ISO 2026 has 53 weeks: Mon 2026-12-28 is week 53, Mon 2027-01-04 is week 1.
        assert_eq!(weeks_from(day("2026-12-28"), day("2027-01-04")), 1);
        assert_eq!(weeks_from(day("2027-01-03"), day("2027-01-04")), 1);
        assert_eq!(weeks_from(day("2026-12-21"), day("2027-01-04")), 2);
        // the same week, a week back, and an ordinary year's turn (2025 has 52)
        assert_eq!(weeks_from(day("2026-12-28"), day("2027-01-03")), 0);
        assert_eq!(weeks_from(day("2027-01-04"), day("2026-12-31")), -1);
        assert_eq!(weeks_from(day("2025-12-29"), day("2026-01-05")), 1);
    }
}
