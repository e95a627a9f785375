#!/usr/bin/env python3
"""A cluster-shaped tour of the Hetzner Cloud API through the official Python client.

This is the second, independent witness of the talos-hcloud emulator (the OpenAPI checker is
the first): it drives an endpoint exactly through `hcloud` (hcloud-python, pinned to 2.27.0 by
scripts/test.sh) the way an ordinary user script would, and checks what comes back. Nothing in
it knows about the emulator; it must pass unchanged against any faithful implementation of the
API, the real one included.

It creates an SSH key, a network with a subnet, a spread placement group, a firewall, two
servers (cax11, fsn1, debian-12) using all of them, enables rescue on one and snapshots it,
creates a floating IP and a load balancer, then deletes everything and checks nothing is left.
Every resource carries the label `talos-hcloud-scenario=<run id>`, so a shared project is safe.

Usage:
    scenario.py --endpoint http://127.0.0.1:PORT/v1 [--token TOKEN]
                [--poll-interval SECONDS] [--poll-max-retries N] [--admin-cidr CIDR]

The endpoint and token also come from HCLOUD_ENDPOINT and HCLOUD_TOKEN. There is no default
endpoint, so the script never reaches the real API by accident.

Exit status: 0 success (a summary on stdout); 1 a step failed (what and why on stderr, then a
best-effort cleanup); 2 usage or environment problem (missing token, endpoint or package).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import sys
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

EXIT_FAILED = 1
EXIT_USAGE = 2

LABEL_KEY = "talos-hcloud-scenario"

# A throwaway public key (its private half was discarded); real format, so an API that parses
# keys and computes fingerprints accepts it.
PUBLIC_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK4lEo5TbdjO2A43cpoeMc5eCpqflr3wwbTqPs3YMqV8 "
    "talos-hcloud-scenario"
)

SERVER_TYPE = "cax11"
LOCATION = "fsn1"
IMAGE_NAME = "debian-12"
IMAGE_ARCHITECTURE = "arm"  # cax11 is an Ampere (arm64) type
LOAD_BALANCER_TYPE = "lb11"


class ScenarioError(Exception):
    """A check of the scenario did not hold."""


def check(condition: bool, message: str) -> None:
    """Fails the current step with `message` unless `condition` holds."""
    if not condition:
        raise ScenarioError(message)


def md5_fingerprint(public_key: str) -> str:
    """The MD5 fingerprint Hetzner reports for an OpenSSH public key (`aa:bb:…`)."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the API's fingerprint format
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


@dataclass
class Created:
    """What the scenario created, newest last, so failures can clean up in reverse."""

    items: list[tuple[str, Any]] = field(default_factory=list)
    ever: list[tuple[str, int]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)

    def add(self, kind: str, resource: Any) -> Any:
        self.items.append((kind, resource))
        self.ever.append((kind, resource.id))
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return resource

    def forget(self, kind: str, resource: Any) -> None:
        self.items = [(k, r) for k, r in self.items if not (k == kind and r.id == resource.id)]
        self.deleted[kind] = self.deleted.get(kind, 0) + 1


class Steps:
    """Names the step in progress, so a failure says where it happened."""

    def __init__(self) -> None:
        self.current = "start"
        self.done: list[str] = []

    def __call__(self, name: str) -> None:
        if self.current != "start":
            self.done.append(self.current)
        self.current = name
        print(f"… {name}", file=sys.stderr, flush=True)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--endpoint", default=os.environ.get("HCLOUD_ENDPOINT"),
                        help="API base URL, e.g. http://127.0.0.1:8080/v1 [env: HCLOUD_ENDPOINT]")
    parser.add_argument("--token", default=os.environ.get("HCLOUD_TOKEN"),
                        help="API token [env: HCLOUD_TOKEN]")
    parser.add_argument("--poll-interval", type=float, default=1.0,
                        help="seconds between action polls (the client's default is 1.0)")
    parser.add_argument("--poll-max-retries", type=int, default=120,
                        help="polls before an action counts as hung (the client's default is 120)")
    parser.add_argument("--admin-cidr", default="203.0.113.0/24",
                        help="source range allowed to reach the Talos and Kubernetes APIs")
    args = parser.parse_args(argv)
    if not args.endpoint:
        parser.error("no endpoint: pass --endpoint or set HCLOUD_ENDPOINT")
    if not args.token:
        parser.error("no token: pass --token or set HCLOUD_TOKEN")
    return args


