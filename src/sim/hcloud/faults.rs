//! Seeded, reproducible fault injection: the `--faults` grammar and the engine that
//! decides, request by request and action by action, whether a fault fires.
//!
//! One seed per emulator; each concern (HTTP errors, dropped connections, action errors,
//! slow actions, capacity) draws from its own child RNG, so adding a rule of one kind never
//! shifts the sequence of another.
//!
//! Grammar (rules separated by `;`, a rule is a kind then `,key=value` options):
//!
//! ```text
//! SPEC   := RULE { ";" RULE }
//! RULE   := KIND { "," OPTION }
//! KIND   := "500" | "502" | "503" | "504" | "429" | "locked" | "conflict" | "limit" | "drop"
//!         | "action-error" | "slow" | "unavailable" | "placement-error" | "ignore-shutdown"
//! OPTION := "on=" METHOD ":" PATH    HTTP kinds and drop: the route; `*` = one path segment
//!                                     or any method; PATH with or without `/v1`
//!         | "command=" NAME          action-error, slow: the action command (create_image…)
//!         | "code=" NAME             action-error: the action's error code (action_failed)
//!         | "type=" NAME             unavailable, placement-error: the server type
//!         | "location=" NAME         unavailable, placement-error: the location
//!         | "p=" FLOAT               probability per match, 0..1 (default 1)
//!         | "n=" INT                 fire at most N times (default: unlimited)
//!         | "factor=" FLOAT          slow: duration multiplier (default 10)
//! ```
//!
//! Example: `503,on=POST:/servers,p=0.2; drop,on=POST:/servers/*/actions/create_image,n=1;
//! action-error,command=create_image; unavailable,type=cax11,location=fsn1`.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// A parsed `--faults` specification: zero or more rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultSpec {
    /// The rules, in the order given.
    pub rules: Vec<FaultRule>,
}

/// One fault rule.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultRule {
    /// What happens.
    pub kind: FaultKind,
    /// For HTTP kinds and `drop`: which requests (None = every request; for `drop` every
    /// mutating request).
    pub route: Option<RoutePattern>,
    /// For action kinds: which command (None = every command).
    pub command: Option<String>,
    /// For capacity kinds: which server type (None = any).
    pub server_type: Option<String>,
    /// For capacity kinds: which location (None = any).
    pub location: Option<String>,
    /// Probability per matching request or action.
    pub probability: f64,
    /// At most this many firings (None = unlimited).
    pub count: Option<u32>,
    /// `slow`: the duration multiplier.
    pub factor: f64,
    /// `action-error`: the error code the action ends with (None = `action_failed`).
    pub code: Option<String>,
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// An HTTP 500/502/503/504 before the request is processed.
    Status(u16),
    /// 429 `rate_limit_exceeded` before the request is processed.
    RateLimited,
    /// 423 `locked` before the request is processed.
    Locked,
    /// 409 `conflict` before the request is processed.
    Conflict,
    /// 403 `resource_limit_exceeded` (a project quota) before the request is processed.
    Limit,
    /// The request is processed, then the connection is closed without a response.
    Drop,
    /// The action ends in `error` instead of `success`.
    ActionError,
    /// The action takes `factor` times longer.
    Slow,
    /// Server creation fails with 412 `resource_unavailable`.
    Unavailable,
    /// Server creation fails with 422 `placement_error`.
    PlacementError,
    /// The guest ignores an ACPI `shutdown`: the action succeeds, the server keeps running.
    IgnoreShutdown,
}

/// `METHOD:PATH` with `*` wildcards.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePattern {
    method: String,
    segments: Vec<String>,
}

impl RoutePattern {
    /// Returns true if and only if the request matches (path with or without `/v1`).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        if self.method != "*" && !self.method.eq_ignore_ascii_case(method) {
            return false;
        }
        let path = path.strip_prefix("/v1").unwrap_or(path);
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        segments.len() == self.segments.len()
            && self
                .segments
                .iter()
                .zip(&segments)
                .all(|(want, have)| want == "*" || want == have)
    }
}

impl fmt::Display for RoutePattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:/{}", self.method, self.segments.join("/"))
    }
}

