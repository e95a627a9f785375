//! The API routes: one line per operation, each extracting its inputs and calling one
//! `World` method. Resource actions (`POST /{kind}/{id}/actions/{name}`) dispatch on the
//! action name; names the emulator does not serve answer `not_implemented`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::get;
use serde_json::Value;

use super::super::error::ApiError;
use super::super::state::World;
use super::super::state::servers::NoBody;
use super::{App, ListContext, Reply, created, listed, no_content, not_implemented, ok, parse_body, path_id};

type Result<T> = std::result::Result<T, ApiError>;

/// The `/v1` API routes.
pub(super) fn routes() -> Router<App> {
    let mut router = Router::new()
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
        .route("/v1/datacenters/{id}", get(|| async { datacenters_removed() }))
        // Catalogue.
        .route(
            "/v1/locations",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("locations", &ctx, app.with_world(|w| w.list_locations(ctx.query())))
            }),
        )
        .route(
            "/v1/locations/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_location(path_id("location", &id)?)))
            }),
        )
        .route(
            "/v1/server_types",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed(
                    "server_types",
                    &ctx,
                    app.with_world(|w| w.list_server_types(ctx.query())),
                )
            }),
        )
        .route(
            "/v1/server_types/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_server_type(path_id("server_type", &id)?)))
            }),
        )
        .route(
            "/v1/load_balancer_types",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed(
                    "load_balancer_types",
                    &ctx,
                    app.with_world(|w| w.list_load_balancer_types(ctx.query())),
                )
            }),
        )
        .route(
            "/v1/load_balancer_types/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_load_balancer_type(path_id("load_balancer_type", &id)?)))
            }),
        );

    // Resource families: list/create, get/update/delete, actions.
    router = router
        .route(
            "/v1/servers",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("servers", &ctx, app.with_world(|w| w.list_servers(ctx.query())))
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_server(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/servers/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_server(path_id("server", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_server(path_id("server", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.delete_server(path_id("server", &id)?)))
            }),
        )
        .route(
            "/v1/images",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("images", &ctx, app.with_world(|w| w.list_images(ctx.query())))
            }),
        )
        .route(
            "/v1/images/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_image(path_id("image", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_image(path_id("image", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_image(path_id("image", &id)?)))
            }),
        )
        .route(
            "/v1/ssh_keys",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("ssh_keys", &ctx, app.with_world(|w| w.list_ssh_keys(ctx.query())))
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_ssh_key(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/ssh_keys/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_ssh_key(path_id("ssh_key", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_ssh_key(path_id("ssh_key", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_ssh_key(path_id("ssh_key", &id)?)))
            }),
        )
        .route(
            "/v1/placement_groups",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed(
                    "placement_groups",
                    &ctx,
                    app.with_world(|w| w.list_placement_groups(ctx.query())),
                )
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_placement_group(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/placement_groups/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_placement_group(path_id("placement_group", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app
                        .with_world(|w| w.update_placement_group(path_id("placement_group", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_placement_group(path_id("placement_group", &id)?)))
            }),
        )
        .route(
            "/v1/networks",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("networks", &ctx, app.with_world(|w| w.list_networks(ctx.query())))
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_network(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/networks/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_network(path_id("network", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_network(path_id("network", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_network(path_id("network", &id)?)))
            }),
        )
        .route(
            "/v1/firewalls",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("firewalls", &ctx, app.with_world(|w| w.list_firewalls(ctx.query())))
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_firewall(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/firewalls/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_firewall(path_id("firewall", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_firewall(path_id("firewall", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_firewall(path_id("firewall", &id)?)))
            }),
        )
        .route(
            "/v1/floating_ips",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed(
                    "floating_ips",
                    &ctx,
                    app.with_world(|w| w.list_floating_ips(ctx.query())),
                )
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_floating_ip(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/floating_ips/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_floating_ip(path_id("floating_ip", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_floating_ip(path_id("floating_ip", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_floating_ip(path_id("floating_ip", &id)?)))
            }),
        )
        .route(
            "/v1/primary_ips",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed("primary_ips", &ctx, app.with_world(|w| w.list_primary_ips(ctx.query())))
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_primary_ip(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/primary_ips/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_primary_ip(path_id("primary_ip", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_primary_ip(path_id("primary_ip", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                no_content(app.with_world(|w| w.delete_primary_ip(path_id("primary_ip", &id)?)))
            }),
        )
        .route(
            "/v1/load_balancers",
            get(|State(app): State<App>, ctx: ListContext| async move {
                listed(
                    "load_balancers",
                    &ctx,
                    app.with_world(|w| w.list_load_balancers(ctx.query())),
                )
            })
            .post(|State(app): State<App>, body: Bytes| async move {
                created(app.with_world(|w| w.create_load_balancer(parse_body(&body)?)))
            }),
        )
        .route(
            "/v1/load_balancers/{id}",
            get(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.get_load_balancer(path_id("load_balancer", &id)?)))
            })
            .put(
                |State(app): State<App>, Path(id): Path<String>, body: Bytes| async move {
                    ok(app.with_world(|w| w.update_load_balancer(path_id("load_balancer", &id)?, parse_body(&body)?)))
                },
            )
            .delete(|State(app): State<App>, Path(id): Path<String>| async move {
                ok(app.with_world(|w| w.delete_load_balancer(path_id("load_balancer", &id)?)))
            }),
        );

    for (kind, plural, dispatch) in FAMILIES {
        router = router.merge(action_routes(kind, plural, *dispatch));
    }
    router
}

/// A family's action dispatcher: (world, resource ID, action name, body) → answer, or
/// `None` when the emulator does not serve that action.
type Dispatch = fn(&mut World, u64, &str, &[u8]) -> Option<Result<Value>>;

const FAMILIES: &[(&str, &str, Dispatch)] = &[
    ("server", "servers", server_action),
    ("image", "images", image_action),
    ("network", "networks", network_action),
    ("firewall", "firewalls", firewall_action),
    ("floating_ip", "floating_ips", floating_ip_action),
    ("primary_ip", "primary_ips", primary_ip_action),
    ("load_balancer", "load_balancers", load_balancer_action),
];

/// `GET /{plural}/actions`, `/{plural}/actions/{id}`, `/{plural}/{id}/actions`,
/// `/{plural}/{id}/actions/{action_id}` and `POST /{plural}/{id}/actions/{name}`.
fn action_routes(kind: &'static str, plural: &'static str, dispatch: Dispatch) -> Router<App> {
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
                            if !w.exists(kind, id) {
                                return Err(ApiError::not_found(kind, id));
                            }
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
        "change_protection" => parse_body(body).and_then(|r| w.change_network_protection(id, r)),
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
        "change_protection" => parse_body(body).and_then(|r| w.change_floating_ip_protection(id, r)),
        "change_dns_ptr" => parse_body(body).and_then(|r| w.change_floating_ip_dns_ptr(id, r)),
        _ => return None,
    })
}

fn primary_ip_action(w: &mut World, id: u64, action: &str, body: &[u8]) -> Option<Result<Value>> {
    Some(match action {
        "assign" => parse_body(body).and_then(|r| w.assign_primary_ip(id, r)),
        "unassign" => none(body).and_then(|()| w.unassign_primary_ip(id)),
        "change_protection" => parse_body(body).and_then(|r| w.change_primary_ip_protection(id, r)),
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
        "change_protection" => parse_body(body).and_then(|r| w.change_load_balancer_protection(id, r)),
        "enable_public_interface" => none(body).and_then(|()| w.set_public_interface(id, true)),
        "disable_public_interface" => none(body).and_then(|()| w.set_public_interface(id, false)),
        _ => return None,
    })
}