def run(client: Any, args: argparse.Namespace, created: Created, step: Steps) -> list[str]:
    """The scenario proper; returns the summary lines."""
    from hcloud.firewalls import FirewallRule
    from hcloud.images import Image
    from hcloud.load_balancer_types import LoadBalancerType
    from hcloud.load_balancers import (
        LoadBalancerHealthCheck,
        LoadBalancerService,
        LoadBalancerTarget,
        LoadBalancerTargetLabelSelector,
    )
    from hcloud.locations import Location
    from hcloud.networks import NetworkSubnet
    from hcloud.server_types import ServerType

    run_id = uuid.uuid4().hex[:10]
    prefix = f"scn-{run_id}"
    selector = f"{LABEL_KEY}={run_id}"

    def labels(**extra: str) -> dict[str, str]:
        return {LABEL_KEY: run_id, **extra}

    step("create the SSH key")
    ssh_key = created.add("ssh_key", client.ssh_keys.create(
        name=f"{prefix}-key", public_key=PUBLIC_KEY, labels=labels()))
    check(ssh_key.fingerprint == md5_fingerprint(PUBLIC_KEY),
          f"ssh key fingerprint {ssh_key.fingerprint!r}, expected {md5_fingerprint(PUBLIC_KEY)!r}")

    step("create the network with a subnet")
    network = created.add("network", client.networks.create(
        name=f"{prefix}-net",
        ip_range="10.0.0.0/16",
        subnets=[NetworkSubnet(type=NetworkSubnet.TYPE_CLOUD, ip_range="10.0.1.0/24",
                               network_zone="eu-central")],
        labels=labels(),
    ))
    check([s.ip_range for s in network.subnets] == ["10.0.1.0/24"],
          f"network subnets are {[s.ip_range for s in network.subnets]}")

    step("create the spread placement group")
    placement = client.placement_groups.create(name=f"{prefix}-spread", type="spread", labels=labels())
    placement_group = created.add("placement_group", placement.placement_group)
    if placement.action is not None:
        placement.action.wait_until_finished()
    check(placement_group.type == "spread", f"placement group type {placement_group.type!r}")

    step("create the firewall")
    rules = [
        FirewallRule(direction=FirewallRule.DIRECTION_IN, protocol=FirewallRule.PROTOCOL_TCP,
                     port=port, source_ips=[args.admin_cidr], description=what)
        for port, what in (("50000", "Talos API"), ("6443", "Kubernetes API"))
    ]
    firewall_response = client.firewalls.create(name=f"{prefix}-fw", rules=rules, labels=labels())
    firewall = created.add("firewall", firewall_response.firewall)
    for action in firewall_response.actions:
        action.wait_until_finished()
    check(sorted(r.port for r in firewall.rules) == ["50000", "6443"],
          f"firewall rule ports {[r.port for r in firewall.rules]}")
    check(all(r.source_ips == [args.admin_cidr] for r in firewall.rules),
          f"firewall rule sources {[r.source_ips for r in firewall.rules]}")

    step(f"look up the {IMAGE_NAME} image for {IMAGE_ARCHITECTURE}")
    image = client.images.get_by_name_and_architecture(IMAGE_NAME, IMAGE_ARCHITECTURE)
    check(image is not None, f"no {IMAGE_NAME} image for {IMAGE_ARCHITECTURE}")
    check(image.type == "system", f"{IMAGE_NAME} has type {image.type!r}")

    servers = []
    for index in (1, 2):
        step(f"create server {index}")
        response = client.servers.create(
            name=f"{prefix}-node-{index}",
            server_type=ServerType(name=SERVER_TYPE),
            image=image,
            location=Location(name=LOCATION),
            ssh_keys=[ssh_key],
            networks=[network],
            firewalls=[firewall],
            placement_group=placement_group,
            labels=labels(role="node"),
        )
        server = created.add("server", response.server)
        check(response.root_password is None,
              "a root password came back although an SSH key was given")
        step(f"wait for server {index}")
        response.action.wait_until_finished()
        for action in response.next_actions:
            action.wait_until_finished()
        server.reload()
        check(server.status == "running", f"server {server.name} is {server.status!r} after creation")
        check(server.server_type.name == SERVER_TYPE, f"server type {server.server_type.name!r}")
        check(server.image is not None and server.image.id == image.id,
              f"server image {server.image and server.image.id}, expected {image.id}")
        check(server.location.name == LOCATION, f"server location {server.location.name!r}")
        check(server.placement_group is not None and server.placement_group.id == placement_group.id,
              "server is not in the placement group")
        check([n.network.id for n in server.private_net] == [network.id],
              f"server networks {[n.network.id for n in server.private_net]}")
        servers.append(server)

    step("list servers by label selector")
    listed = client.servers.get_all(label_selector=selector)
    check(sorted(s.id for s in listed) == sorted(s.id for s in servers),
          f"label selector {selector!r} listed {[s.name for s in listed]}")

    step("enable rescue on server 1")
    # No SSH keys: the root password is then the only way in, so it must come back.
    rescue = servers[0].enable_rescue(type="linux64")
    check(isinstance(rescue.root_password, str) and rescue.root_password != "",
          f"enable_rescue returned root password {rescue.root_password!r}")
    rescue.action.wait_until_finished()
    servers[0].reload()
    check(servers[0].rescue_enabled is True, "server 1 does not report rescue_enabled")

    step("create a snapshot of server 1")
    snapshot_labels = labels(kind="snapshot")
    snapshot = servers[0].create_image(description=f"{prefix} snapshot", type="snapshot",
                                       labels=snapshot_labels)
    image_snapshot = created.add("image", snapshot.image)
    snapshot.action.wait_until_finished()
    image_snapshot.reload()
    check(image_snapshot.type == "snapshot", f"snapshot image type {image_snapshot.type!r}")
    check(image_snapshot.status == "available", f"snapshot image status {image_snapshot.status!r}")
    check(image_snapshot.labels == snapshot_labels, f"snapshot labels {image_snapshot.labels!r}")

    step("list snapshots by type and label selector")
    snapshots = client.images.get_all(type=["snapshot"], label_selector=selector)
    check([i.id for i in snapshots] == [image_snapshot.id],
          f"snapshots listed: {[i.id for i in snapshots]}, expected [{image_snapshot.id}]")

    step("create a floating IP and assign it to server 2")
    floating = client.floating_ips.create(type="ipv4", home_location=Location(name=LOCATION),
                                          name=f"{prefix}-ip", labels=labels())
    floating_ip = created.add("floating_ip", floating.floating_ip)
    if floating.action is not None:
        floating.action.wait_until_finished()
    floating_ip.assign(servers[1]).wait_until_finished()
    floating_ip.reload()
    check(floating_ip.server is not None and floating_ip.server.id == servers[1].id,
          f"floating IP assigned to {floating_ip.server and floating_ip.server.id}, expected {servers[1].id}")

    step("create the load balancer")
    balancer = client.load_balancers.create(
        name=f"{prefix}-lb",
        load_balancer_type=LoadBalancerType(name=LOAD_BALANCER_TYPE),
        location=Location(name=LOCATION),
        services=[LoadBalancerService(
            protocol="tcp", listen_port=443, destination_port=443, proxyprotocol=False,
            health_check=LoadBalancerHealthCheck(protocol="tcp", port=443, interval=15, timeout=10,
                                                 retries=3),
        )],
        targets=[LoadBalancerTarget(
            type="label_selector",
            label_selector=LoadBalancerTargetLabelSelector(selector=selector),
        )],
        labels=labels(),
    )
    load_balancer = created.add("load_balancer", balancer.load_balancer)
    balancer.action.wait_until_finished()
    load_balancer.reload()
    check([(s.protocol, s.listen_port) for s in load_balancer.services] == [("tcp", 443)],
          f"load balancer services {[(s.protocol, s.listen_port) for s in load_balancer.services]}")
    check([(t.type, t.label_selector.selector) for t in load_balancer.targets]
          == [("label_selector", selector)],
          f"load balancer targets {[t.type for t in load_balancer.targets]}")

    step("delete everything")
    delete_all(client, created)

    step("check nothing is left")
    leftovers = remaining(client, selector, created)
    check(not leftovers, "left behind: " + "; ".join(leftovers))

    kinds = ("ssh_key", "network", "placement_group", "firewall", "server", "image",
             "floating_ip", "load_balancer")
    summary = [f"scenario {run_id} against {args.endpoint}: all steps passed"]
    summary += [f"  {kind}: created {created.counts.get(kind, 0)}, deleted {created.deleted.get(kind, 0)}"
                for kind in kinds]
    return summary