impl FromStr for RoutePattern {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (method, path) = text
            .split_once(':')
            .ok_or_else(|| format!("route '{text}' must look like METHOD:/path, e.g. POST:/servers"))?;
        let method = method.trim().to_ascii_uppercase();
        if !matches!(method.as_str(), "*" | "GET" | "POST" | "PUT" | "DELETE" | "PATCH") {
            return Err(format!("unknown method '{method}' in route '{text}'"));
        }
        let path = path.trim();
        if !path.starts_with('/') {
            return Err(format!("path in route '{text}' must start with '/'"));
        }
        let path = path.strip_prefix("/v1").unwrap_or(path);
        Ok(RoutePattern {
            method,
            segments: path.split('/').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        })
    }
}

impl FaultKind {
    fn name(self) -> String {
        match self {
            FaultKind::Status(code) => code.to_string(),
            FaultKind::RateLimited => "429".into(),
            FaultKind::Locked => "locked".into(),
            FaultKind::Conflict => "conflict".into(),
            FaultKind::Limit => "limit".into(),
            FaultKind::Drop => "drop".into(),
            FaultKind::ActionError => "action-error".into(),
            FaultKind::Slow => "slow".into(),
            FaultKind::Unavailable => "unavailable".into(),
            FaultKind::PlacementError => "placement-error".into(),
            FaultKind::IgnoreShutdown => "ignore-shutdown".into(),
        }
    }

    fn is_http(self) -> bool {
        matches!(
            self,
            FaultKind::Status(_) | FaultKind::RateLimited | FaultKind::Locked | FaultKind::Conflict | FaultKind::Limit
        )
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut rules = Vec::new();
        for raw in text.split(';') {
            let raw = raw.trim();
            if raw.is_empty() {
                continue;
            }
            rules.push(raw.parse()?);
        }
        Ok(FaultSpec { rules })
    }
}

impl FromStr for FaultRule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut parts = text.split(',').map(str::trim);
        let kind_text = parts.next().unwrap_or_default();
        let kind = match kind_text {
            "500" | "502" | "503" | "504" => FaultKind::Status(kind_text.parse().expect("invariant: matched digits")),
            "429" => FaultKind::RateLimited,
            "locked" => FaultKind::Locked,
            "conflict" => FaultKind::Conflict,
            "limit" => FaultKind::Limit,
            "drop" => FaultKind::Drop,
            "action-error" => FaultKind::ActionError,
            "slow" => FaultKind::Slow,
            "unavailable" => FaultKind::Unavailable,
            "placement-error" => FaultKind::PlacementError,
            "ignore-shutdown" => FaultKind::IgnoreShutdown,
            other => {
                return Err(format!(
                    "unknown fault kind '{other}' in '{text}' (expected 500, 502, 503, 504, 429, locked, conflict, \
                     limit, drop, action-error, slow, unavailable, placement-error or ignore-shutdown)"
                ));
            }
        };
        let mut rule = FaultRule {
            kind,
            route: None,
            command: None,
            server_type: None,
            location: None,
            probability: 1.0,
            count: None,
            factor: 10.0,
            code: None,
        };
        for option in parts {
            let (key, value) = option
                .split_once('=')
                .ok_or_else(|| format!("option '{option}' in '{text}' must look like key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let allowed = match key {
                "on" => kind.is_http() || kind == FaultKind::Drop,
                "command" => matches!(kind, FaultKind::ActionError | FaultKind::Slow),
                "type" | "location" => matches!(kind, FaultKind::Unavailable | FaultKind::PlacementError),
                "factor" => kind == FaultKind::Slow,
                "code" => kind == FaultKind::ActionError,
                "p" | "n" => true,
                _ => return Err(format!("unknown option '{key}' in '{text}'")),
            };
            if !allowed {
                return Err(format!(
                    "option '{key}' does not apply to '{}' in '{text}'",
                    kind.name()
                ));
            }
            match key {
                "on" => rule.route = Some(value.parse()?),
                "command" => rule.command = Some(value.to_string()),
                "type" => rule.server_type = Some(value.to_string()),
                "location" => rule.location = Some(value.to_string()),
                "code" => {
                    let valid = !value.is_empty() && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
                    if !valid {
                        return Err(format!(
                            "code must be a Hetzner error code like unknown_error, got '{value}'"
                        ));
                    }
                    rule.code = Some(value.to_string());
                }
                "p" => {
                    rule.probability = value
                        .parse::<f64>()
                        .ok()
                        .filter(|p| (0.0..=1.0).contains(p))
                        .ok_or_else(|| format!("p must be a number from 0 to 1, got '{value}'"))?;
                }
                "n" => {
                    rule.count = Some(
                        value
                            .parse()
                            .map_err(|_| format!("n must be a whole number, got '{value}'"))?,
                    );
                }
                "factor" => {
                    rule.factor = value
                        .parse::<f64>()
                        .ok()
                        .filter(|f| *f > 0.0)
                        .ok_or_else(|| format!("factor must be a positive number, got '{value}'"))?;
                }
                _ => unreachable!("invariant: keys were checked above"),
            }
        }
        Ok(rule)
    }
}

