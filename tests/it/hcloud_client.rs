//! The product's Hetzner client (`talos_hcloud::hcloud`) against the emulator over real
//! HTTP: the image-build workflow, seeded faults (429, 5xx, `locked`, `conflict`, a dropped
//! connection right after a create), the rate-limit budget, batched action polling, and
//! the token staying out of every error.

use std::time::Duration;

use talos_hcloud::hcloud::labels::{self, Labels, Selector};
use talos_hcloud::hcloud::{
    ActionId, Availability, Client, ClientOptions, CreateServer, Credentials, Endpoint, Error, ErrorCode, ImageType,
    ServerId, Token,
};
use talos_hcloud::retry::Policy;
use talos_hcloud::sim::{RequestRecord, SimConfig};

use crate::sim_common::{Api, ssh_public_key};

/// Fast policies for the emulator: the same shapes, millisecond delays.
pub(crate) fn options() -> ClientOptions {
    ClientOptions {
        retry: Policy::api_call().with_delays(Duration::from_millis(2), Duration::from_millis(20)),
        action_poll: Policy::action_poll()
            .with_delays(Duration::from_millis(5), Duration::from_millis(20))
            .with_deadline(Duration::from_secs(30)),
        request_timeout: Duration::from_secs(10),
    }
}

fn client_with_token(api: &Api, token: &str) -> Client {
    client_with_options(api, token, options())
}

fn client_with_options(api: &Api, token: &str, options: ClientOptions) -> Client {
    let credentials = Credentials {
        token: Token::new(token).expect("a token"),
        endpoint: Endpoint::parse(&api.sim.endpoint()).expect("the emulator's endpoint"),
    };
    Client::with_options(credentials, options).expect("a client")
}

pub fn client(api: &Api) -> Client {
    client_with_token(api, api.sim.token())
}

fn requests<'a>(log: &'a [RequestRecord], method: &str, path: &str) -> Vec<&'a RequestRecord> {
    log.iter().filter(|r| r.method == method && r.path == path).collect()
}

fn builder_spec(name: &str) -> CreateServer {
    let mut spec = CreateServer::new(name, "cax11", "ubuntu-24.04", Labels::builder("prod").unwrap());
    spec.location = Some("fsn1".into());
    spec
}

