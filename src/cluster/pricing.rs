//! What a cluster costs per month: what exists, what a plan adds and removes, and the
//! total after it, priced from the project's price list (gross, VAT included).
//!
//! Amounts are kept in ten-thousandths of the currency unit, read exactly from the API's
//! decimal strings, so sums never drift the way floating-point money does.

use std::fmt;

use serde::{Serialize, Serializer};

use super::desired::Priced;
use super::live::Live;
use super::plan::{Action, Plan};
use crate::hcloud::Pricing;

/// An amount of money in ten-thousandths of the currency unit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(i64);

impl Money {
    /// Zero.
    pub const ZERO: Money = Money(0);

    /// Parses a decimal string (`"4.5101000000"`); digits past the fourth decimal are
    /// rounded half up. `None` for anything that is not a plain decimal.
    pub fn parse(text: &str) -> Option<Money> {
        let text = text.trim();
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        if whole.is_empty()
            || !whole.bytes().all(|b| b.is_ascii_digit())
            || !fraction.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let mut fraction_digits: Vec<i64> = fraction.bytes().map(|b| i64::from(b - b'0')).collect();
        fraction_digits.resize(5.max(fraction_digits.len()), 0);
        let mut units = whole.checked_mul(10_000)?;
        for (i, digit) in fraction_digits.iter().take(4).enumerate() {
            units += digit * 10_i64.pow(3 - u32::try_from(i).ok()?);
        }
        if fraction_digits[4] >= 5 {
            units += 1;
        }
        Some(Money(if negative { -units } else { units }))
    }

    /// `self × factor`, rounded to the nearest unit (a price per GB times a snapshot's GB).
    pub fn scaled(self, factor: f64) -> Money {
        Money((self.0 as f64 * factor).round() as i64)
    }

    /// The amount in ten-thousandths.
    pub fn units(self) -> i64 {
        self.0
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        Money(self.0 - other.0)
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    /// Two decimals, rounded half away from zero: `4.51`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cents = (self.0.abs() + 50) / 100;
        let sign = if self.0 < 0 && cents > 0 { "-" } else { "" };
        write!(f, "{sign}{}.{:02}", cents / 100, cents % 100)
    }
}

impl Serialize for Money {
    /// As the API writes money: a decimal string (`"4.51"`).
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_string())
    }
}

/// The monthly cost of a cluster before and after a plan, gross.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cost {
    /// The currency (`EUR`).
    pub currency: String,
    /// What the cluster's resources (and its snapshots) cost now.
    pub existing: Money,
    /// What the plan's new resources add.
    pub added: Money,
    /// What the plan's deleted resources save.
    pub removed: Money,
    /// `existing + added - removed`.
    pub after: Money,
    /// Items the price list has no price for (a type or location it does not list).
    pub unpriced: Vec<String>,
}

/// The gross monthly price of one item; `None` when the price list lacks it.
fn price_of(item: &Priced, pricing: &Pricing) -> Option<Money> {
    let price = match item {
        Priced::Free => return Some(Money::ZERO),
        Priced::Server { server_type, location } => pricing.server_type_monthly(server_type, location),
        Priced::LoadBalancer { lb_type, location } => pricing.load_balancer_type_monthly(lb_type, location),
        Priced::PrimaryIpv4 { location } => pricing.primary_ipv4_monthly(location),
        Priced::FloatingIpv4 { location } => pricing.floating_ipv4_monthly(location),
    }?;
    Money::parse(&price.gross)
}

fn describe(item: &Priced) -> String {
    match item {
        Priced::Free => "free".into(),
        Priced::Server { server_type, location } => format!("server type {server_type} in {location}"),
        Priced::LoadBalancer { lb_type, location } => format!("load balancer type {lb_type} in {location}"),
        Priced::PrimaryIpv4 { location } => format!("primary IPv4 in {location}"),
        Priced::FloatingIpv4 { location } => format!("floating IPv4 in {location}"),
    }
}

/// Prices `live` and what `plan` adds and removes. A resource that changes in place
/// counts as removed at its old price and added at its new one when the two differ (a
/// load balancer type change).
pub fn cost(plan: &Plan, live: &Live, pricing: &Pricing) -> Cost {
    let mut unpriced = Vec::new();
    let mut priced = |item: &Priced| {
        price_of(item, pricing).unwrap_or_else(|| {
            let what = describe(item);
            if !unpriced.contains(&what) {
                unpriced.push(what);
            }
            Money::ZERO
        })
    };
    let per_gb = Money::parse(&pricing.image_per_gb_month().gross).unwrap_or(Money::ZERO);
    let snapshots: Money = live
        .snapshots
        .iter()
        .map(|s| per_gb.scaled(s.image_size.unwrap_or(0.0)))
        .sum();
    let existing = live.priced().iter().map(&mut priced).sum::<Money>() + snapshots;
    let mut added = Money::ZERO;
    let mut removed = Money::ZERO;
    for change in &plan.changes {
        let counts = match change.action {
            Action::Create | Action::Delete | Action::Replace => true,
            Action::Update => change.old_cost != change.new_cost,
        };
        if !counts {
            continue;
        }
        if let Some(item) = &change.new_cost {
            added = added + priced(item);
        }
        if let Some(item) = &change.old_cost {
            removed = removed + priced(item);
        }
    }
    let currency = pricing.currency().to_string();
    Cost {
        currency,
        existing,
        added,
        removed,
        after: existing + added - removed,
        unpriced,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_read_exactly_and_shown_in_cents() {
        assert_eq!(Money::parse("4.5101000000"), Some(Money(45_101)));
        assert_eq!(Money::parse("0.59505"), Some(Money(5_951)));
        assert_eq!(Money::parse("12"), Some(Money(120_000)));
        assert_eq!(Money::parse("-1.5"), Some(Money(-15_000)));
        assert_eq!(Money::parse("1e3"), None);
        assert_eq!(Money::parse(""), None);
        assert_eq!(Money(45_101).to_string(), "4.51");
        assert_eq!(Money(45_150).to_string(), "4.52");
        assert_eq!(Money(-15_000).to_string(), "-1.50");
        assert_eq!(Money(49).to_string(), "0.00");
        let total: Money = [Money(45_101), Money(45_101), Money(45_101)].into_iter().sum();
        assert_eq!(total.to_string(), "13.53");
        assert_eq!(Money(110).scaled(2.5), Money(275));
    }
}