impl fmt::Display for FaultRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind.name())?;
        if let Some(route) = &self.route {
            write!(f, ",on={route}")?;
        }
        if let Some(command) = &self.command {
            write!(f, ",command={command}")?;
        }
        if let Some(t) = &self.server_type {
            write!(f, ",type={t}")?;
        }
        if let Some(l) = &self.location {
            write!(f, ",location={l}")?;
        }
        if let Some(code) = &self.code {
            write!(f, ",code={code}")?;
        }
        if self.kind == FaultKind::Slow {
            write!(f, ",factor={}", self.factor)?;
        }
        if self.probability < 1.0 {
            write!(f, ",p={}", self.probability)?;
        }
        if let Some(n) = self.count {
            write!(f, ",n={n}")?;
        }
        Ok(())
    }
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rules: Vec<String> = self.rules.iter().map(ToString::to_string).collect();
        f.write_str(&rules.join("; "))
    }
}

/// A child RNG for one concern, derived from the emulator seed and the concern's name.
pub fn child_rng(seed: u64, concern: &str) -> ChaCha8Rng {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(concern.as_bytes());
    ChaCha8Rng::from_seed(hasher.finalize().into())
}

/// The live rules with their remaining counts, and one RNG per concern.
#[derive(Debug, Clone)]
pub struct FaultEngine {
    rules: Vec<(FaultRule, Option<u32>)>,
    http: ChaCha8Rng,
    drops: ChaCha8Rng,
    action_errors: ChaCha8Rng,
    slow: ChaCha8Rng,
    capacity: ChaCha8Rng,
    shutdown: ChaCha8Rng,
}

/// What the action faults decided for one new action.
#[derive(Debug, Clone, PartialEq)]
pub struct ActionFault {
    /// Duration multiplier (1 = normal).
    pub factor: f64,
    /// The error code the action ends with, if it fails.
    pub error: Option<String>,
}

impl FaultEngine {
    /// An engine with the spec's rules, seeded.
    pub fn new(spec: &FaultSpec, seed: u64) -> Self {
        let mut engine = FaultEngine {
            rules: Vec::new(),
            http: child_rng(seed, "faults/http"),
            drops: child_rng(seed, "faults/drop"),
            action_errors: child_rng(seed, "faults/action-error"),
            slow: child_rng(seed, "faults/slow"),
            capacity: child_rng(seed, "faults/capacity"),
            shutdown: child_rng(seed, "faults/shutdown"),
        };
        engine.add(spec);
        engine
    }

    /// Adds rules after the existing ones.
    pub fn add(&mut self, spec: &FaultSpec) {
        self.rules
            .extend(spec.rules.iter().map(|rule| (rule.clone(), rule.count)));
    }

    /// Removes every rule (the RNG streams continue).
    pub fn clear(&mut self) {
        self.rules.clear();
    }

    /// The rules still able to fire, as spec text with remaining counts.
    pub fn active(&self) -> Vec<String> {
        self.rules
            .iter()
            .filter(|(_, left)| *left != Some(0))
            .map(|(rule, left)| {
                let mut rule = rule.clone();
                rule.count = *left;
                rule.to_string()
            })
            .collect()
    }