/// The whole snapshot-build sequence image build will run, through the client only.
#[tokio::test]
async fn the_image_build_workflow_through_the_client() {
    let api = Api::start().await;
    let hc = client(&api);
    assert_eq!(
        hc.server_type_availability("cax11", "fsn1").await.unwrap(),
        Availability::Available
    );
    assert_eq!(
        hc.server_type_availability("cax99", "fsn1").await.unwrap(),
        Availability::UnknownType
    );
    assert!(hc.list_locations().await.unwrap().iter().any(|l| l.name == "fsn1"));
    assert!(
        hc.list_server_types()
            .await
            .unwrap()
            .iter()
            .any(|t| t.architecture == "arm")
    );

    let temporary = Labels::builder("prod").unwrap();
    let key = hc
        .create_ssh_key("tc-prod-builder-arm64", &ssh_public_key(1), &temporary)
        .await
        .unwrap();
    let key_id = talos_hcloud::hcloud::SshKeyId::new(key.id);
    let mut spec = builder_spec("tc-prod-builder-arm64");
    spec.ssh_keys = vec![key_id];
    let created = hc.create_server(&spec).await.unwrap();
    assert_eq!(created.server.name, "tc-prod-builder-arm64");
    assert_eq!(created.server.labels, temporary.to_map());
    assert!(created.action.is_some());
    let id = created.id();
    hc.wait_for_actions("creating server tc-prod-builder-arm64", &created.action_ids())
        .await
        .unwrap();
    let off = hc.get_server(id).await.unwrap().expect("the server exists");
    assert_eq!(off.status, hcloud::models::server::Status::Off, "created not started");

    let rescue = hc.enable_rescue(id, &[key_id]).await.unwrap();
    if let Some(password) = &rescue.root_password {
        assert_eq!(format!("{password:?}"), "***");
    }
    hc.wait_for_action("enabling rescue", ActionId::new(rescue.action.id))
        .await
        .unwrap();
    let on = hc.poweron_server(id).await.unwrap();
    hc.wait_for_action("powering on", ActionId::new(on.id)).await.unwrap();
    let running = hc.get_server(id).await.unwrap().unwrap();
    assert_eq!(running.status, hcloud::models::server::Status::Running);

    let off = hc.poweroff_server(id).await.unwrap();
    hc.wait_for_action("powering off", ActionId::new(off.id)).await.unwrap();
    let snapshot_labels = Labels::snapshot(&"ab".repeat(32), "v1.11.5", "arm64").unwrap();
    let image = hc
        .create_image(id, "talos v1.11.5 arm64 abab…", &snapshot_labels)
        .await
        .unwrap();
    let action = image.action.as_ref().expect("create_image action");
    hc.wait_for_action("creating a snapshot", ActionId::new(action.id))
        .await
        .unwrap();

    let found = hc
        .list_images(&snapshot_labels.selector(), Some(ImageType::Snapshot))
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, image.image.id);
    assert_eq!(found[0].labels, snapshot_labels.to_map());

    // Relabel, protect, refuse deletion, unprotect, delete.
    let relabelled = snapshot_labels.clone().with("talos-hcloud/extra", "1").unwrap();
    let updated = hc.update_image(image.id(), Some(&relabelled), None).await.unwrap();
    assert_eq!(updated.labels, relabelled.to_map());
    let protect = hc.change_image_protection(image.id(), true).await.unwrap();
    hc.wait_for_action("protecting", ActionId::new(protect.id))
        .await
        .unwrap();
    let refused = hc.delete_image(image.id()).await.unwrap_err();
    assert_eq!(refused.code(), Some(&ErrorCode::Protected));
    assert_eq!(refused.to_string(), format!("while deleting image {}", image.id()));
    let unprotect = hc.change_image_protection(image.id(), false).await.unwrap();
    hc.wait_for_action("unprotecting", ActionId::new(unprotect.id))
        .await
        .unwrap();
    assert!(hc.delete_image(image.id()).await.unwrap());
    assert!(
        !hc.delete_image(image.id()).await.unwrap(),
        "already gone is not an error"
    );
    assert_eq!(hc.get_image(image.id()).await.unwrap(), None);

    // Clean up by label.
    let selector = temporary.selector();
    let servers = hc.list_servers(&selector).await.unwrap();
    assert_eq!(servers.iter().map(|s| s.id).collect::<Vec<_>>(), [id.get()]);
    let deleted = hc.delete_server(id).await.unwrap().expect("a delete action");
    hc.wait_for_action("deleting server", ActionId::new(deleted.id))
        .await
        .unwrap();
    assert_eq!(hc.get_server(id).await.unwrap(), None);
    assert_eq!(hc.delete_server(id).await.unwrap(), None);
    let keys = hc
        .list_ssh_keys(&Selector::new().eq(labels::TEMPORARY, "true"))
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert!(hc.delete_ssh_key(key_id).await.unwrap());
    assert!(hc.list_ssh_keys(&selector).await.unwrap().is_empty());
    assert!(hc.list_servers(&selector).await.unwrap().is_empty());

    let count = hc.request_count();
    assert_eq!(count.total, api.sim.request_log().len() as u64, "every request counted");
    assert_eq!(count.retries, 0);
}

