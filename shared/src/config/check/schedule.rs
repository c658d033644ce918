//! When and how a profile polls: `interval` and `after_delivery`.

use std::time::Duration;

use super::fields::Errors;
use crate::config::duration::parse_duration;
use crate::config::model::{AfterDelivery, DEFAULT_INTERVAL, MAX_KEEP_DAYS, MIN_INTERVAL};
use crate::config::raw::RawAfterDelivery;

pub(super) fn check_interval(raw: Option<&str>, p: Option<&str>, errors: &mut Errors) -> Duration {
    match raw {
        None => DEFAULT_INTERVAL,
        Some(text) => match parse_duration(text) {
            Ok(interval) if interval < MIN_INTERVAL => {
                errors.push(
                    p,
                    "interval",
                    format!("\"{text}\" is shorter than the minimum of 10s"),
                );
                DEFAULT_INTERVAL
            }
            Ok(interval) => interval,
            Err(message) => {
                errors.push(p, "interval", message);
                DEFAULT_INTERVAL
            }
        },
    }
}

pub(super) fn check_after_delivery(
    raw: Option<&RawAfterDelivery>,
    p: Option<&str>,
    errors: &mut Errors,
) -> AfterDelivery {
    const HOW: &str = "write \"delete\", \"keep\" or { keep_days = N }";
    match raw {
        None => AfterDelivery::default(),
        Some(RawAfterDelivery::Mode(mode)) => match AfterDelivery::from_mode(mode) {
            Ok(mode) => mode,
            Err(message) => {
                errors.push(p, "after_delivery", message);
                AfterDelivery::default()
            }
        },
        Some(RawAfterDelivery::Table(table)) => match table.keep_days {
            Some(days) if (1..=i64::from(MAX_KEEP_DAYS)).contains(&days) => {
                AfterDelivery::KeepDays(days as u32)
            }
            Some(days) => {
                errors.push(
                    p,
                    "after_delivery.keep_days",
                    format!("{days} is out of range (1-{MAX_KEEP_DAYS} days)"),
                );
                AfterDelivery::Keep
            }
            None => {
                errors.push(
                    p,
                    "after_delivery.keep_days",
                    "missing; write after_delivery = { keep_days = 14 }",
                );
                AfterDelivery::Keep
            }
        },
        Some(RawAfterDelivery::Other(value)) => {
            errors.push(
                p,
                "after_delivery",
                format!("{value} is not a valid setting; {HOW}"),
            );
            AfterDelivery::default()
        }
    }
}