    /// Draws for each matching rule in order; the first that fires is consumed.
    fn fire(&mut self, which: Concern, matches: impl Fn(&FaultRule) -> bool) -> Option<FaultRule> {
        for i in 0..self.rules.len() {
            let (rule, left) = &self.rules[i];
            if *left == Some(0) || !matches(rule) {
                continue;
            }
            let p = rule.probability;
            let rng = match which {
                Concern::Http => &mut self.http,
                Concern::Drop => &mut self.drops,
                Concern::ActionError => &mut self.action_errors,
                Concern::Slow => &mut self.slow,
                Concern::Capacity => &mut self.capacity,
                Concern::Shutdown => &mut self.shutdown,
            };
            let fires = p >= 1.0 || rng.random::<f64>() < p;
            if fires {
                let (rule, left) = &mut self.rules[i];
                if let Some(n) = left {
                    *n -= 1;
                }
                return Some(rule.clone());
            }
        }
        None
    }

    /// An HTTP fault to answer with instead of processing the request.
    pub fn http_fault(&mut self, method: &str, path: &str) -> Option<ApiError> {
        let rule = self.fire(Concern::Http, |rule| {
            rule.kind.is_http() && rule.route.as_ref().is_none_or(|r| r.matches(method, path))
        })?;
        Some(match rule.kind {
            FaultKind::Status(500) => ApiError::new(500, "server_error", "injected fault: internal server error"),
            FaultKind::Status(502) => ApiError::new(502, "bad_gateway", "injected fault: bad gateway"),
            FaultKind::Status(504) => ApiError::new(504, "timeout", "injected fault: timeout"),
            FaultKind::Status(_) => ApiError::new(503, "unavailable", "injected fault: service unavailable"),
            FaultKind::RateLimited => {
                ApiError::new(429, "rate_limit_exceeded", "limit of 3600 requests per hour reached")
            }
            FaultKind::Locked => ApiError::locked("resource"),
            FaultKind::Limit => quota_exceeded(method, path),
            _ => ApiError::conflict("resource"),
        })
    }

    /// Whether to drop the connection after a processed request.
    pub fn drop_connection(&mut self, method: &str, path: &str) -> bool {
        self.fire(Concern::Drop, |rule| {
            rule.kind == FaultKind::Drop
                && match &rule.route {
                    Some(route) => route.matches(method, path),
                    None => method != "GET",
                }
        })
        .is_some()
    }

    /// The faults for a new action running `command`.
    pub fn action(&mut self, command: &str) -> ActionFault {
        let for_command = |kind: FaultKind| {
            move |rule: &FaultRule| rule.kind == kind && rule.command.as_deref().is_none_or(|c| c == command)
        };
        let factor = self
            .fire(Concern::Slow, for_command(FaultKind::Slow))
            .map_or(1.0, |rule| rule.factor);
        let error = self
            .fire(Concern::ActionError, for_command(FaultKind::ActionError))
            .map(|rule| rule.code.unwrap_or_else(|| "action_failed".to_string()));
        ActionFault { factor, error }
    }

    /// Whether the guest ignores the ACPI shutdown signal just sent.
    pub fn shutdown_ignored(&mut self) -> bool {
        self.fire(Concern::Shutdown, |rule| rule.kind == FaultKind::IgnoreShutdown)
            .is_some()
    }

    /// Returns true if and only if an `unavailable` rule for `server_type` in `location`
    /// always fires (probability 1, no count): the type is sold out there, and
    /// `GET /server_types` says so (`available: false`) as the real API does.
    pub fn sold_out(&self, server_type: &str, location: &str) -> bool {
        self.rules.iter().any(|(rule, left)| {
            rule.kind == FaultKind::Unavailable
                && rule.probability >= 1.0
                && left.is_none()
                && rule.server_type.as_deref().is_none_or(|t| t == server_type)
                && rule.location.as_deref().is_none_or(|l| l == location)
        })
    }

    /// A capacity error for creating a server of `server_type` in `location`.
    pub fn capacity(&mut self, server_type: &str, location: &str) -> Option<ApiError> {
        let rule = self.fire(Concern::Capacity, |rule| {
            matches!(rule.kind, FaultKind::Unavailable | FaultKind::PlacementError)
                && rule.server_type.as_deref().is_none_or(|t| t == server_type)
                && rule.location.as_deref().is_none_or(|l| l == location)
        })?;
        Some(match rule.kind {
            FaultKind::PlacementError => ApiError::unprocessable("placement_error", "error during placement"),
            _ => ApiError::new(
                412,
                "resource_unavailable",
                "we are unable to provision servers for this location, try with a different location or try later",
            ),
        })
    }
}