/// The connection drops right after the server create was processed: the client looks the
/// server up by name and labels instead of sending the create again.
#[tokio::test]
async fn a_dropped_answer_to_a_server_create_leaves_exactly_one_server() {
    let api = Api::start().await;
    api.sim.add_faults(&"drop,on=POST:/servers,n=1".parse().unwrap());
    let hc = client(&api);
    let created = hc.create_server(&builder_spec("tc-prod-builder-arm64")).await.unwrap();
    assert_eq!(created.action, None, "found by lookup, not created again");
    hc.wait_for_actions("creating", &created.action_ids()).await.unwrap();

    let log = api.sim.request_log();
    let posts = requests(&log, "POST", "/v1/servers");
    assert_eq!(posts.len(), 1, "the create was sent once");
    assert_eq!(posts[0].fault.as_deref(), Some("drop"));
    let lookups = requests(&log, "GET", "/v1/servers");
    assert_eq!(lookups.len(), 1);
    assert!(
        lookups[0].query.contains("name=tc-prod-builder-arm64"),
        "{}",
        lookups[0].query
    );
    let servers = hc
        .list_servers(&Labels::builder("prod").unwrap().selector())
        .await
        .unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].id, created.server.id);
}

/// A dropped answer to an SSH key create and to create_image: found again by name / labels.
#[tokio::test]
async fn dropped_answers_to_other_creates_are_found_again() {
    let api = Api::start().await;
    api.sim.add_faults(
        &"drop,on=POST:/ssh_keys,n=1; drop,on=POST:/servers/*/actions/create_image,n=1"
            .parse()
            .unwrap(),
    );
    let hc = client(&api);
    let labels = Labels::builder("prod").unwrap();
    let key = hc.create_ssh_key("k", &ssh_public_key(2), &labels).await.unwrap();
    assert_eq!(key.name, "k");
    let created = hc.create_server(&builder_spec("b")).await.unwrap();
    hc.wait_for_actions("creating", &created.action_ids()).await.unwrap();
    let snapshot = Labels::snapshot(&"cd".repeat(32), "v1.11.5", "arm64").unwrap();
    let image = hc.create_image(created.id(), "talos", &snapshot).await.unwrap();
    if let Some(action) = &image.action {
        hc.wait_for_action("snapshot", ActionId::new(action.id)).await.unwrap();
    }
    let log = api.sim.request_log();
    assert_eq!(requests(&log, "POST", "/v1/ssh_keys").len(), 1);
    let path = format!("/v1/servers/{}/actions/create_image", created.server.id);
    assert_eq!(requests(&log, "POST", &path).len(), 1);
    assert_eq!(hc.list_ssh_keys(&labels.selector()).await.unwrap().len(), 1);
    let images = hc.list_images(&snapshot.selector(), None).await.unwrap();
    assert_eq!(images.iter().map(|i| i.id).collect::<Vec<_>>(), [image.image.id]);
}

/// A 503 on a create proves nothing was made here, but the client cannot know: it looks
/// first, finds nothing, then sends the create again. Exactly one server results.
#[tokio::test]
async fn a_5xx_on_a_create_is_looked_up_before_it_is_sent_again() {
    let api = Api::start().await;
    api.sim.add_faults(&"503,on=POST:/servers,n=1".parse().unwrap());
    let hc = client(&api);
    let created = hc.create_server(&builder_spec("b1")).await.unwrap();
    assert!(created.action.is_some(), "created by the second POST");
    let log = api.sim.request_log();
    let order: Vec<(String, u16)> = log
        .iter()
        .map(|r| (format!("{} {}", r.method, r.path), r.status))
        .collect();
    assert_eq!(
        order[..3],
        [
            ("POST /v1/servers".to_string(), 503),
            ("GET /v1/servers".to_string(), 200),
            ("POST /v1/servers".to_string(), 201),
        ],
        "{order:?}"
    );
    assert_eq!(hc.list_servers(&Selector::new()).await.unwrap().len(), 1);
    assert_eq!(
        hc.request_count().retries,
        0,
        "a lookup and a new create, not blind retries"
    );
}

