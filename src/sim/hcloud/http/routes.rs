//! The API routes, registered from one table, [`collections`]: an entry names the `World`
//! method behind each operation a collection serves (list, create, get, update, delete) and
//! behind each of its actions (`POST /{plural}/{id}/actions/{name}`); the handlers around
//! them only extract the path ID and body, call that method and pick the status. Action
//! names the emulator does not serve answer `not_implemented`.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{MethodRouter, get};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::error::ApiError;
use super::super::pagination::{Page, Query};
use super::super::pricing;
use super::super::state::firewalls::Firewall;
use super::super::state::floating_ips::FloatingIp;
use super::super::state::images::Image;
use super::super::state::load_balancers::LoadBalancer;
use super::super::state::networks::Network;
use super::super::state::placement_groups::PlacementGroup;
use super::super::state::primary_ips::PrimaryIp;
use super::super::state::servers::{NoBody, Server};
use super::super::state::ssh_keys::SshKey;
use super::super::state::{Resource, World};
use super::{App, ListContext, Reply, created, listed, no_content, not_implemented, ok, parse_body, path_id};

type Result<T> = std::result::Result<T, ApiError>;

/// The `/v1` API routes.
pub(super) fn routes() -> Router<App> {
    let router = Router::new()
        .route(
            "/v1/actions",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("actions", &ctx, app.with_world(|w| w.list_actions_by_id(ctx.query())))
            }),
        )
        .route(
            "/v1/actions/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_action(path_id("action", &id)?)))
            }),
        )
        // Removed from the live API (reference `hcloud-api.md` §1.2): 410 since 2026-10-01.
        .route("/v1/pricing", get(|| async { ok(Ok(pricing::list_prices())) }))
        .route("/v1/datacenters", get(|| async { datacenters_removed() }))
        .route("/v1/datacenters/{id}", get(|| async { datacenters_removed() }));
    collections()
        .into_iter()
        .fold(router, |router, c| router.merge(c.routes()))
}

/// Every collection and the `World` method behind each operation and action it serves.
fn collections() -> Vec<Collection> {
    vec![
        Collection::new("locations", "location", World::list_locations, World::get_location),
        Collection::new(
            "server_types",
            "server_type",
            World::list_server_types,
            World::get_server_type,
        ),
        Collection::new(
            "load_balancer_types",
            "load_balancer_type",
            World::list_load_balancer_types,
            World::get_load_balancer_type,
        ),
        Collection::of::<Server>("servers")
            .create(World::create_server)
            .update(World::update_server)
            .delete_with_action(World::delete_server)
            .bodiless("poweron", World::poweron)
            .bodiless("poweroff", World::poweroff)
            .bodiless("shutdown", World::shutdown)
            .bodiless("reboot", |w, id| w.restart(id, "reboot_server"))
            .bodiless("reset", |w, id| w.restart(id, "reset_server"))
            .action("enable_rescue", World::enable_rescue)
            .bodiless("disable_rescue", World::disable_rescue)
            .action("create_image", World::create_image)
            .action("attach_to_network", World::attach_server_to_network)
            .action("detach_from_network", World::detach_server_from_network)
            .action("change_alias_ips", World::change_alias_ips)
            .action("add_to_placement_group", World::add_to_placement_group)
            .bodiless("remove_from_placement_group", World::remove_from_placement_group)
            .action("change_protection", World::change_server_protection)
            .action("change_type", World::change_server_type)
            .action("rebuild", World::rebuild_server),
        Collection::new("images", Image::KIND, World::list_images, World::get::<Image>)
            .update(World::update_image)
            .delete(World::delete_image)
            .action("change_protection", World::change_image_protection),
        Collection::of::<SshKey>("ssh_keys")
            .create(World::create_ssh_key)
            .update(World::update::<SshKey>)
            .delete(World::delete_ssh_key),
        Collection::of::<PlacementGroup>("placement_groups")
            .create(World::create_placement_group)
            .update(World::update::<PlacementGroup>)
            .delete(World::delete_placement_group),
        Collection::of::<Network>("networks")
            .create(World::create_network)
            .update(World::update_network)
            .delete(World::delete_network)
            .action("add_subnet", World::add_subnet)
            .action("delete_subnet", World::delete_subnet)
            .action("add_route", World::add_route)
            .action("delete_route", World::delete_route)
            .action("change_ip_range", World::change_ip_range)
            .action("change_protection", World::change_delete_protection::<Network>),
        Collection::of::<Firewall>("firewalls")
            .create(World::create_firewall)
            .update(World::update::<Firewall>)
            .delete(World::delete_firewall)
            .action("set_rules", World::set_firewall_rules)
            .action("apply_to_resources", World::apply_firewall_to_resources)
            .action("remove_from_resources", World::remove_firewall_from_resources),
        Collection::of::<FloatingIp>("floating_ips")
            .create(World::create_floating_ip)
            .update(World::update_floating_ip)
            .delete(World::delete_floating_ip)
            .action("assign", World::assign_floating_ip)
            .bodiless("unassign", World::unassign_floating_ip)
            .action("change_protection", World::change_delete_protection::<FloatingIp>)
            .action("change_dns_ptr", World::change_floating_ip_dns_ptr),
        Collection::of::<PrimaryIp>("primary_ips")
            .create(World::create_primary_ip)
            .update(World::update_primary_ip)
            .delete(World::delete_primary_ip)
            .action("assign", World::assign_primary_ip)
            .bodiless("unassign", World::unassign_primary_ip)
            .action("change_protection", World::change_delete_protection::<PrimaryIp>)
            .action("change_dns_ptr", World::change_primary_ip_dns_ptr),
        // The live API answers DELETE with a `delete_load_balancer` action (see the method).
        Collection::of::<LoadBalancer>("load_balancers")
            .create(World::create_load_balancer)
            .update(World::update::<LoadBalancer>)
            .delete_with_action(World::delete_load_balancer)
            .action("add_service", World::add_service)
            .action("update_service", World::update_service)
            .action("delete_service", World::delete_service)
            .action("add_target", World::add_target)
            .action("remove_target", World::remove_target)
            .action("attach_to_network", World::attach_load_balancer_to_network)
            .action("detach_from_network", World::detach_load_balancer_from_network)
            .action("change_algorithm", World::change_algorithm)
            .action("change_type", World::change_load_balancer_type)
            .action("change_protection", World::change_delete_protection::<LoadBalancer>)
            .bodiless("enable_public_interface", |w, id| w.set_public_interface(id, true))
            .bodiless("disable_public_interface", |w, id| w.set_public_interface(id, false)),
    ]
}