/// 403 `resource_limit_exceeded` as the real API words it for the route's resource
/// (reference `hcloud-api.md` §3.1, §3.3, §8.1).
fn quota_exceeded(method: &str, path: &str) -> ApiError {
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let message = match (method, path) {
        ("POST", "/servers") => "server limit exceeded",
        ("POST", "/primary_ips") => "Primary IP limit exceeded",
        ("POST", "/floating_ips") => "Floating IP limit exceeded",
        _ => "project limit exceeded",
    };
    let mut error = ApiError::new(403, "resource_limit_exceeded", message);
    error.details = Box::new(serde_json::json!({"limits": [{"name": "project_limit"}]}));
    error
}

#[derive(Clone, Copy)]
enum Concern {
    Http,
    Drop,
    ActionError,
    Slow,
    Capacity,
    Shutdown,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_documented_example() {
        let text = "503,on=POST:/servers,p=0.2; drop,on=POST:/servers/*/actions/create_image,n=1; \
                    action-error,command=create_image; unavailable,type=cax11,location=fsn1; slow,factor=5; \
                    limit,on=POST:/servers,n=1; action-error,command=create_server,code=unknown_error; \
                    ignore-shutdown,n=2";
        let spec: FaultSpec = text.parse().unwrap();
        assert_eq!(spec.rules.len(), 8);
        assert_eq!(spec.rules[7].kind, FaultKind::IgnoreShutdown);
        assert_eq!(spec.rules[5].kind, FaultKind::Limit);
        assert_eq!(spec.rules[6].code.as_deref(), Some("unknown_error"));
        assert_eq!(spec.rules[0].kind, FaultKind::Status(503));
        assert_eq!(spec.rules[1].count, Some(1));
        assert_eq!(spec.rules[4].factor, 5.0);
        let again: FaultSpec = spec.to_string().parse().unwrap();
        assert_eq!(again, spec);
    }

    #[test]
    fn rejects_bad_specs_with_a_reason() {
        for (text, needle) in [
            ("418", "unknown fault kind"),
            ("503,on=servers", "METHOD:/path"),
            ("503,p=2", "p must be"),
            ("slow,type=cax11", "does not apply"),
            ("drop,n=x", "whole number"),
            ("locked,colour=red", "unknown option"),
            ("slow,code=x", "does not apply"),
            ("action-error,code=Bad Code", "Hetzner error code"),
        ] {
            let error = text.parse::<FaultSpec>().unwrap_err();
            assert!(error.contains(needle), "{text}: {error}");
        }
    }

    #[test]
    fn routes_match_with_wildcards() {
        let route: RoutePattern = "POST:/servers/*/actions/poweron".parse().unwrap();
        assert!(route.matches("POST", "/v1/servers/42/actions/poweron"));
        assert!(!route.matches("GET", "/v1/servers/42/actions/poweron"));
        assert!(!route.matches("POST", "/v1/servers/42/actions/poweroff"));
        let any: RoutePattern = "*:/v1/images/*".parse().unwrap();
        assert!(any.matches("DELETE", "/images/7"));
    }

    #[test]
    fn counted_rules_fire_exactly_n_times() {
        let spec: FaultSpec = "locked,on=POST:/servers,n=3".parse().unwrap();
        let mut engine = FaultEngine::new(&spec, 7);
        let fired = (0..5)
            .filter(|_| engine.http_fault("POST", "/v1/servers").is_some())
            .count();
        assert_eq!(fired, 3);
        assert!(engine.http_fault("GET", "/v1/servers").is_none());
    }

    #[test]
    fn same_seed_same_sequence_and_streams_are_independent() {
        let spec: FaultSpec = "503,p=0.5".parse().unwrap();
        let run = |seed, with_other: bool| {
            let mut spec = spec.clone();
            if with_other {
                spec.rules
                    .extend("action-error,p=0.5".parse::<FaultSpec>().unwrap().rules);
            }
            let mut engine = FaultEngine::new(&spec, seed);
            (0..64)
                .map(|_| {
                    if with_other {
                        engine.action("create_server");
                    }
                    engine.http_fault("GET", "/v1/servers").is_some()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run(1, false), run(1, false));
        assert_ne!(run(1, false), run(2, false));
        assert_eq!(
            run(1, false),
            run(1, true),
            "action faults must not shift the HTTP stream"
        );
    }
}