/// 429, 500, 502, `locked` and `conflict` are retried; the retries are counted.
#[tokio::test]
async fn transient_errors_are_retried_and_counted() {
    let api = Api::start().await;
    let hc = client(&api);
    let created = hc.create_server(&builder_spec("b1")).await.unwrap();
    hc.wait_for_actions("creating", &created.action_ids()).await.unwrap();
    let id = created.id();
    api.sim.clear_request_log();
    api.sim.add_faults(
        &"429,on=GET:/servers/*,n=1; 500,on=GET:/servers/*,n=1; 502,on=GET:/servers,n=1; \
          locked,on=POST:/servers/*/actions/poweron,n=1; conflict,on=POST:/servers,n=1"
            .parse()
            .unwrap(),
    );
    assert!(hc.get_server(id).await.unwrap().is_some());
    assert_eq!(hc.list_servers(&Selector::new()).await.unwrap().len(), 1);
    let on = hc.poweron_server(id).await.unwrap();
    hc.wait_for_action("powering on", ActionId::new(on.id)).await.unwrap();
    // `conflict` on a create proves nothing happened: retried without a lookup.
    hc.create_server(&builder_spec("b2")).await.unwrap();

    let log = api.sim.request_log();
    let faults: Vec<&str> = log.iter().filter_map(|r| r.fault.as_deref()).collect();
    assert_eq!(faults, ["429", "500", "502", "423", "409"]);
    let count = hc.request_count();
    assert_eq!(count.retries, 5);
    assert_eq!(count.rate_limited, 1);
    assert_eq!(requests(&log, "POST", "/v1/servers").len(), 2);
    assert_eq!(hc.list_servers(&Selector::new()).await.unwrap().len(), 2);
}

/// Retries are bounded: a fault that never ends gives up after the policy's attempts and
/// names the operation.
#[tokio::test]
async fn retries_end_and_errors_name_the_resource() {
    let api = Api::start().await;
    api.sim
        .add_faults(&"locked,on=POST:/servers/*/actions/poweron".parse().unwrap());
    let hc = client(&api);
    let error = hc.poweron_server(ServerId::new(42)).await.unwrap_err();
    assert_eq!(error.to_string(), "while powering on server 42");
    assert_eq!(error.code(), Some(&ErrorCode::Locked));
    assert!(error.is_retryable());
    assert_eq!(hc.request_count().total, 4, "Policy::api_call: 4 attempts");

    let mut spec = builder_spec("tc-prod-builder-arm64");
    spec.server_type = "cax99".into();
    let error = hc.create_server(&spec).await.unwrap_err();
    assert_eq!(error.to_string(), "while creating server tc-prod-builder-arm64");
    let cause = std::error::Error::source(&error).unwrap().to_string();
    assert!(cause.starts_with("POST /servers: the API answered "), "{cause}");
    assert!(!error.is_retryable());
    assert_eq!(hc.request_count().total, 5, "a non-retryable error is not retried");
}

/// The budget from `RateLimit-*` is tracked; an empty bucket makes the client wait for the
/// refill instead of failing.
#[tokio::test]
async fn rate_limit_headers_are_honoured() {
    let api = Api::start().await;
    let hc = client(&api);
    api.sim.set_rate_limit(100, 0.001, Some(60));
    hc.list_servers(&Selector::new()).await.unwrap();
    let rate = hc.rate_limit().expect("headers read");
    assert_eq!((rate.limit, rate.remaining), (100, 59));
    hc.list_servers(&Selector::new()).await.unwrap();
    assert_eq!(hc.rate_limit().unwrap().remaining, 58);

    // Empty bucket refilling 20 per second: the next requests are throttled or answered
    // 429 and retried, and all succeed.
    api.sim.set_rate_limit(4, 20.0, Some(0));
    let started = std::time::Instant::now();
    for _ in 0..3 {
        hc.list_servers(&Selector::new()).await.unwrap();
    }
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "{:?}",
        started.elapsed()
    );
    let log = api.sim.request_log();
    let ok = log.iter().filter(|r| r.status == 200).count();
    assert_eq!(ok, 5);
    let count = hc.request_count();
    assert_eq!(count.total as usize, log.len());
    assert_eq!(
        count.rate_limited as usize,
        log.iter().filter(|r| r.status == 429).count()
    );
}

