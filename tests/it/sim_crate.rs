//! The `hcloud` crate (0.26, generated and strict: a missing required key or an unknown
//! enum value fails) reads what the emulator answers, for every resource family the tool
//! uses. Create calls go through the crate where its request models are simple; the other
//! create answers are decoded into the crate's response models directly.

use hcloud::apis::configuration::Configuration;
use hcloud::apis::{
    actions_api, firewalls_api, floating_ips_api, images_api, load_balancers_api, locations_api, networks_api,
    placement_groups_api, server_types_api, servers_api, ssh_keys_api,
};
use hcloud::models;
use serde_json::json;

use crate::sim_common::{Api, ssh_public_key};

fn configuration(api: &Api) -> Configuration {
    let mut configuration = Configuration::new();
    configuration
        .base_path_mapping
        .insert("https://api.hetzner.cloud/v1".to_string(), api.sim.endpoint());
    configuration.bearer_access_token = Some(api.sim.token().to_string());
    configuration
}

#[tokio::test]
async fn servers_images_actions_and_ssh_keys() {
    let api = Api::start().await;
    let config = configuration(&api);

    let key = ssh_keys_api::create_ssh_key(
        &config,
        ssh_keys_api::CreateSshKeyParams {
            create_ssh_key_request: models::CreateSshKeyRequest::new("k".into(), ssh_public_key(5)),
        },
    )
    .await
    .expect("create_ssh_key decodes");
    let keys = ssh_keys_api::list_ssh_keys(&config, ssh_keys_api::ListSshKeysParams::default())
        .await
        .expect("list_ssh_keys decodes");
    assert_eq!(keys.ssh_keys[0].id, key.ssh_key.id);

    let mut request = models::CreateServerRequest::new("ubuntu-24.04".into(), "s1".into(), "cax11".into());
    request.location = Some("fsn1".into());
    request.ssh_keys = Some(vec![key.ssh_key.id.to_string()]);
    request.start_after_create = Some(false);
    request.labels = Some([("talos-hcloud/role".to_string(), "builder".to_string())].into());
    let created = servers_api::create_server(
        &config,
        servers_api::CreateServerParams {
            create_server_request: request,
        },
    )
    .await
    .expect("create_server decodes");
    assert_eq!(created.server.status, models::server::Status::Initializing);
    assert!(created.root_password.is_none());
    let server_id = created.server.id;
    api.finish(&json!({"id": created.action.id})).await;

    let server = servers_api::get_server(&config, servers_api::GetServerParams { id: server_id })
        .await
        .expect("get_server decodes");
    assert_eq!(
        server.server.as_ref().map(|s| s.status),
        Some(models::server::Status::Off)
    );
    let listed = servers_api::list_servers(
        &config,
        servers_api::ListServersParams {
            label_selector: Some("talos-hcloud/role=builder".into()),
            ..Default::default()
        },
    )
    .await
    .expect("list_servers decodes");
    assert_eq!(listed.servers.len(), 1);
    assert_eq!(listed.meta.pagination.total_entries, Some(1));

    let rescue = servers_api::enable_rescue_mode_for_server(
        &config,
        servers_api::EnableRescueModeForServerParams {
            id: server_id,
            enable_rescue_mode_for_server_request: models::EnableRescueModeForServerRequest::new(),
        },
    )
    .await
    .expect("enable_rescue decodes");
    assert!(rescue.root_password.is_some());
    let rescue_action = rescue.action.expect("an action");
    api.finish(&json!({"id": rescue_action.id})).await;
    let on = servers_api::power_on_server(&config, servers_api::PowerOnServerParams { id: server_id })
        .await
        .expect("poweron decodes");
    api.finish(&json!({"id": on.action.id})).await;
    api.sim.guest_shutdown(server_id as u64).unwrap();

    let mut image_request = models::CreateImageFromServerRequest::new();
    image_request.description = Some("talos".into());
    image_request.labels = Some([("os".to_string(), "talos".to_string())].into());
    let image = servers_api::create_image_from_server(
        &config,
        servers_api::CreateImageFromServerParams {
            id: server_id,
            create_image_from_server_request: image_request,
        },
    )
    .await
    .expect("create_image decodes");
    let image_action = image.action.expect("an action");
    let batched = actions_api::get_multiple_actions(
        &config,
        actions_api::GetMultipleActionsParams {
            id: vec![image_action.id, rescue_action.id],
        },
    )
    .await
    .expect("get_multiple_actions decodes");
    assert_eq!(batched.actions.len(), 2);
    api.finish(&json!({"id": image_action.id})).await;
    let action = actions_api::get_action(&config, actions_api::GetActionParams { id: image_action.id })
        .await
        .expect("get_action decodes");
    assert_eq!(action.action.status, models::action::Status::Success);

    let images = images_api::list_images(
        &config,
        images_api::ListImagesParams {
            r#type: Some(vec!["snapshot".into()]),
            label_selector: Some("os=talos".into()),
            ..Default::default()
        },
    )
    .await
    .expect("list_images decodes");
    assert_eq!(images.images.len(), 1);
    let system = images_api::list_images(&config, images_api::ListImagesParams::default())
        .await
        .expect("list_images of system images decodes");
    assert!(system.images.len() > 4);
    let one = images_api::get_image(
        &config,
        images_api::GetImageParams {
            id: images.images[0].id,
        },
    )
    .await
    .expect("get_image decodes");
    assert_eq!(one.image.map(|i| i.status), Some(models::image::Status::Available));

    let deleted = servers_api::delete_server(&config, servers_api::DeleteServerParams { id: server_id })
        .await
        .expect("delete_server decodes");
    assert!(deleted.action.is_some());
    servers_api::list_actions_for_server(
        &config,
        servers_api::ListActionsForServerParams {
            id: server_id,
            ..Default::default()
        },
    )
    .await
    .expect("list_actions_for_server decodes");
    locations_api::list_locations(&config, locations_api::ListLocationsParams::default())
        .await
        .expect("list_locations decodes");
    server_types_api::list_server_types(&config, server_types_api::ListServerTypesParams::default())
        .await
        .expect("list_server_types decodes");
}

