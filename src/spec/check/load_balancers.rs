//! `load_balancers:`: each balancer's name, type, location, target pool and services
//! (ports, one listener per port, within what the type allows).

use std::collections::{BTreeMap, BTreeSet};

use super::Checker;
use super::nodes::GroupDraft;
use crate::excerpt::excerpt;
use crate::spec::catalog::{self, MAX_NAME_LENGTH};
use crate::spec::diagnostic::{Span, Spanned, suggest};
use crate::spec::model::{LoadBalancer, LoadBalancerService, LoadBalancerType, Location, NetworkZone};
use crate::spec::names::{LoadBalancerName, PoolName, Prefix};
use crate::spec::raw::{RawLoadBalancer, RawService, example};
use crate::spec::reader;
use crate::spec::resources;

/// What the checks of one load balancer need from the rest of the description.
struct Context<'a> {
    /// The cluster's location, for balancers without their own.
    default_location: Option<Location>,
    /// The cluster's network zone, when known.
    zone: Option<NetworkZone>,
    /// The checked worker groups, to size the target pool.
    workers: &'a [GroupDraft],
    /// Every pool name written under `workers:`, valid or not.
    declared_pools: &'a [&'a str],
    /// The prefix, when valid, for the length of the derived name.
    prefix: Option<&'a Spanned<Prefix>>,
}

