//! Checks shared by every part: names (cluster, prefix, pools, nodes, load balancers),
//! locations and their network zone, and version strings.

use super::{Checker, DNS_LABEL_RULE};
use crate::excerpt::excerpt;
use crate::spec::catalog;
use crate::spec::diagnostic::Spanned;
use crate::spec::model::{Location, NetworkZone};
use crate::spec::names::NameError;
use crate::spec::raw::example;
use crate::spec::reader;
use crate::spec::version::VersionError;

impl Checker<'_, '_> {
    pub(super) fn name<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        rule: &str,
        parse: impl Fn(&str) -> Result<T, NameError>,
    ) -> Option<T> {
        let parsed = parse(&value.value).map_err(|e| (e.to_string(), None));
        self.parsed_or_reported(value, field, what, rule, parsed)
    }

    pub(super) fn spanned_name<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        parse: impl Fn(&str) -> Result<T, NameError>,
    ) -> Option<Spanned<T>> {
        self.name(value, field, what, DNS_LABEL_RULE, parse)
            .map(|parsed| Spanned::new(parsed, value.span))
    }

    pub(super) fn location(&mut self, value: &Spanned<String>, field: &str) -> Option<Spanned<Location>> {
        self.known(
            value,
            field,
            "location",
            example::LOCATION,
            catalog::LOCATIONS.iter().map(|l| l.name),
            Location::from_name,
        )
        .map(|location| Spanned::new(location, value.span))
    }

    /// The location written for a group, node or load balancer at `path` (`path.location`),
    /// also checked against the cluster's network zone; `None` when it is unknown.
    pub(super) fn location_in_zone(
        &mut self,
        value: &Spanned<String>,
        path: &str,
        zone: Option<NetworkZone>,
    ) -> Option<Location> {
        let field = reader::join(path, "location");
        let parsed = self.location(value, &field)?;
        if let Some(zone) = zone {
            self.in_zone(&parsed, &field, zone);
        }
        Some(parsed.value)
    }

    pub(super) fn in_zone(&mut self, location: &Spanned<Location>, field: &str, zone: NetworkZone) {
        let actual = location.value.network_zone();
        if actual != zone {
            let same_zone = catalog::LOCATIONS
                .iter()
                .filter(|l| l.network_zone == zone.as_str())
                .map(|l| format!("`{}`", l.name))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                location.span,
                field,
                format!(
                    "location `{}` is in network zone {actual}, outside the cluster's network zone {zone}",
                    location.value
                ),
                &format!("a location in {zone}: {same_zone}"),
                None,
            );
        }
    }

    pub(super) fn version<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        expected: &str,
        parse: impl Fn(&str) -> Result<T, VersionError>,
    ) -> Option<T> {
        let parsed = parse(&value.value).map_err(|e| (e.reason, e.suggestion));
        self.parsed_or_reported(value, field, "version", expected, parsed)
    }

    /// The parsed `value`, or `None` after reporting "`VALUE` is not a valid WHAT: REASON"
    /// with the suggestion the parser made, if any.
    fn parsed_or_reported<T>(
        &mut self,
        value: &Spanned<String>,
        field: &str,
        what: &str,
        expected: &str,
        parsed: Result<T, (String, Option<String>)>,
    ) -> Option<T> {
        match parsed {
            Ok(parsed) => Some(parsed),
            Err((reason, suggestion)) => {
                let shown = excerpt(&value.value);
                let message = format!("`{}` is not a valid {what}: {reason}", shown.escape_debug());
                self.error(value.span, field, message, expected, suggestion);
                None
            }
        }
    }
}