/// One action: parses the body and calls its `World` method.
type ActionHandler = Box<dyn Fn(&mut World, u64, &[u8]) -> Result<Value> + Send + Sync>;

/// One collection's routes, built up operation by operation: `GET /v1/{plural}` and
/// `GET /v1/{plural}/{id}` always, the rest as the collection serves them.
struct Collection {
    plural: &'static str,
    /// Names the path ID in 404s and the resource type of the collection's actions.
    kind: &'static str,
    get_one: fn(&World, u64) -> Result<Value>,
    items: MethodRouter<App>,
    item: MethodRouter<App>,
    actions: Vec<(&'static str, ActionHandler)>,
}

impl Collection {
    /// A collection served by `list` and `get_one`; `kind` names its path IDs.
    fn new(
        plural: &'static str,
        kind: &'static str,
        list: fn(&World, &Query) -> Result<Page>,
        get_one: fn(&World, u64) -> Result<Value>,
    ) -> Self {
        Collection {
            plural,
            kind,
            get_one,
            items: get(move |State(app): State<App>, ctx: ListContext| async move {
                listed(plural, &ctx, app.with_world(|w| list(w, ctx.query())))
            }),
            item: get(move |State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| get_one(w, path_id(kind, &id)?)))
            }),
            actions: Vec::new(),
        }
    }

    /// A resource family, listed and fetched by the generic [`World::list`] and
    /// [`World::get`].
    fn of<T: Resource>(plural: &'static str) -> Self {
        Collection::new(plural, T::KIND, World::list::<T>, World::get::<T>)
    }

    /// `POST /v1/{plural}`: 201.
    fn create<R: DeserializeOwned + 'static>(mut self, create: fn(&mut World, R) -> Result<Value>) -> Self {
        self.items = self.items.post(move |State(app): State<App>, body: Bytes| async move {
            created(app.with_world(|w| create(w, parse_body(&body)?)))
        });
        self
    }

    /// `PUT /v1/{plural}/{id}`: 200.
    fn update<R: DeserializeOwned + 'static>(mut self, update: fn(&mut World, u64, R) -> Result<Value>) -> Self {
        let kind = self.kind;
        self.item = self.item.put(
            move |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                ok(app.with_world(|w| update(w, path_id(kind, &id)?, parse_body(&body)?)))
            },
        );
        self
    }

    /// `DELETE /v1/{plural}/{id}`: 204.
    fn delete(mut self, delete: fn(&mut World, u64) -> Result<()>) -> Self {
        let kind = self.kind;
        self.item = self
            .item
            .delete(move |State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| delete(w, path_id(kind, &id)?)))
            });
        self
    }

    /// `DELETE /v1/{plural}/{id}`: 200 with the action that deletes.
    fn delete_with_action(mut self, delete: fn(&mut World, u64) -> Result<Value>) -> Self {
        let kind = self.kind;
        self.item = self
            .item
            .delete(move |State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| delete(w, path_id(kind, &id)?)))
            });
        self
    }

    /// `POST /v1/{plural}/{id}/actions/{name}` with a request body: 201.
    fn action<R: DeserializeOwned + 'static>(
        mut self,
        name: &'static str,
        call: fn(&mut World, u64, R) -> Result<Value>,
    ) -> Self {
        let handler = move |w: &mut World, id: u64, body: &[u8]| call(w, id, parse_body(body)?);
        self.actions.push((name, Box::new(handler)));
        self
    }

    /// `POST /v1/{plural}/{id}/actions/{name}` without a body (only `{}` is accepted): 201.
    fn bodiless(mut self, name: &'static str, call: fn(&mut World, u64) -> Result<Value>) -> Self {
        let handler = move |w: &mut World, id: u64, body: &[u8]| {
            parse_body::<NoBody>(body)?;
            call(w, id)
        };
        self.actions.push((name, Box::new(handler)));
        self
    }

    fn routes(self) -> Router<App> {
        let router = Router::new()
            .route(&format!("/v1/{}", self.plural), self.items)
            .route(&format!("/v1/{}/{{id}}", self.plural), self.item);
        if self.actions.is_empty() {
            return router;
        }
        router.merge(action_routes(
            self.kind,
            self.plural,
            self.get_one,
            Arc::new(self.actions),
        ))
    }
}