impl Checker<'_, '_> {
    /// Checks every load balancer; `None` when any is wrong (reported).
    pub(super) fn load_balancers(
        &mut self,
        raws: &[RawLoadBalancer],
        default_location: Option<Location>,
        zone: Option<NetworkZone>,
        workers: &[GroupDraft],
        declared_pools: &[&str],
        prefix: Option<&Spanned<Prefix>>,
    ) -> Option<Vec<LoadBalancer>> {
        let context = Context {
            default_location,
            zone,
            workers,
            declared_pools,
            prefix,
        };
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        let mut ok = true;
        for raw in raws {
            match self.load_balancer(raw, &context, &mut names) {
                Some(balancer) => out.push(balancer),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    /// Checks one load balancer; `names` holds the names of the ones before it.
    fn load_balancer(
        &mut self,
        raw: &RawLoadBalancer,
        context: &Context<'_>,
        names: &mut BTreeSet<LoadBalancerName>,
    ) -> Option<LoadBalancer> {
        let path = raw.path.as_str();
        let name = raw
            .name
            .as_ref()
            .and_then(|n| self.load_balancer_name(n, &reader::join(path, "name"), names, context.prefix));
        let lb_type = raw.lb_type.as_ref().and_then(|t| {
            self.known(
                t,
                &reader::join(path, "type"),
                "load balancer type",
                example::LB_TYPE,
                catalog::LOAD_BALANCER_TYPES.iter().map(|t| t.name),
                LoadBalancerType::from_name,
            )
        });
        let location = match &raw.location {
            Some(l) => self.location_in_zone(l, path, context.zone),
            None => context.default_location,
        };
        let pool_field = format!("{path}.targets.pool");
        let target = raw
            .target_pool
            .as_ref()
            .and_then(|p| self.target_pool(p, &pool_field, context));
        let services = raw
            .services
            .as_ref()
            .and_then(|list| self.services(list, &reader::join(path, "services"), lb_type));
        let mut ok = true;
        if let (Some(lb_type), Some((pool, size, span))) = (lb_type, &target)
            && *size > lb_type.max_targets()
        {
            self.error(
                *span,
                &pool_field,
                format!(
                    "pool `{pool}` has {size} nodes, but a {lb_type} load balancer has at most {} targets",
                    lb_type.max_targets()
                ),
                "a bigger load balancer type",
                None,
            );
            ok = false;
        }
        let (target_pool, _, _) = target?;
        let balancer = LoadBalancer {
            name: name?.value,
            lb_type: lb_type?,
            location: location?,
            target_pool,
            services: services?,
        };
        ok.then_some(balancer)
    }

    /// A load balancer's name: valid, not the API endpoint's, unused so far, and short
    /// enough with the prefix; `None` when not (reported).
    fn load_balancer_name(
        &mut self,
        written: &Spanned<String>,
        field: &str,
        names: &mut BTreeSet<LoadBalancerName>,
        prefix: Option<&Spanned<Prefix>>,
    ) -> Option<Spanned<LoadBalancerName>> {
        let name = self.spanned_name(written, field, "load balancer name", LoadBalancerName::parse)?;
        let mut ok = true;
        if name.value.as_str() == resources::API_ENDPOINT_NAME {
            self.error(
                name.span,
                field,
                "the name `api` is reserved for the Kubernetes API endpoint",
                example::LB_NAME,
                None,
            );
            ok = false;
        } else if !names.insert(name.value.clone()) {
            self.error(
                name.span,
                field,
                format!("load balancer `{}` is declared twice", name.value),
                "a load balancer name used once",
                None,
            );
            ok = false;
        }
        if let Some(prefix) = prefix {
            let full = resources::load_balancer_name(prefix.value.as_str(), name.value.as_str());
            let length = full.chars().count();
            if length > MAX_NAME_LENGTH {
                self.error(
                    name.span,
                    field,
                    format!(
                        "the load balancer name `{}` is {length} characters long, Hetzner allows {MAX_NAME_LENGTH}",
                        excerpt(&full)
                    ),
                    "a shorter prefix or name",
                    None,
                );
                ok = false;
            }
        }
        ok.then_some(name)
    }

    /// The worker pool a load balancer targets, with its size and where it is written.
    /// Pools are looked up by the name written, so a pool with its own problem is not
    /// reported a second time as missing here.
    fn target_pool(
        &mut self,
        written: &Spanned<String>,
        field: &str,
        context: &Context<'_>,
    ) -> Option<(PoolName, usize, Span)> {
        let declared_pools = context.declared_pools;
        if declared_pools.contains(&written.value.as_str()) {
            let group = context
                .workers
                .iter()
                .find(|g| g.pool.as_ref().is_some_and(|pool| pool.value.as_str() == written.value))?;
            return Some((group.pool.as_ref()?.value.clone(), group.nodes.len(), written.span));
        }
        let expected = if declared_pools.is_empty() {
            "the name of a pool under `workers:` (none is declared)".to_owned()
        } else {
            format!(
                "one of the pools {}",
                declared_pools
                    .iter()
                    .map(|p| format!("`{p}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let suggestion = suggest(&written.value, declared_pools.iter().copied());
        self.error(
            written.span,
            field,
            format!("no worker pool is called `{}`", excerpt(&written.value).escape_debug()),
            &expected,
            suggestion,
        );
        None
    }

    /// A load balancer's services: at least one, no more than its type allows, each with
    /// valid ports and its own listen port.
    fn services(
        &mut self,
        list: &Spanned<Vec<RawService>>,
        field: &str,
        lb_type: Option<LoadBalancerType>,
    ) -> Option<Vec<LoadBalancerService>> {
        if list.value.is_empty() {
            self.error(list.span, field, "the list is empty", example::SERVICES_LIST, None);
            return None;
        }
        if let Some(lb_type) = lb_type
            && list.value.len() > lb_type.max_services()
        {
            self.error(
                list.span,
                field,
                format!(
                    "{} services, but a {lb_type} load balancer has at most {}",
                    list.value.len(),
                    lb_type.max_services()
                ),
                "fewer services, or a bigger load balancer type",
                None,
            );
        }
        let mut services = Vec::new();
        let mut listen_ports: BTreeMap<u16, String> = BTreeMap::new();
        let mut ok = true;
        for service in &list.value {
            let listen = self.port(service.listen.as_ref(), &reader::join(&service.path, "listen"));
            let target = self.port(service.target.as_ref(), &reader::join(&service.path, "target"));
            if let (Some(listen), Some(span)) = (listen, service.listen.as_ref().map(|l| l.span))
                && let Some(first) = listen_ports.insert(listen, service.path.clone())
            {
                self.error(
                    span,
                    &reader::join(&service.path, "listen"),
                    format!("listen port {listen} is already used by {first}"),
                    "listen ports unique per load balancer",
                    None,
                );
                ok = false;
            }
            match (listen, target) {
                (Some(listen), Some(target)) => services.push(LoadBalancerService {
                    listen,
                    target,
                    proxy_protocol: service.proxy_protocol.as_ref().is_some_and(|p| p.value),
                }),
                _ => ok = false,
            }
        }
        ok.then_some(services)
    }

    /// A TCP port from 1 to 65535; `None` when missing or out of range (reported).
    fn port(&mut self, value: Option<&Spanned<i64>>, field: &str) -> Option<u16> {
        let value = value?;
        match u16::try_from(value.value) {
            Ok(port) if port >= 1 => Some(port),
            _ => {
                self.error(
                    value.span,
                    field,
                    format!("port {} is out of range", value.value),
                    example::PORT,
                    None,
                );
                None
            }
        }
    }
}