# Deleting, newest dependency first: what holds a reference goes before what it references.
DELETE_ORDER = ("load_balancer", "floating_ip", "image", "server", "firewall", "placement_group",
                "network", "ssh_key")


def delete_one(kind: str, resource: Any) -> None:
    """Deletes one resource the way the client wants it, waiting where there is an action."""
    if kind == "load_balancer":
        resource.delete().action.wait_until_finished()
    elif kind == "server":
        resource.delete().wait_until_finished()
    elif kind == "floating_ip":
        resource.reload()
        if resource.server is not None:
            # Since 2026-05-01 an assigned floating IP cannot be deleted.
            resource.unassign().wait_until_finished()
        resource.delete()
    else:
        resource.delete()


def delete_all(client: Any, created: Created) -> None:
    for kind in DELETE_ORDER:
        for resource in [r for k, r in created.items if k == kind]:
            delete_one(kind, resource)
            created.forget(kind, resource)


def remaining(client: Any, selector: str, created: Created) -> list[str]:
    """What is still there: by label selector, and by the IDs the scenario created."""
    listings: dict[str, Callable[[], list[Any]]] = {
        "server": lambda: client.servers.get_all(),
        "image": lambda: client.images.get_all(type=["snapshot"]),
        "floating_ip": lambda: client.floating_ips.get_all(),
        "load_balancer": lambda: client.load_balancers.get_all(),
        "firewall": lambda: client.firewalls.get_all(),
        "placement_group": lambda: client.placement_groups.get_all(),
        "network": lambda: client.networks.get_all(),
        "ssh_key": lambda: client.ssh_keys.get_all(),
    }
    by_selector: dict[str, Callable[[], list[Any]]] = {
        "server": lambda: client.servers.get_all(label_selector=selector),
        "image": lambda: client.images.get_all(type=["snapshot"], label_selector=selector),
        "floating_ip": lambda: client.floating_ips.get_all(label_selector=selector),
        "load_balancer": lambda: client.load_balancers.get_all(label_selector=selector),
        "firewall": lambda: client.firewalls.get_all(label_selector=selector),
        "placement_group": lambda: client.placement_groups.get_all(label_selector=selector),
        "network": lambda: client.networks.get_all(label_selector=selector),
        "ssh_key": lambda: client.ssh_keys.get_all(label_selector=selector),
    }
    left = []
    for kind in DELETE_ORDER:
        labelled = by_selector[kind]()
        if labelled:
            left.append(f"{kind} matching {selector!r}: {[r.id for r in labelled]}")
        ours = {id for k, id in created.ever if k == kind}
        still = [r.id for r in listings[kind]() if r.id in ours]
        if still:
            left.append(f"{kind} still listed: {still}")
    return left


