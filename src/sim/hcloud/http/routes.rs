//! The API routes. The standard operations of every collection (list, create, get,
//! update, delete) are registered from one table, [`collections`]: a row names the `World`
//! method behind each operation the collection serves, and the handlers around them only
//! extract the path ID or body, call that method and pick the status. Resource actions
//! (`POST /{kind}s/{id}/actions/{name}`) dispatch on the action name; names the emulator
//! does not serve answer `not_implemented`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{MethodRouter, get};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::super::error::ApiError;
use super::super::pagination::{Page, Query};
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
        .route("/v1/datacenters", get(|| async { datacenters_removed() }))
        .route("/v1/datacenters/{id}", get(|| async { datacenters_removed() }));
    collections()
        .into_iter()
        .fold(router, |router, c| router.merge(c.routes()))
}

/// Every collection and the `World` method behind each operation it serves.
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
            .actions(server_action),
        Collection::new("images", Image::KIND, World::list_images, World::get::<Image>)
            .update(World::update_image)
            .delete(World::delete_image)
            .actions(image_action),
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
            .actions(network_action),
        Collection::of::<Firewall>("firewalls")
            .create(World::create_firewall)
            .update(World::update::<Firewall>)
            .delete(World::delete_firewall)
            .actions(firewall_action),
        Collection::of::<FloatingIp>("floating_ips")
            .create(World::create_floating_ip)
            .update(World::update_floating_ip)
            .delete(World::delete_floating_ip)
            .actions(floating_ip_action),
        Collection::of::<PrimaryIp>("primary_ips")
            .create(World::create_primary_ip)
            .update(World::update_primary_ip)
            .delete(World::delete_primary_ip)
            .actions(primary_ip_action),
        // The live API answers with a `delete_load_balancer` action (see the method).
        Collection::of::<LoadBalancer>("load_balancers")
            .create(World::create_load_balancer)
            .update(World::update::<LoadBalancer>)
            .delete_with_action(World::delete_load_balancer)
            .actions(load_balancer_action),
    ]
}

/// A family's action dispatcher: (world, resource ID, action name, body) → answer, or
/// `None` when the emulator does not serve that action.
type Dispatch = fn(&mut World, u64, &str, &[u8]) -> Option<Result<Value>>;

/// One collection's routes, built up operation by operation: `GET /v1/{plural}` and
/// `GET /v1/{plural}/{id}` always, the rest as the collection serves them.
struct Collection {
    plural: &'static str,
    /// Names the path ID in 404s and the resource type of the collection's actions.
    kind: &'static str,
    get_one: fn(&World, u64) -> Result<Value>,
    items: MethodRouter<App>,
    item: MethodRouter<App>,
    actions: Option<Dispatch>,
}

impl Collection {
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
            actions: None,
        }
    }

    /// A resource family with the generic list and get.
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

    /// The action routes, dispatching by name.
    fn actions(mut self, dispatch: Dispatch) -> Self {
        self.actions = Some(dispatch);
        self
    }

    fn routes(self) -> Router<App> {
        let router = Router::new()
            .route(&format!("/v1/{}", self.plural), self.items)
            .route(&format!("/v1/{}/{{id}}", self.plural), self.item);
        match self.actions {
            Some(dispatch) => router.merge(action_routes(self.kind, self.plural, self.get_one, dispatch)),
            None => router,
        }
    }
}