/// N actions awaited together cost one `GET /actions?id=…&id=…`.
#[tokio::test]
async fn actions_are_awaited_in_one_batched_poll() {
    let api = Api::stepped().await;
    let hc = client(&api);
    let mut ids = Vec::new();
    for n in 0..3 {
        let created = hc.create_server(&builder_spec(&format!("b{n}"))).await.unwrap();
        ids.extend(created.action_ids());
    }
    assert_eq!(ids.len(), 3);
    api.sim.advance(Duration::from_secs(600));
    api.sim.clear_request_log();
    let actions = hc.wait_for_actions("creating three servers", &ids).await.unwrap();
    assert_eq!(actions.len(), 3);
    assert!(actions.iter().all(|a| a.command == "create_server"));
    let log = api.sim.request_log();
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].path, "/v1/actions");
    let mut asked: Vec<String> = log[0]
        .query
        .split('&')
        .filter_map(|kv| kv.strip_prefix("id="))
        .map(str::to_string)
        .collect();
    asked.sort();
    let mut want: Vec<String> = ids.iter().map(ToString::to_string).collect();
    want.sort();
    assert_eq!(asked, want);
}

/// Two tasks waiting at the same time share the polls: every poll asks for what both wait
/// for, and neither polls while the other's request is in flight.
#[tokio::test]
async fn concurrent_waiters_share_one_poller() {
    let api = Api::stepped().await;
    let hc = client(&api);
    let a = hc.create_server(&builder_spec("a")).await.unwrap().action_ids();
    let b = hc.create_server(&builder_spec("b")).await.unwrap().action_ids();
    api.sim.clear_request_log();
    let (hc_a, hc_b) = (hc.clone(), hc.clone());
    let task_a = tokio::spawn(async move { hc_a.wait_for_actions("a", &a).await });
    let task_b = tokio::spawn(async move { hc_b.wait_for_actions("b", &b).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    api.sim.advance(Duration::from_secs(600));
    task_a.await.unwrap().unwrap();
    task_b.await.unwrap().unwrap();
    let log = api.sim.request_log();
    assert!(log.iter().all(|r| r.path == "/v1/actions"));
    // After both registered, each poll carries both IDs.
    let both = log.iter().filter(|r| r.query.matches("id=").count() == 2).count();
    assert!(both >= 1, "{log:?}");
    let polls_after_finish = log
        .iter()
        .rev()
        .take_while(|r| r.query.matches("id=").count() == 2)
        .count();
    assert!(polls_after_finish >= 1);
}

/// The polls follow the action's progress: a 60 s create on a clock running 100 times
/// faster is read when it should end, a handful of times, not every few milliseconds along
/// a backoff (which would take about thirty polls here).
#[tokio::test]
async fn polls_are_scheduled_from_the_progress() {
    let api = Api::start_with(SimConfig {
        time_scale: 100.0,
        ..SimConfig::default()
    })
    .await;
    let options = ClientOptions {
        action_poll: Policy::action_progress()
            .with_delays(Duration::from_millis(10), Duration::from_secs(1))
            .with_deadline(Duration::from_secs(30)),
        ..options()
    };
    let hc = client_with_options(&api, api.sim.token(), options);
    let created = hc.create_server(&builder_spec("paced")).await.unwrap();
    api.sim.clear_request_log();
    let actions = hc.wait_for_actions("creating", &created.action_ids()).await.unwrap();
    assert_eq!(actions.len(), 1);
    assert_eq!(actions[0].command, "create_server");
    let polls = requests(&api.sim.request_log(), "GET", "/v1/actions").len();
    assert!((2..=8).contains(&polls), "{polls} polls for one create");
}

/// An action that ends in error is an error naming the action.
#[tokio::test]
async fn a_failed_action_is_an_error() {
    let api = Api::start().await;
    api.sim
        .add_faults(&"action-error,command=create_image".parse().unwrap());
    let hc = client(&api);
    let created = hc.create_server(&builder_spec("b")).await.unwrap();
    hc.wait_for_actions("creating", &created.action_ids()).await.unwrap();
    let image = hc
        .create_image(created.id(), "x", &Labels::snapshot("ef", "v1.11.5", "amd64").unwrap())
        .await
        .unwrap();
    let id = ActionId::new(image.action.unwrap().id);
    let error = hc
        .wait_for_action("creating a snapshot of server b", id)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::ActionFailed { .. }));
    assert_eq!(
        error.to_string().split(" failed with ").next().unwrap(),
        format!("while creating a snapshot of server b: action {id} (create_image)")
    );
}