#[tokio::test]
async fn networks_firewalls_floating_ips_placement_groups_load_balancers() {
    let api = Api::start().await;
    let config = configuration(&api);

    let mut network = models::CreateNetworkRequest::new("10.0.0.0/16".into(), "net".into());
    let mut subnet = models::Subnet::new("eu-central".into(), models::subnet::Type::Cloud);
    subnet.ip_range = Some("10.0.1.0/24".into());
    network.subnets = Some(vec![subnet]);
    let network = networks_api::create_network(
        &config,
        networks_api::CreateNetworkParams {
            create_network_request: network,
        },
    )
    .await
    .expect("create_network decodes");
    let net = network.network.expect("a network").id;
    networks_api::get_network(&config, networks_api::GetNetworkParams { id: net })
        .await
        .expect("get_network decodes");
    networks_api::list_networks(&config, networks_api::ListNetworksParams::default())
        .await
        .expect("list_networks decodes");

    let group = placement_groups_api::create_placementgroup(
        &config,
        placement_groups_api::CreatePlacementgroupParams {
            create_placementgroup_request: models::CreatePlacementgroupRequest::new(
                "cp".into(),
                models::create_placementgroup_request::Type::Spread,
            ),
        },
    )
    .await
    .expect("create_placementgroup decodes");
    let group_id = group.placement_group.id;

    let server = api
        .server(
            "cp-1",
            json!({"labels": {"role": "cp"}, "networks": [net], "placement_group": group_id}),
        )
        .await;
    let server_id = server["server"]["id"].as_i64().unwrap();
    let decoded: models::GetServerResponse = serde_json::from_value(json!({"server": server["server"]})).unwrap();
    assert!(decoded.server.is_some());
    placement_groups_api::get_placementgroup(&config, placement_groups_api::GetPlacementgroupParams { id: group_id })
        .await
        .expect("get_placementgroup decodes");
    placement_groups_api::list_placement_groups(&config, placement_groups_api::ListPlacementGroupsParams::default())
        .await
        .expect("list_placement_groups decodes");

    let firewall = api
        .create(
            "/firewalls",
            json!({
                "name": "fw",
                "rules": [{"direction": "in", "protocol": "tcp", "port": "6443", "source_ips": ["0.0.0.0/0"]}],
                "apply_to": [{"type": "label_selector", "label_selector": {"selector": "role=cp"}}, {"type": "server", "server": {"id": server_id}}],
            }),
        )
        .await;
    let _: models::CreateFirewallResponse =
        serde_json::from_value(firewall.clone()).expect("create_firewall response decodes");
    let fw_id = firewall["firewall"]["id"].as_i64().unwrap();
    firewalls_api::get_firewall(&config, firewalls_api::GetFirewallParams { id: fw_id })
        .await
        .expect("get_firewall decodes");
    firewalls_api::list_firewalls(&config, firewalls_api::ListFirewallsParams::default())
        .await
        .expect("list_firewalls decodes");

    let mut fip = models::CreateFloatingIpRequest::new(models::IpType::Ipv4);
    fip.home_location = Some("fsn1".into());
    let fip = floating_ips_api::create_floating_ip(
        &config,
        floating_ips_api::CreateFloatingIpParams {
            create_floating_ip_request: fip,
        },
    )
    .await
    .expect("create_floating_ip decodes");
    let fip_id = fip.floating_ip.id;
    let assigned = floating_ips_api::assign_floating_ip_to_server(
        &config,
        floating_ips_api::AssignFloatingIpToServerParams {
            id: fip_id,
            assign_floating_ip_to_server_request: models::AssignFloatingIpToServerRequest::new(Some(server_id)),
        },
    )
    .await
    .expect("assign decodes");
    api.finish(&json!({"id": assigned.action.id})).await;
    let got = floating_ips_api::get_floating_ip(&config, floating_ips_api::GetFloatingIpParams { id: fip_id })
        .await
        .expect("get_floating_ip decodes");
    assert_eq!(got.floating_ip.server, Some(server_id));
    floating_ips_api::list_floating_ips(&config, floating_ips_api::ListFloatingIpsParams::default())
        .await
        .expect("list_floating_ips decodes");

    let lb = api
        .create(
            "/load_balancers",
            json!({
                "name": "api", "load_balancer_type": "lb11", "location": "fsn1", "network": net,
                "services": [
                    {"protocol": "tcp", "listen_port": 6443, "destination_port": 6443, "proxyprotocol": false,
                     "health_check": {"protocol": "tcp", "port": 6443, "interval": 15, "timeout": 10, "retries": 3}},
                    {"protocol": "http", "listen_port": 80, "destination_port": 80, "proxyprotocol": false,
                     "health_check": {"protocol": "http", "port": 80, "interval": 15, "timeout": 10, "retries": 3, "http": {"domain": null, "path": "/"}}}
                ],
                "targets": [
                    {"type": "label_selector", "label_selector": {"selector": "role=cp"}, "use_private_ip": true},
                    {"type": "ip", "ip": {"ip": "203.0.113.9"}}
                ],
            }),
        )
        .await;
    let _: models::CreateLoadBalancerResponse =
        serde_json::from_value(lb.clone()).expect("create_load_balancer response decodes");
    let lb_id = lb["load_balancer"]["id"].as_i64().unwrap();
    load_balancers_api::get_load_balancer(&config, load_balancers_api::GetLoadBalancerParams { id: lb_id })
        .await
        .expect("get_load_balancer decodes");
    load_balancers_api::list_load_balancers(&config, load_balancers_api::ListLoadBalancersParams::default())
        .await
        .expect("list_load_balancers decodes");
    let service = models::LoadBalancerService::new(
        50000,
        models::LoadBalancerServiceHealthCheck::new(
            15,
            50000,
            models::load_balancer_service_health_check::Protocol::Tcp,
            3,
            10,
        ),
        50000,
        models::load_balancer_service::Protocol::Tcp,
        false,
    );
    api.finish(&lb["action"]).await;
    let added = load_balancers_api::add_service(
        &config,
        load_balancers_api::AddServiceParams {
            id: lb_id,
            load_balancer_service: service,
        },
    )
    .await
    .expect("add_service decodes");
    assert_eq!(added.action.command, "add_service");
}
