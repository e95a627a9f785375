//! Concrete request paths → OpenAPI path templates, and raw query strings → parameters.
//!
//! A concrete path such as `/servers/42/actions/poweron` can match several templates
//! (`/servers/{id}/actions/poweron` and `/servers/{id}/actions/{action_id}`); like every
//! router, the most literal one wins, compared segment by segment from the left.

/// One segment of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// The path templates of the description, ready for matching.
#[derive(Debug, Default)]
pub struct Templates {
    templates: Vec<(String, Vec<Segment>)>,
}

/// A template that matched a concrete path, with the path parameters it bound.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Matched<'a> {
    /// The template as written in the description, e.g. `/servers/{id}/actions/poweron`.
    pub template: &'a str,
    /// `(name, decoded value)` for each `{param}`, in path order.
    pub params: Vec<(String, String)>,
}

impl Templates {
    /// Adds a template such as `/servers/{id}`.
    pub fn add(&mut self, template: &str) {
        let segments = split(template)
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some(name) => Segment::Param(name.to_owned()),
                    None => Segment::Literal(segment.to_owned()),
                },
            )
            .collect();
        self.templates.push((template.to_owned(), segments));
    }

    /// The most specific template matching `path` (relative to the API base, e.g. `/servers/42`).
    #[cfg(test)]
    pub fn find(&self, path: &str) -> Option<Matched<'_>> {
        self.find_all(path).into_iter().next()
    }

    /// Every template matching `path`, most specific first: compared segment by segment from
    /// the left, a literal beats a parameter.
    pub fn find_all(&self, path: &str) -> Vec<Matched<'_>> {
        let concrete: Vec<String> = split(path).map(percent_decode).collect();
        let mut found: Vec<(Vec<bool>, Matched<'_>)> = self
            .templates
            .iter()
            .filter(|(_, segments)| {
                segments.len() == concrete.len()
                    && segments.iter().zip(&concrete).all(|(segment, value)| match segment {
                        Segment::Literal(literal) => literal == value,
                        Segment::Param(_) => !value.is_empty(),
                    })
            })
            .map(|(template, segments)| {
                let literal = segments.iter().map(|s| matches!(s, Segment::Literal(_))).collect();
                let params = segments
                    .iter()
                    .zip(&concrete)
                    .filter_map(|(segment, value)| match segment {
                        Segment::Param(name) => Some((name.clone(), value.clone())),
                        Segment::Literal(_) => None,
                    })
                    .collect();
                (literal, Matched { template, params })
            })
            .collect();
        found.sort_by(|a, b| b.0.cmp(&a.0));
        found.into_iter().map(|(_, matched)| matched).collect()
    }
}

/// The segments of a path; a trailing slash yields an empty last segment (which no template
/// matches, as on the real API).
fn split(path: &str) -> impl Iterator<Item = &str> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// Parses a raw query string (`a=1&b=x%20y`, with or without the leading `?`) into decoded
/// `(name, value)` pairs in order; repeated keys stay repeated.
pub fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .strip_prefix('?')
        .unwrap_or(query)
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, then percent escapes.
fn form_decode(raw: &str) -> String {
    percent_decode(&raw.replace('+', " "))
}

/// Decodes `%XX` escapes; malformed escapes are kept literally, invalid UTF-8 replaced.
fn percent_decode(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn templates(list: &[&str]) -> Templates {
        let mut templates = Templates::default();
        for template in list {
            templates.add(template);
        }
        templates
    }

    #[test]
    fn literal_segments_beat_parameters() {
        let t = templates(&[
            "/servers",
            "/servers/{id}",
            "/servers/actions",
            "/servers/actions/{id}",
            "/servers/{id}/actions",
            "/servers/{id}/actions/{action_id}",
            "/servers/{id}/actions/poweron",
        ]);
        let found = |path: &str| t.find(path).map(|m| m.template.to_owned());
        assert_eq!(
            found("/servers/42/actions/poweron").as_deref(),
            Some("/servers/{id}/actions/poweron")
        );
        assert_eq!(
            found("/servers/42/actions/77").as_deref(),
            Some("/servers/{id}/actions/{action_id}")
        );
        assert_eq!(found("/servers/actions").as_deref(), Some("/servers/actions"));
        assert_eq!(found("/servers/actions/9").as_deref(), Some("/servers/actions/{id}"));
        assert_eq!(found("/servers/42/actions").as_deref(), Some("/servers/{id}/actions"));
        assert_eq!(found("/servers/42").as_deref(), Some("/servers/{id}"));
        assert_eq!(found("/servers"), Some("/servers".to_owned()));
        assert_eq!(found("/servers/"), None, "a trailing slash is another path");
        assert_eq!(found("/servers/42/metrics"), None);
        assert_eq!(found("/volumes"), None);
        let all: Vec<&str> = t
            .find_all("/servers/42/actions/poweron")
            .iter()
            .map(|m| m.template)
            .collect();
        assert_eq!(
            all,
            ["/servers/{id}/actions/poweron", "/servers/{id}/actions/{action_id}"]
        );
    }

    #[test]
    fn parameters_are_bound_and_decoded() {
        let t = templates(&["/zones/{id_or_name}/rrsets/{rr_name}/{rr_type}"]);
        let matched = t.find("/zones/example.com/rrsets/%40/A").expect("template matches");
        assert_eq!(
            matched.params,
            vec![
                ("id_or_name".to_owned(), "example.com".to_owned()),
                ("rr_name".to_owned(), "@".to_owned()),
                ("rr_type".to_owned(), "A".to_owned()),
            ]
        );
    }

    #[test]
    fn query_pairs_are_decoded_and_repeatable() {
        assert_eq!(
            parse_query("?type=snapshot&type=backup&label_selector=role%3Dcp%2Cenv+in+(a)&flag&=x&bad=%zz"),
            vec![
                ("type".to_owned(), "snapshot".to_owned()),
                ("type".to_owned(), "backup".to_owned()),
                ("label_selector".to_owned(), "role=cp,env in (a)".to_owned()),
                ("flag".to_owned(), String::new()),
                (String::new(), "x".to_owned()),
                ("bad".to_owned(), "%zz".to_owned()),
            ]
        );
        assert!(parse_query("").is_empty());
    }
}