/// A rejected token: the error says so without ever showing it, in Display, Debug or the
/// chain; neither does the client's Debug.
#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let api = Api::start_with(SimConfig::default()).await;
    let wrong = "WrongTokenWrongTokenWrongTokenWrongTokenWrongTokenWrongToken0123";
    let hc = client_with_token(&api, wrong);
    // Every log line of the client at TRACE level, captured.
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let error = hc.list_servers(&Selector::new()).await.unwrap_err();
    // A retried failure and a success log too.
    api.sim.add_faults(&"503,on=GET:/servers,n=1".parse().unwrap());
    client(&api).list_servers(&Selector::new()).await.unwrap();
    let logged = logs.text();
    assert!(logged.contains("hcloud: retrying"), "{logged}");
    assert!(!logged.contains(wrong) && !logged.contains(api.sim.token()), "{logged}");
    assert_eq!(error.code(), Some(&ErrorCode::Unauthorized));
    let mut chain = format!("{error} {error:?} {:?}", hc);
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    for secret in [wrong, api.sim.token()] {
        assert!(!chain.contains(secret), "token leaked: {chain}");
    }
    assert!(chain.contains("unauthorized"), "{chain}");
    let good = client(&api);
    assert!(!format!("{good:?}").contains(api.sim.token()));
}

