//! The history's dates: its fixed milestones and the conversion of a date to the wire's.
use ledger_proto::v1;
use time::{Date, Month};

/// A calendar date (`Date::MIN` for an impossible one: the history's dates are literals).
pub(super) fn d(y: i32, m: u8, day: u8) -> Date {
    Date::from_calendar_date(y, Month::try_from(m).unwrap_or(Month::January), day).unwrap_or(Date::MIN)
}

pub(super) fn wire_date(x: Date) -> Option<v1::Date> {
    Some(v1::Date { year: x.year(), month: u8::from(x.month()).into(), day: x.day().into() })
}

/// The last day of the generated history.
pub fn end_of_history() -> Date {
    d(2026, 10, 31)
}

/// The EU-level coalition's launch.
pub fn eu_launch() -> Date {
    d(2016, 12, 1)
}

/// The platform's launch: coalitions connect their websites from then on.
pub(super) fn platform_launch() -> Date {
    d(2021, 5, 20)
}