def cleanup(created: Created) -> None:
    """Best effort after a failure: delete what is left, newest dependency first."""
    for kind in DELETE_ORDER:
        for resource in [r for k, r in created.items if k == kind]:
            try:
                delete_one(kind, resource)
                created.forget(kind, resource)
                print(f"cleanup: deleted {kind} {resource.id}", file=sys.stderr)
            except Exception as error:  # noqa: BLE001 - report and go on with the rest
                print(f"cleanup: could not delete {kind} {resource.id}: {error}", file=sys.stderr)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import hcloud
        import requests
        from hcloud import Client, HCloudException
    except ImportError as error:
        print(f"error: the official Hetzner client is not installed ({error}); "
              "run scripts/test.sh, which installs hcloud==2.27.0 into target/py", file=sys.stderr)
        return EXIT_USAGE
    client = Client(
        token=args.token,
        api_endpoint=args.endpoint,
        application_name="talos-hcloud-scenario",
        poll_interval=args.poll_interval,
        poll_max_retries=args.poll_max_retries,
    )
    created = Created()
    step = Steps()
    try:
        summary = run(client, args, created, step)
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        kind = "check failed" if isinstance(error, ScenarioError) else type(error).__name__
        print(f"error: scenario failed at step '{step.current}' ({kind}): {error}", file=sys.stderr)
        if not isinstance(error, (ScenarioError, HCloudException, requests.RequestException)):
            traceback.print_exc(file=sys.stderr)  # an unexpected error: show where
        print(f"  steps done: {', '.join(step.done) or 'none'}", file=sys.stderr)
        print(f"  hcloud-python {hcloud.__version__}, endpoint {args.endpoint}", file=sys.stderr)
        cleanup(created)
        return EXIT_FAILED
    print("\n".join(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