/// `GET /{plural}/actions`, `/{plural}/actions/{id}`, `/{plural}/{id}/actions`,
/// `/{plural}/{id}/actions/{action_id}` and `POST /{plural}/{id}/actions/{name}` (names
/// not in `actions` answer `not_implemented`); `get_one` answers 404 for a resource that
/// does not exist.
fn action_routes(
    kind: &'static str,
    plural: &'static str,
    get_one: fn(&World, u64) -> Result<Value>,
    actions: Arc<Vec<(&'static str, ActionHandler)>>,
) -> Router<App> {
    Router::new()
        .route(
            &format!("/v1/{plural}/actions"),
            get(move |State(app): State<App>, ctx: ListContext| async move {
                listed(
                    "actions",
                    &ctx,
                    app.with_world(|w| w.list_resource_actions(kind, None, ctx.query())),
                )
            }),
        )
        .route(
            &format!("/v1/{plural}/actions/{{id}}"),
            get(move |State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_resource_action(kind, None, path_id("action", &id)?)))
            }),
        )
        .route(
            &format!("/v1/{plural}/{{id}}/actions"),
            get(
                move |State(app): State<App>, Path(id): Path<String>, ctx: ListContext| async move {
                    listed(
                        "actions",
                        &ctx,
                        app.with_world(|w| {
                            let id = path_id(kind, &id)?;
                            get_one(w, id)?;
                            w.list_resource_actions(kind, Some(id), ctx.query())
                        }),
                    )
                },
            ),
        )
        .route(
            &format!("/v1/{plural}/{{id}}/actions/{{action}}"),
            get(
                move |State(app): State<App>, Path((id, action)): Path<(String, String)>| async move {
                    ok(app.with_world(|w| {
                        w.get_resource_action(kind, Some(path_id(kind, &id)?), path_id("action", &action)?)
                    }))
                },
            )
            .post(
                move |State(app): State<App>,
                      Path((id, action)): Path<(String, String)>,
                      uri: axum::http::Uri,
                      body: Bytes| async move {
                    let result: Result<Reply> = app.with_world(|w| {
                        let id = path_id(kind, &id)?;
                        match actions.iter().find(|(name, _)| *name == action) {
                            Some((_, call)) => created(call(w, id, &body)),
                            None => Err(not_implemented(&Method::POST, uri.path())),
                        }
                    });
                    result
                },
            ),
        )
}

/// `GET /datacenters`: the live API answers 410 `deprecated_api_endpoint` since 2026-10-01
/// (Hetzner changelog "removing datacenters"; hcloud-go v2.44.0). Use `locations`.
fn datacenters_removed() -> ApiError {
    let mut error = ApiError::new(
        410,
        "deprecated_api_endpoint",
        "datacenters have been removed from the API; use locations instead",
    );
    error.details = Box::new(serde_json::json!({
        "announcement": "https://docs.hetzner.cloud/changelog#2026-07-01-removing-datacenters"
    }));
    error
}
