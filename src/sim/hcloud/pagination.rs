//! Pagination, sorting and common filters of list endpoints, applied to rendered
//! resources (their API representation), plus the `Link` header.
//!
//! `page` starts at 1, `per_page` defaults to 25 and is clamped to 50; `sort` is
//! repeatable (`field`, `field:asc`, `field:desc`); the default order is by ascending ID.

use std::cmp::Ordering;

use serde_json::{Value, json};

use super::error::ApiError;
use super::label_selector::Selector;

/// Query parameters as sent: repeated keys kept in order (`id=1&id=2`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses an `application/x-www-form-urlencoded` query string.
    pub fn parse(raw: &str) -> Query {
        Query {
            pairs: url::form_urlencoded::parse(raw.as_bytes()).into_owned().collect(),
        }
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The pairs, in order.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// A boolean parameter (`true`/`false`).
    pub fn flag(&self, key: &str) -> Result<Option<bool>, ApiError> {
        // Python's requests writes `True`/`False`; accept any case.
        match self.get(key).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(None),
            Some("true") => Ok(Some(true)),
            Some("false") => Ok(Some(false)),
            Some(_) => Err(ApiError::invalid_field(key, "Not a valid boolean.")),
        }
    }
}

/// What a list endpoint allows: its sort fields, its exact-match filters and whether
/// `name`/`label_selector` apply.
#[derive(Debug, Clone, Copy)]
pub struct ListRules {
    /// Fields `sort` may name.
    pub sort_fields: &'static [&'static str],
    /// Exact-match filters: a query key that is also the field it matches, and the values
    /// it accepts (empty: any).
    pub filters: &'static [(&'static str, &'static [&'static str])],
    /// Whether `name=` filters.
    pub name_filter: bool,
    /// Whether `label_selector=` filters.
    pub label_selector: bool,
}

impl ListRules {
    /// A resource list: `name` and `label_selector` filter, `sort` may name `sort_fields`.
    pub const fn resources(sort_fields: &'static [&'static str]) -> Self {
        ListRules {
            sort_fields,
            filters: &[],
            name_filter: true,
            label_selector: true,
        }
    }

    /// A catalogue list (locations, types): `name` filters; there are no labels.
    pub const fn catalog(sort_fields: &'static [&'static str]) -> Self {
        ListRules {
            label_selector: false,
            ..ListRules::resources(sort_fields)
        }
    }

    /// The same rules with these exact-match filters, applied in this order.
    pub const fn filters(self, filters: &'static [(&'static str, &'static [&'static str])]) -> Self {
        ListRules { filters, ..self }
    }
}

/// One page of a list, ready to render.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The items on this page.
    pub items: Vec<Value>,
    /// `meta.pagination`.
    pub pagination: Value,
    /// Page numbers for the `Link` header: (rel, page).
    pub links: Vec<(&'static str, u64)>,
}