/// `GET /{plural}/actions`, `/{plural}/actions/{id}`, `/{plural}/{id}/actions`,
/// `/{plural}/{id}/actions/{action_id}` and `POST /{plural}/{id}/actions/{name}`;
/// `get_one` answers 404 for a resource that does not exist.
fn action_routes(
    kind: &'static str,
    plural: &'static str,
    get_one: fn(&World, u64) -> Result<Value>,
    dispatch: Dispatch,
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
                        match dispatch(w, id, &action, &body) {
                            Some(result) => created(result),
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

fn none(body: &[u8]) -> Result<()> {
    parse_body::<NoBody>(body).map(|_| ())
}

fn server_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "poweron" => none(body).and_then(|()| w.poweron(id)),
        "poweroff" => none(body).and_then(|()| w.poweroff(id)),
        "shutdown" => none(body).and_then(|()| w.shutdown(id)),
        "reboot" => none(body).and_then(|()| w.restart(id, "reboot_server")),
        "reset" => none(body).and_then(|()| w.restart(id, "reset_server")),
        "enable_rescue" => parse_body(body).and_then(|r| w.enable_rescue(id, r)),
        "disable_rescue" => none(body).and_then(|()| w.disable_rescue(id)),
        "create_image" => parse_body(body).and_then(|r| w.create_image(id, r)),
        "attach_to_network" => parse_body(body).and_then(|r| w.attach_server_to_network(id, r)),
        "detach_from_network" => parse_body(body).and_then(|r| w.detach_server_from_network(id, r)),
        "add_to_placement_group" => parse_body(body).and_then(|r| w.add_to_placement_group(id, r)),
        "remove_from_placement_group" => none(body).and_then(|()| w.remove_from_placement_group(id)),
        "change_protection" => parse_body(body).and_then(|r| w.change_server_protection(id, r)),
        "change_type" => parse_body(body).and_then(|r| w.change_server_type(id, r)),
        "rebuild" => parse_body(body).and_then(|r| w.rebuild_server(id, r)),
        _ => return None,
    })
}

fn image_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "change_protection" => parse_body(body).and_then(|r| w.change_image_protection(id, r)),
        _ => return None,
    })
}

fn network_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "add_subnet" => parse_body(body).and_then(|r| w.add_subnet(id, r)),
        "delete_subnet" => parse_body(body).and_then(|r| w.delete_subnet(id, r)),
        "add_route" => parse_body(body).and_then(|r| w.add_route(id, r)),
        "delete_route" => parse_body(body).and_then(|r| w.delete_route(id, r)),
        "change_ip_range" => parse_body(body).and_then(|r| w.change_ip_range(id, r)),
        "change_protection" => parse_body(body).and_then(|r| w.change_delete_protection::<Network>(id, r)),
        _ => return None,
    })
}

fn firewall_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "set_rules" => parse_body(body).and_then(|r| w.set_firewall_rules(id, r)),
        "apply_to_resources" => parse_body(body).and_then(|r| w.apply_firewall_to_resources(id, r)),
        "remove_from_resources" => parse_body(body).and_then(|r| w.remove_firewall_from_resources(id, r)),
        _ => return None,
    })
}

fn floating_ip_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "assign" => parse_body(body).and_then(|r| w.assign_floating_ip(id, r)),
        "unassign" => none(body).and_then(|()| w.unassign_floating_ip(id)),
        "change_protection" => parse_body(body).and_then(|r| w.change_delete_protection::<FloatingIp>(id, r)),
        "change_dns_ptr" => parse_body(body).and_then(|r| w.change_floating_ip_dns_ptr(id, r)),
        _ => return None,
    })
}

fn primary_ip_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "assign" => parse_body(body).and_then(|r| w.assign_primary_ip(id, r)),
        "unassign" => none(body).and_then(|()| w.unassign_primary_ip(id)),
        "change_protection" => parse_body(body).and_then(|r| w.change_delete_protection::<PrimaryIp>(id, r)),
        "change_dns_ptr" => parse_body(body).and_then(|r| w.change_primary_ip_dns_ptr(id, r)),
        _ => return None,
    })
}

fn load_balancer_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "add_service" => parse_body(body).and_then(|r| w.add_service(id, r)),
        "update_service" => parse_body(body).and_then(|r| w.update_service(id, r)),
        "delete_service" => parse_body(body).and_then(|r| w.delete_service(id, r)),
        "add_target" => parse_body(body).and_then(|r| w.add_target(id, r)),
        "remove_target" => parse_body(body).and_then(|r| w.remove_target(id, r)),
        "attach_to_network" => parse_body(body).and_then(|r| w.attach_load_balancer_to_network(id, r)),
        "detach_from_network" => parse_body(body).and_then(|r| w.detach_load_balancer_from_network(id, r)),
        "change_algorithm" => parse_body(body).and_then(|r| w.change_algorithm(id, r)),
        "change_type" => parse_body(body).and_then(|r| w.change_load_balancer_type(id, r)),
        "change_protection" => parse_body(body).and_then(|r| w.change_delete_protection::<LoadBalancer>(id, r)),
        "enable_public_interface" => none(body).and_then(|()| w.set_public_interface(id, true)),
        "disable_public_interface" => none(body).and_then(|()| w.set_public_interface(id, false)),
        _ => return None,
    })
}
