//! Time windows (`[[rule.when]]`): days and `HH:MM` times parsed into a [`Window`].

use toml::Spanned;

use super::{Loc, Validator};
use crate::rules::model::WindowDef;
use crate::rules::table::Window;

impl Validator {
    pub(super) fn window(&mut self, file: usize, w: &Spanned<WindowDef>) -> Option<Window> {
        let def = w.get_ref();
        let before = self.diags.len();
        let days = match &def.days {
            None => 0x7f,
            Some(d) => match parse_days(d.get_ref()) {
                Ok(mask) => mask,
                Err(msg) => {
                    self.error(
                        &Loc {
                            file,
                            span: d.span(),
                        },
                        msg,
                    );
                    0
                }
            },
        };
        let mut time = |v: &Option<Spanned<String>>, default: u32| -> u32 {
            match v {
                None => default,
                Some(t) => match parse_hhmm(t.get_ref()) {
                    Some(m) => m,
                    None => {
                        self.error(
                            &Loc {
                                file,
                                span: t.span(),
                            },
                            format!("bad time `{}`: use HH:MM (00:00 to 24:00)", t.get_ref()),
                        );
                        0
                    }
                },
            }
        };
        let from = time(&def.from, 0);
        let to = time(&def.to, 24 * 60);
        if self.diags.len() > before {
            return None;
        }
        if from == to {
            self.error(
                &Loc {
                    file,
                    span: w.span(),
                },
                "empty time window: `from` equals `to`".into(),
            );
            return None;
        }
        Some(Window { days, from, to })
    }
}

/// `HH:MM` → minutes since midnight; `24:00` allowed.
pub(crate) fn parse_hhmm(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    if m >= 60 || h > 24 || (h == 24 && m != 0) {
        return None;
    }
    Some(h * 60 + m)
}

/// `mon-fri`, `sat,sun`, `mon,wed-fri`, `fri-mon` (wraps) → bit mask (bit 0 = Monday).
pub(crate) fn parse_days(s: &str) -> Result<u8, String> {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = |d: &str| -> Result<u32, String> {
        let d = d.trim().to_ascii_lowercase();
        NAMES
            .iter()
            .position(|n| *n == d)
            .map(|p| p as u32)
            .ok_or_else(|| format!("unknown day `{}`: use mon tue wed thu fri sat sun", d))
    };
    let mut mask = 0u8;
    for part in s.split(',') {
        if part.trim().is_empty() {
            return Err(format!("bad days `{s}`: empty item"));
        }
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (day(a)?, day(b)?);
                let mut d = a;
                loop {
                    mask |= 1 << d;
                    if d == b {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => mask |= 1 << day(part)?,
        }
    }
    Ok(mask)
}

const WEEK_MINUTES: usize = 7 * 24 * 60;

/// The minutes of the week (Monday 00:00 = 0) some window covers; the overnight part of a
/// window belongs to the day it starts on, wrapping from Sunday into Monday.
fn week_minutes(windows: &[Window]) -> Vec<bool> {
    let mut on = vec![false; WEEK_MINUTES];
    for w in windows {
        for day in 0..7usize {
            if w.days & (1 << day) == 0 {
                continue;
            }
            let start = day * 1440 + w.from as usize;
            let len = if w.from < w.to {
                (w.to - w.from) as usize
            } else {
                (1440 - w.from + w.to) as usize
            };
            for m in start..start + len {
                if let Some(slot) = on.get_mut(m % WEEK_MINUTES) {
                    *slot = true;
                }
            }
        }
    }
    on
}

/// The first minute of the week both sets of windows cover.
pub(super) fn first_overlap(a: &[Window], b: &[Window]) -> Option<usize> {
    let (a, b) = (week_minutes(a), week_minutes(b));
    a.iter().zip(&b).position(|(x, y)| *x && *y)
}

/// `mon 09:00` for minute 540 of the week.
pub(super) fn describe_minute(minute: usize) -> String {
    const NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let day = NAMES.get(minute / 1440).copied().unwrap_or("mon");
    let m = minute % 1440;
    format!("{day} {:02}:{:02}", m / 60, m % 60)
}