/// Applies the exact-match filters, then `name` and `label_selector`, sorts, and cuts one
/// page.
pub fn list(mut items: Vec<Value>, query: &Query, rules: ListRules) -> Result<Page, ApiError> {
    for (key, allowed) in rules.filters {
        filter_in(&mut items, query, key, allowed)?;
    }
    if rules.name_filter
        && let Some(name) = query.get("name")
    {
        items.retain(|item| item.get("name").and_then(Value::as_str) == Some(name));
    }
    if rules.label_selector
        && let Some(text) = query.get("label_selector")
    {
        let selector = Selector::parse(text).map_err(|why| ApiError::invalid_field("label_selector", why))?;
        items.retain(|item| {
            let labels = item
                .get("labels")
                .and_then(Value::as_object)
                .map(|map| {
                    map.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            selector.matches(&labels)
        });
    }
    sort(&mut items, &query.all("sort"), rules.sort_fields)?;
    paginate(items, query)
}

/// Keeps items whose field `key` (a string) is one of the query's values for `key`, if
/// any; a value outside `allowed` (when not empty) is 422 `invalid_input`.
pub fn filter_in(items: &mut Vec<Value>, query: &Query, key: &str, allowed: &[&str]) -> Result<(), ApiError> {
    let wanted = query.all(key);
    if wanted.is_empty() {
        return Ok(());
    }
    for value in &wanted {
        if !allowed.is_empty() && !allowed.contains(value) {
            return Err(ApiError::invalid_field(
                key,
                format!("Must be one of: {}.", allowed.join(", ")),
            ));
        }
    }
    items.retain(|item| {
        item.get(key)
            .and_then(Value::as_str)
            .is_some_and(|v| wanted.contains(&v))
    });
    Ok(())
}

/// Sorts by the requested keys (then by ID), rejecting fields the endpoint does not allow.
pub fn sort(items: &mut [Value], requested: &[&str], allowed: &[&str]) -> Result<(), ApiError> {
    let mut keys: Vec<(&str, bool)> = Vec::new();
    for spec in requested {
        let (field, ascending) = match spec.split_once(':') {
            Some((field, "asc")) => (field, true),
            Some((field, "desc")) => (field, false),
            Some(_) => {
                return Err(ApiError::invalid_field(
                    "sort",
                    format!("invalid sort order in '{spec}'"),
                ));
            }
            None => (*spec, true),
        };
        if !allowed.contains(&field) {
            return Err(ApiError::invalid_field(
                "sort",
                format!("cannot sort by '{field}'; allowed: {}", allowed.join(", ")),
            ));
        }
        keys.push((field, ascending));
    }
    keys.push(("id", true));
    items.sort_by(|a, b| {
        for (field, ascending) in &keys {
            let order = compare(a.get(*field), b.get(*field));
            let order = if *ascending { order } else { order.reverse() };
            if order != Ordering::Equal {
                return order;
            }
        }
        Ordering::Equal
    });
    Ok(())
}

/// Orders JSON scalars: null first, then numbers, then strings.
fn compare(a: Option<&Value>, b: Option<&Value>) -> Ordering {
    fn rank(v: Option<&Value>) -> u8 {
        match v {
            None | Some(Value::Null) => 0,
            Some(Value::Number(_)) => 1,
            _ => 2,
        }
    }
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Some(Value::String(x)), Some(Value::String(y))) => x.cmp(y),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// Parses `page`/`per_page` and cuts the page.
pub fn paginate(items: Vec<Value>, query: &Query) -> Result<Page, ApiError> {
    let page = positive(query, "page", 1)?;
    let per_page = positive(query, "per_page", 25)?.min(50);
    let total = items.len() as u64;
    let last = total.div_ceil(per_page).max(1);
    let start = (page - 1).saturating_mul(per_page);
    let items: Vec<Value> = items
        .into_iter()
        .skip(usize::try_from(start).unwrap_or(usize::MAX))
        .take(per_page as usize)
        .collect();
    let previous = (page > 1).then(|| (page - 1).min(last));
    let next = (page < last).then(|| page + 1);
    let mut links = Vec::new();
    if let Some(p) = previous {
        links.push(("prev", p));
    }
    if let Some(n) = next {
        links.push(("next", n));
    }
    links.push(("last", last));
    Ok(Page {
        items,
        pagination: json!({
            "page": page,
            "per_page": per_page,
            "previous_page": previous,
            "next_page": next,
            "last_page": last,
            "total_entries": total,
        }),
        links,
    })
}

fn positive(query: &Query, key: &str, default: u64) -> Result<u64, ApiError> {
    match query.get(key) {
        None => Ok(default),
        Some(text) => match text.parse::<u64>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(ApiError::invalid_field(key, "Must be a positive integer.")),
        },
    }
}

/// The `Link` header for a page: the request URL with `page` replaced, per relation.
pub fn link_header(base_url: &str, query: &Query, links: &[(&'static str, u64)]) -> String {
    links
        .iter()
        .map(|(rel, page)| {
            let mut serializer = url::form_urlencoded::Serializer::new(String::new());
            let mut replaced = false;
            for (k, v) in query.pairs() {
                if k == "page" {
                    if !replaced {
                        serializer.append_pair("page", &page.to_string());
                        replaced = true;
                    }
                } else {
                    serializer.append_pair(k, v);
                }
            }
            if !replaced {
                serializer.append_pair("page", &page.to_string());
            }
            format!("<{base_url}?{}>; rel=\"{rel}\"", serializer.finish())
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(n: u64) -> Vec<Value> {
        (1..=n)
            .map(|i| json!({"id": i, "name": format!("n{:02}", 100 - i)}))
            .collect()
    }

    #[test]
    fn pages_and_meta() {
        let page = paginate(items(60), &Query::parse("page=2&per_page=25")).unwrap();
        assert_eq!(page.items.len(), 25);
        assert_eq!(page.items[0]["id"], 26);
        assert_eq!(page.pagination["previous_page"], 1);
        assert_eq!(page.pagination["next_page"], 3);
        assert_eq!(page.pagination["last_page"], 3);
        assert_eq!(page.pagination["total_entries"], 60);
        let clamped = paginate(items(60), &Query::parse("per_page=500")).unwrap();
        assert_eq!(clamped.items.len(), 50);
        assert!(paginate(items(3), &Query::parse("page=0")).is_err());
        let past = paginate(items(3), &Query::parse("page=9")).unwrap();
        assert!(past.items.is_empty());
        assert_eq!(past.pagination["next_page"], Value::Null);
    }

    #[test]
    fn the_largest_page_number_is_just_past_the_end() {
        // `page=18446744073709551615` is a valid query: `page + 1` must not overflow (a
        // panic would drop the request).
        let page = paginate(items(3), &Query::parse("page=18446744073709551615")).unwrap();
        assert!(page.items.is_empty());
        assert_eq!(page.pagination["page"], u64::MAX);
        assert_eq!(page.pagination["next_page"], Value::Null);
        assert_eq!(page.pagination["previous_page"], 1);
    }

    #[test]
    fn sorting() {
        let mut v = items(5);
        sort(&mut v, &["name"], &["id", "name"]).unwrap();
        assert_eq!(v[0]["id"], 5);
        sort(&mut v, &["id:desc"], &["id", "name"]).unwrap();
        assert_eq!(v[0]["id"], 5);
        sort(&mut v, &["id:asc"], &["id", "name"]).unwrap();
        assert_eq!(v[0]["id"], 1);
        assert!(sort(&mut v, &["created"], &["id", "name"]).is_err());
        assert!(sort(&mut v, &["id:up"], &["id"]).is_err());
    }

    #[test]
    fn rule_filters_match_exactly_and_check_their_values() {
        let rules = ListRules::resources(&["id"]).filters(&[("status", &["on", "off"]), ("kind", &[])]);
        let items: Vec<Value> = [("on", "a"), ("off", "a"), ("on", "b")]
            .iter()
            .enumerate()
            .map(|(i, (status, kind))| json!({"id": i, "status": status, "kind": kind, "labels": {}}))
            .collect();
        let page = list(items.clone(), &Query::parse("status=on&kind=b&kind=c"), rules).unwrap();
        assert_eq!(page.items, vec![items[2].clone()]);
        let page = list(items.clone(), &Query::parse("status=on&status=off"), rules).unwrap();
        assert_eq!(page.items.len(), 3);
        let error = list(items, &Query::parse("kind=a&status=up"), rules).unwrap_err();
        assert_eq!(error.details["fields"][0]["name"], "status");
        assert_eq!(error.details["fields"][0]["messages"][0], "Must be one of: on, off.");
    }

    #[test]
    fn link_keeps_other_parameters() {
        let q = Query::parse("id=1&page=1&sort=status&sort=id");
        let link = link_header("http://h/v1/actions", &q, &[("next", 2), ("last", 3)]);
        assert_eq!(
            link,
            "<http://h/v1/actions?id=1&page=2&sort=status&sort=id>; rel=\"next\", \
             <http://h/v1/actions?id=1&page=3&sort=status&sort=id>; rel=\"last\""
        );
    }
}