/// The resources `apply` needs: created with labels, listed by label, deleted; an
/// unassigned primary IP (which the crate cannot decode) lists fine; the load balancer
/// delete's action is returned.
#[tokio::test]
async fn cluster_resources_are_created_listed_and_deleted_by_label() {
    use talos_hcloud::hcloud::{FirewallId, FloatingIpId, LoadBalancerId, NetworkId, PlacementGroupId, PrimaryIpId};

    let api = Api::start().await;
    api.sim.add_faults(&"drop,on=POST:/networks,n=1".parse().unwrap());
    let hc = client(&api);
    let labels = Labels::cluster("prod").unwrap();
    let selector = labels.selector();

    let network = hc
        .create_network("tc-prod", "10.0.0.0/16", &[("eu-central", "10.0.1.0/24")], &labels)
        .await
        .unwrap();
    assert_eq!(network.resource.name, "tc-prod");
    let network_id = NetworkId::new(network.resource.id);
    let subnet = hc.add_subnet(network_id, "eu-central", "10.0.2.0/24").await.unwrap();
    hc.wait_for_action("adding a subnet", ActionId::new(subnet.id))
        .await
        .unwrap();
    let networks = hc.list_networks(&selector).await.unwrap();
    assert_eq!(networks.len(), 1, "the dropped create was found, not repeated");
    assert_eq!(networks[0].subnets.len(), 2);

    let rule: hcloud::models::Rule = serde_json::from_value(serde_json::json!({
        "direction": "in", "protocol": "tcp", "port": "50000", "source_ips": ["0.0.0.0/0", "::/0"]
    }))
    .unwrap();
    let firewall = hc
        .create_firewall("tc-prod", std::slice::from_ref(&rule), None, &labels)
        .await
        .unwrap();
    // A firewall applied by label selector cannot be deleted while applied.
    let applied = hc
        .create_firewall("tc-prod-applied", &[rule], Some(&selector), &Labels::new())
        .await
        .unwrap();
    let in_use = hc
        .delete_firewall(FirewallId::new(applied.resource.id))
        .await
        .unwrap_err();
    assert_eq!(in_use.code(), Some(&ErrorCode::ResourceInUse));
    assert_eq!(
        in_use.to_string(),
        format!("while deleting firewall {}", applied.resource.id)
    );
    let group = hc.create_placement_group("tc-prod-cp", &labels).await.unwrap();
    let floating = hc
        .create_floating_ip("tc-prod-vip", "ipv4", "fsn1", &labels)
        .await
        .unwrap();
    let primary = hc
        .create_primary_ip("tc-prod-cp-1-v4", "ipv4", "fsn1", &labels)
        .await
        .unwrap();
    hc.wait_for_actions(
        "creating",
        &primary.actions.iter().map(|a| ActionId::new(a.id)).collect::<Vec<_>>(),
    )
    .await
    .unwrap();
    let balancer = hc
        .create_load_balancer("tc-prod-api", "lb11", "fsn1", &labels)
        .await
        .unwrap();
    hc.wait_for_actions(
        "creating",
        &balancer.actions.iter().map(|a| ActionId::new(a.id)).collect::<Vec<_>>(),
    )
    .await
    .unwrap();

    assert_eq!(hc.list_firewalls(&selector).await.unwrap().len(), 1);
    assert_eq!(hc.list_placement_groups(&selector).await.unwrap().len(), 1);
    assert_eq!(hc.list_floating_ips(&selector).await.unwrap().len(), 1);
    let primaries = hc.list_primary_ips(&selector).await.unwrap();
    assert_eq!(primaries.len(), 1);
    assert_eq!(primaries[0].assignee_type, "unassigned");
    assert_eq!(primaries[0].assignee_id, None);
    assert_eq!(hc.list_load_balancers(&selector).await.unwrap().len(), 1);

    let deleted = hc
        .delete_load_balancer(LoadBalancerId::new(balancer.resource.id))
        .await
        .unwrap()
        .expect("the delete action");
    assert_eq!(deleted.command, "delete_load_balancer");
    assert!(
        hc.delete_primary_ip(PrimaryIpId::new(primary.resource.id))
            .await
            .unwrap()
    );
    assert!(
        hc.delete_floating_ip(FloatingIpId::new(floating.resource.id))
            .await
            .unwrap()
    );
    assert!(
        hc.delete_placement_group(PlacementGroupId::new(group.resource.id))
            .await
            .unwrap()
    );
    assert!(hc.delete_firewall(FirewallId::new(firewall.resource.id)).await.unwrap());
    assert!(hc.delete_network(network_id).await.unwrap());
    assert!(!hc.delete_network(network_id).await.unwrap());
    assert!(hc.list_networks(&selector).await.unwrap().is_empty());
    assert!(hc.list_primary_ips(&selector).await.unwrap().is_empty());
    assert_eq!(requests(&api.sim.request_log(), "POST", "/v1/networks").len(), 1);
}

/// Waiting for an action the API does not know fails at once instead of at the deadline.
#[tokio::test]
async fn an_unknown_action_fails_at_once() {
    let api = Api::start().await;
    let hc = client(&api);
    let error = hc
        .wait_for_action("waiting for nothing", ActionId::new(987_654_321))
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(&ErrorCode::NotFound));
    assert_eq!(
        error.to_string(),
        "while waiting for nothing: action 987654321 (unknown) failed with not_found: the API does not know this \
         action"
    );
    assert_eq!(hc.request_count().total, 1);
}

/// A log sink for tests: everything written, shared.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}
