#!/usr/bin/env python3
"""The manual Talos image build of an operator, through the official Python client and OpenSSH.

It does by hand what `talos-hcloud image build` automates, the way the Talos docs describe it
for Hetzner: an SSH key, a stopped cx23 server from ubuntu-24.04, rescue mode with that key,
power on, then over plain `ssh` in the rescue system
`wget -O- IMAGE_URL | zstd -dc | dd of=/dev/sda bs=4M conv=sparse`, `poweroff` inside, a
snapshot of the disk, and a server from that snapshot with the machine configuration as user
data. Nothing in it knows about the emulator.

Usage:
    rescue_flow.py --endpoint http://127.0.0.1:PORT/v1 --identity KEY --image-url URL
                   --user-data FILE [--poll-interval SECONDS] [--poll-max-retries N]

The token comes from HCLOUD_TOKEN; KEY is an OpenSSH private key whose public half is KEY.pub.
On success it prints one JSON object: the builder, snapshot and server IDs and the server's
IPv4. Exit status: 0 success; 1 a step failed (why on stderr); 2 usage or environment problem.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

EXIT_FAILED = 1
EXIT_USAGE = 2


class FlowError(Exception):
    """A step of the flow did not do what it should."""


def ssh(identity: str, ip: str, command: str) -> subprocess.CompletedProcess[bytes]:
    """Runs `command` as root on `ip` with OpenSSH, trusting the rescue's new host key."""
    return subprocess.run(
        [
            "ssh",
            "-i", identity,
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "StrictHostKeyChecking=no",
            "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=5",
            f"root@{ip}",
            command,
        ],
        capture_output=True,
        timeout=600,
        check=False,
    )


def wait_for(what: str, probe, attempts: int, interval: float):
    """Calls `probe` until it returns something true; fails after `attempts` tries."""
    for _ in range(attempts):
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise FlowError(f"timed out waiting until {what}")


def run(args: argparse.Namespace, token: str) -> dict:
    from hcloud import Client
    from hcloud.images import Image
    from hcloud.locations import Location
    from hcloud.server_types import ServerType

    client = Client(
        token=token,
        api_endpoint=args.endpoint,
        poll_interval=args.poll_interval,
        poll_max_retries=args.poll_max_retries,
    )
    with open(args.identity + ".pub", encoding="utf-8") as f:
        public_key = f.read().strip()
    with open(args.user_data, encoding="utf-8") as f:
        user_data = f.read()

    key = client.ssh_keys.create(name="rescue-flow", public_key=public_key)
    created = client.servers.create(
        name="rescue-builder",
        server_type=ServerType(name="cx23"),
        image=Image(name="ubuntu-24.04"),
        location=Location(name="fsn1"),
        start_after_create=False,
    )
    created.action.wait_until_finished()
    builder = created.server
    rescue = builder.enable_rescue(type="linux64", ssh_keys=[key.id])
    rescue.action.wait_until_finished()
    builder.power_on().wait_until_finished()
    ip = client.servers.get_by_id(builder.id).public_net.ipv4.ip

    # The rescue system needs its boot before sshd answers.
    wait_for("the rescue system accepts SSH", lambda: ssh(args.identity, ip, "true").returncode == 0, 600, 0.1)
    write = ssh(
        args.identity,
        ip,
        f"wget -q -O- {args.image_url} | zstd -dc | dd of=/dev/sda bs=4M conv=sparse status=none && sync",
    )
    if write.returncode != 0:
        raise FlowError(f"writing the image failed: {write.stderr.decode(errors='replace')}")
    ssh(args.identity, ip, "poweroff")  # the connection may close before an exit status
    wait_for(
        "the builder is off",
        lambda: client.servers.get_by_id(builder.id).status == "off",
        600,
        0.1,
    )

    snapshot = client.servers.get_by_id(builder.id).create_image(description="talos", type="snapshot")
    snapshot.action.wait_until_finished()
    image_id = snapshot.image.id
    if client.images.get_by_id(image_id).status != "available":
        raise FlowError("the snapshot is not available after its action")

    node = client.servers.create(
        name="talos-1",
        server_type=ServerType(name="cx23"),
        image=Image(id=image_id),
        location=Location(name="fsn1"),
        user_data=user_data,
    )
    node.action.wait_until_finished()
    return {
        "builder": builder.id,
        "snapshot": image_id,
        "server": node.server.id,
        "ipv4": client.servers.get_by_id(node.server.id).public_net.ipv4.ip,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--identity", required=True)
    parser.add_argument("--image-url", required=True)
    parser.add_argument("--user-data", required=True)
    parser.add_argument("--poll-interval", type=float, default=1.0)
    parser.add_argument("--poll-max-retries", type=int, default=120)
    args = parser.parse_args()
    token = os.environ.get("HCLOUD_TOKEN", "")
    if not token:
        print("rescue_flow.py: HCLOUD_TOKEN is not set", file=sys.stderr)
        return EXIT_USAGE
    try:
        import hcloud  # noqa: F401
    except ImportError as error:
        print(f"rescue_flow.py: the hcloud package is missing: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        result = run(args, token)
    except Exception as error:  # noqa: BLE001 - every failure is reported the same way
        print(f"rescue_flow.py: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
