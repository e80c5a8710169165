//! UTC days as the paymaster counts budgets (Unix seconds / 86 400) and as operators write
//! them (`YYYY-MM-DD`), by the proleptic Gregorian calendar.

use anyhow::{bail, Context, Result};

/// Longest range `list-keys` shows day by day.
pub const MAX_RANGE_DAYS: u64 = 366;

/// Days from 1970-01-01 to the first of March of year 0 (the algorithm's epoch).
const EPOCH_SHIFT: i64 = 719_468;
/// Days in 400 Gregorian years.
const ERA_DAYS: i64 = 146_097;

/// The day number of `year-month-day` (March-based years, so that the leap day ends one).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * ERA_DAYS + day_of_era - EPOCH_SHIFT
}

/// The date of day number `days`: `(year, month, day)`.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + EPOCH_SHIFT;
    let era = days.div_euclid(ERA_DAYS);
    let day_of_era = days - era * ERA_DAYS;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The UTC day of `date` (`YYYY-MM-DD`, on or after 1970-01-01).
pub fn day_of(date: &str) -> Result<u64> {
    let parse = || -> Option<(i64, i64, i64)> {
        let mut parts = date.split('-');
        let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
        let well_formed = parts.next().is_none()
            && y.len() == 4
            && m.len() == 2
            && d.len() == 2
            && [y, m, d]
                .iter()
                .all(|p| p.bytes().all(|b| b.is_ascii_digit()));
        well_formed.then_some((y.parse().ok()?, m.parse().ok()?, d.parse().ok()?))
    };
    let (year, month, day) = parse().with_context(|| format!("{date} is not a YYYY-MM-DD date"))?;
    let days = days_from_civil(year, month, day);
    // A date that does not exist (2025-02-30, month 13) comes back as another.
    if !(1..=12).contains(&month) || civil_from_days(days) != (year, month, day) {
        bail!("{date} is not a date");
    }
    u64::try_from(days).with_context(|| format!("{date} is before 1970-01-01"))
}

/// `YYYY-MM-DD` of UTC day `day`.
pub fn date_of(day: u64) -> String {
    let (year, month, day) = civil_from_days(i64::try_from(day).unwrap_or(i64::MAX / 2));
    format!("{year:04}-{month:02}-{day:02}")
}

/// The days `list-keys` shows one by one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    /// The first.
    pub from: u64,
    /// The last (included).
    pub to: u64,
}

impl DayRange {
    /// The range `--from`/`--to` ask for (`None` without either): `--to` defaults to
    /// `today`, `--from` to `--to`.
    pub fn new(from: Option<&str>, to: Option<&str>, today: u64) -> Result<Option<Self>> {
        if from.is_none() && to.is_none() {
            return Ok(None);
        }
        let to = to.map(day_of).transpose()?.unwrap_or(today);
        let from = from.map(day_of).transpose()?.unwrap_or(to);
        if from > to {
            bail!("--from {} is after --to {}", date_of(from), date_of(to));
        }
        if to - from >= MAX_RANGE_DAYS {
            bail!("at most {MAX_RANGE_DAYS} days at once");
        }
        Ok(Some(DayRange { from, to }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_day_numbers_convert_both_ways() {
        for (date, day) in [
            ("1970-01-01", 0),
            ("1970-01-02", 1),
            ("2000-02-29", 11_016),
            ("2000-03-01", 11_017),
            ("2024-12-31", 20_088),
            ("2025-01-01", 20_089),
            ("2100-03-01", 47_541),
        ] {
            assert_eq!(day_of(date).expect(date), day, "{date}");
            assert_eq!(date_of(day), date);
        }
        // Every day of four centuries round-trips.
        for day in 0..(ERA_DAYS as u64) {
            assert_eq!(day_of(&date_of(day)).expect("date"), day);
        }
    }

    #[test]
    fn malformed_or_impossible_dates_are_refused() {
        for date in [
            "2025-02-29",
            "2100-02-29",
            "2025-13-01",
            "2025-00-10",
            "2025-04-31",
            "2025-4-01",
            "25-04-01",
            "2025/04/01",
            "2025-04-01-01",
            "1969-12-31",
            "",
        ] {
            assert!(day_of(date).is_err(), "{date}");
        }
    }

    #[test]
    fn a_range_defaults_to_today_and_is_bounded() {
        let today = 20_089;
        assert_eq!(DayRange::new(None, None, today).expect("none"), None);
        assert_eq!(
            DayRange::new(Some("2024-12-30"), None, today).expect("range"),
            Some(DayRange {
                from: 20_087,
                to: today
            })
        );
        assert_eq!(
            DayRange::new(None, Some("2024-12-31"), today).expect("one day"),
            Some(DayRange {
                from: 20_088,
                to: 20_088
            })
        );
        assert!(DayRange::new(Some("2025-01-02"), Some("2025-01-01"), today).is_err());
        assert!(DayRange::new(Some("2023-01-01"), Some("2025-01-01"), today).is_err());
    }
}
