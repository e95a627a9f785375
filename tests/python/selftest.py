#!/usr/bin/env python3
"""Self-test of scenario.py: runs it against a tiny in-memory API built from the spec.

This is NOT the emulator and must not grow into one. It exists so that the scenario script
(and the Rust conformance checker that judges recorded traffic) can be tested before, and
independently of, talos-hcloud's emulator: it serves exactly the calls scenario.py makes,
with objects copied from the examples in `hcloud-openapi.json` (so their shapes are the
description's, not ours), and records every exchange as one JSON line in the shape of the
emulator's request log (`method`, `path`, `query`, `status`, `request_body`,
`response_body`).

Usage:
    selftest.py --spec PATH/hcloud-openapi.json --log OUT.jsonl [--fault NAME]

Runs scenario.py in a child process with the interpreter running this file and exits with
its status. `--fault` breaks the fake on purpose, to prove the scenario notices:
    no-rescue-password   enable_rescue answers root_password null
    leak-server          DELETE /servers/{id} answers an action but keeps the server
    booting              servers report status "booting" (not a Hetzner status)
    lb-delete-204        DELETE /load_balancers/{id} answers 204 (the pre-2026-10 API)
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import itertools
import json
import subprocess
import sys
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

TOKEN = "selftest-token-" + "0" * 49
FAULTS = ("no-rescue-password", "leak-server", "booting", "lb-delete-204")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def example(spec: dict, path: str, method: str, status: str) -> dict:
    return copy.deepcopy(
        spec["paths"][path][method]["responses"][status]["content"]["application/json"]["examples"]["default"]["value"]
    )


def matches(labels: dict[str, str], selector: str | None) -> bool:
    """The label-selector subset the scenario uses: `k=v`, `k==v`, `k!=v`, `k`, `!k`."""
    if not selector:
        return True
    for term in selector.split(","):
        term = term.strip()
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term not in labels:
            return False
    return True


class Fake:
    """Resources by kind; objects are spec examples with our values patched in."""

    def __init__(self, spec: dict, fault: str | None):
        self.fault = fault
        self.lock = threading.Lock()
        self.ids = itertools.count(118_030_466)
        self.action_ids = itertools.count(1_700_000_001)
        server_create = example(spec, "/servers", "post", "201")
        self.templates = {
            "server": server_create["server"],
            "action": example(spec, "/servers/{id}/actions/poweron", "post", "201")["action"],
            "ssh_key": example(spec, "/ssh_keys/{id}", "put", "200")["ssh_key"],
            "network": example(spec, "/networks/{id}", "put", "200")["network"],
            "placement_group": example(spec, "/placement_groups", "post", "201")["placement_group"],
            "image": example(spec, "/images/{id}", "put", "200")["image"],
            "floating_ip": example(spec, "/floating_ips", "post", "201")["floating_ip"],
            "load_balancer": example(spec, "/load_balancers", "post", "201")["load_balancer"],
        }
        # The live API since 2026: no `datacenter` on servers; per-location availability on
        # server types (hcloud-python fails without it).
        self.templates["server"].pop("datacenter", None)
        for location in self.templates["server"]["server_type"].get("locations", []):
            location.update({"available": True, "recommended": True})
        self.location = copy.deepcopy(self.templates["server"]["location"])
        self.location.update({"name": "fsn1", "city": "Falkenstein", "network_zone": "eu-central"})
        self.store: dict[str, dict[int, dict]] = {k: {} for k in (
            "server", "ssh_key", "network", "placement_group", "firewall", "image", "floating_ip",
            "load_balancer")}
        self.actions: dict[int, dict] = {}
        for arch, image_id in (("x86", 114_690_387), ("arm", 114_690_389)):
            image = self.templates["image"]
            image = copy.deepcopy(image)
            image.update({"id": image_id, "name": "debian-12", "description": "Debian 12", "type": "system",
                          "status": "available", "architecture": arch, "os_flavor": "debian",
                          "os_version": "12", "labels": {}, "bound_to": None, "created_from": None,
                          "deprecated": None, "deleted": None, "rapid_deploy": True})
            self.store["image"][image_id] = image

    # -- helpers ------------------------------------------------------------------------------

    def action(self, command: str, resources: list[tuple[int, str]]) -> dict:
        action = copy.deepcopy(self.templates["action"])
        action.update({"id": next(self.action_ids), "command": command, "status": "running",
                       "progress": 0, "started": now(), "finished": None, "error": None,
                       "resources": [{"id": i, "type": t} for i, t in resources]})
        self.actions[action["id"]] = action
        return copy.deepcopy(action)

    def get(self, kind: str, id: str) -> dict:
        try:
            return self.store[kind][int(id)]
        except (ValueError, KeyError):
            raise ApiError(404, "not_found", f"{kind} with ID '{id}' not found") from None

    def listing(self, kind: str, plural: str, query: dict[str, list[str]], extra=lambda o: True) -> dict:
        selector = (query.get("label_selector") or [None])[0]
        name = (query.get("name") or [None])[0]
        items = [o for o in self.store[kind].values()
                 if matches(o.get("labels") or {}, selector) and (name is None or o.get("name") == name)
                 and extra(o)]
        page = int((query.get("page") or ["1"])[0])
        per_page = min(int((query.get("per_page") or ["25"])[0]), 50)
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page: page * per_page]
        return {plural: [self.render(kind, o) for o in chunk], "meta": {"pagination": {
            "page": page, "per_page": per_page, "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last else None, "last_page": last,
            "total_entries": len(items)}}}

    def render(self, kind: str, obj: dict) -> dict:
        out = copy.deepcopy(obj)
        if kind == "server":
            done = self.actions[obj["_create_action"]]["status"] == "success"
            out["status"] = "booting" if self.fault == "booting" else ("running" if done else "initializing")
        return {k: v for k, v in out.items() if not k.startswith("_")}

    # -- routes -------------------------------------------------------------------------------

    def handle(self, method: str, parts: list[str], query: dict[str, list[str]], body: Any) -> tuple[int, Any]:
        with self.lock:
            return self._handle(method, parts, query, body or {})

    def _handle(self, method: str, parts: list[str], query: dict, body: dict) -> tuple[int, Any]:
        route = (method, *["{id}" if p.isdigit() else p for p in parts])
        if route == ("GET", "actions", "{id}"):
            action = self.actions.get(int(parts[1]))
            if action is None:
                raise ApiError(404, "not_found", f"action with ID '{parts[1]}' not found")
            action.update({"status": "success", "progress": 100, "finished": now()})
            return 200, {"action": copy.deepcopy(action)}
        if route == ("POST", "ssh_keys"):
            blob = base64.b64decode(body["public_key"].split()[1])
            digest = hashlib.md5(blob).hexdigest()  # noqa: S324 - the API's fingerprint format
            key = copy.deepcopy(self.templates["ssh_key"])
            key.update({"id": next(self.ids), "name": body["name"], "public_key": body["public_key"],
                        "labels": body.get("labels") or {}, "created": now(),
                        "fingerprint": ":".join(digest[i:i + 2] for i in range(0, 32, 2))})
            self.store["ssh_key"][key["id"]] = key
            return 201, {"ssh_key": key}
        if route == ("POST", "networks"):
            network = copy.deepcopy(self.templates["network"])
            network.update({"id": next(self.ids), "name": body["name"], "ip_range": body["ip_range"],
                            "labels": body.get("labels") or {}, "created": now(), "servers": [],
                            "load_balancers": [], "routes": [],
                            "subnets": [{"type": s["type"], "ip_range": s["ip_range"],
                                         "network_zone": s["network_zone"], "gateway": "10.0.0.1",
                                         "vswitch_id": None} for s in body.get("subnets", [])]})
            self.store["network"][network["id"]] = network
            return 201, {"network": network}
        if route == ("POST", "placement_groups"):
            group = copy.deepcopy(self.templates["placement_group"])
            group.update({"id": next(self.ids), "name": body["name"], "type": body["type"],
                          "labels": body.get("labels") or {}, "created": now(), "servers": []})
            self.store["placement_group"][group["id"]] = group
            return 201, {"placement_group": group, "action": None}
        if route == ("POST", "firewalls"):
            rules = [{"direction": r["direction"], "protocol": r["protocol"], "port": r.get("port"),
                      "source_ips": r.get("source_ips", []), "destination_ips": r.get("destination_ips", []),
                      "description": r.get("description")} for r in body.get("rules", [])]
            firewall = {"id": next(self.ids), "name": body["name"], "labels": body.get("labels") or {},
                        "created": now(), "rules": rules, "applied_to": []}
            self.store["firewall"][firewall["id"]] = firewall
            return 201, {"firewall": firewall, "actions": []}
        if route == ("POST", "servers"):
            return 201, self.create_server(body)
        if route == ("POST", "servers", "{id}", "actions", "enable_rescue"):
            server = self.get("server", parts[1])
            server["rescue_enabled"] = True
            password = None if self.fault == "no-rescue-password" else "YItygq1v3GYjjMomLaKc"
            return 201, {"action": self.action("enable_rescue", [(server["id"], "server")]),
                         "root_password": password}
        if route == ("POST", "servers", "{id}", "actions", "create_image"):
            server = self.get("server", parts[1])
            image = copy.deepcopy(self.store["image"][server["image"]["id"]])
            image.update({"id": next(self.ids), "name": None, "type": body.get("type") or "snapshot",
                          "status": "available", "description": body.get("description") or "snapshot",
                          "labels": body.get("labels") or {}, "created": now(), "image_size": 0.42,
                          "os_flavor": "debian", "rapid_deploy": False,
                          "created_from": {"id": server["id"], "name": server["name"]}})
            self.store["image"][image["id"]] = image
            return 201, {"image": image, "action": self.action(
                "create_image", [(server["id"], "server"), (image["id"], "image")])}
        if route == ("DELETE", "servers", "{id}"):
            server = self.get("server", parts[1])
            if self.fault != "leak-server":
                del self.store["server"][server["id"]]
                for firewall in self.store["firewall"].values():
                    firewall["applied_to"] = [a for a in firewall["applied_to"]
                                              if a.get("server", {}).get("id") != server["id"]]
                for group in self.store["placement_group"].values():
                    group["servers"] = [s for s in group["servers"] if s != server["id"]]
            return 200, {"action": self.action("delete_server", [(server["id"], "server")])}
        if route == ("POST", "floating_ips"):
            ip = copy.deepcopy(self.templates["floating_ip"])
            ip.update({"id": next(self.ids), "name": body.get("name") or f"floating-ip-{next(self.ids)}",
                       "type": body["type"], "ip": "127.0.0.200", "server": None,
                       "description": body.get("description"), "labels": body.get("labels") or {},
                       "created": now(), "home_location": copy.deepcopy(self.location),
                       "dns_ptr": [{"dns_ptr": "static.200.0.0.127.clients.example.com", "ip": "127.0.0.200"}]})
            self.store["floating_ip"][ip["id"]] = ip
            return 201, {"floating_ip": ip}  # `action` is optional but not nullable
        if route in (("POST", "floating_ips", "{id}", "actions", "assign"),
                     ("POST", "floating_ips", "{id}", "actions", "unassign")):
            ip = self.get("floating_ip", parts[1])
            if parts[3] == "assign":
                server = self.get("server", str(body["server"]))
                ip["server"] = server["id"]
            else:
                server, ip["server"] = {"id": ip["server"]}, None
            return 201, {"action": self.action(f"{parts[3]}_floating_ip",
                                               [(ip["id"], "floating_ip"), (server["id"], "server")])}
        if route == ("DELETE", "floating_ips", "{id}"):
            ip = self.get("floating_ip", parts[1])
            if ip["server"] is not None:
                raise ApiError(422, "must_be_unassigned", "floating IP must be unassigned before deletion")
            del self.store["floating_ip"][ip["id"]]
            return 204, None
        if route == ("POST", "load_balancers"):
            return 201, self.create_load_balancer(body)
        if route == ("DELETE", "load_balancers", "{id}"):
            balancer = self.get("load_balancer", parts[1])
            del self.store["load_balancer"][balancer["id"]]
            if self.fault == "lb-delete-204":
                return 204, None
            return 200, {"action": self.action("delete_load_balancer", [(balancer["id"], "load_balancer")])}

        plurals = {"servers": "server", "ssh_keys": "ssh_key", "networks": "network",
                   "placement_groups": "placement_group", "firewalls": "firewall", "images": "image",
                   "floating_ips": "floating_ip", "load_balancers": "load_balancer"}
        kind = plurals.get(parts[0]) if parts else None
        if kind and route == ("GET", parts[0]):
            extra = lambda o: True  # noqa: E731
            if kind == "image":
                types, archs = query.get("type"), query.get("architecture")
                extra = lambda o: (not types or o["type"] in types) and (not archs or o["architecture"] in archs)  # noqa: E731
            return 200, self.listing(kind, parts[0], query, extra)
        if kind and route == ("GET", parts[0], "{id}"):
            return 200, {kind: self.render(kind, self.get(kind, parts[1]))}
        if kind and route == ("DELETE", parts[0], "{id}"):
            obj = self.get(kind, parts[1])
            del self.store[kind][obj["id"]]
            return 204, None
        raise ApiError(404, "not_found", f"{method} /{'/'.join(parts)} is not served by the self-test fake")

    def create_server(self, body: dict) -> dict:
        image = self.store["image"].get(body["image"]) if isinstance(body["image"], int) else next(
            (i for i in self.store["image"].values() if i["name"] == body["image"] and i["architecture"] == "arm"), None)
        if image is None:
            raise ApiError(422, "invalid_input", f"image {body['image']!r} not found")
        server = copy.deepcopy(self.templates["server"])
        server_id = next(self.ids)
        networks = [self.get("network", str(n)) for n in body.get("networks", [])]
        server.update({
            "id": server_id, "name": body["name"], "labels": body.get("labels") or {}, "created": now(),
            "image": copy.deepcopy(image), "location": copy.deepcopy(self.location),
            "placement_group": None, "rescue_enabled": False, "locked": False, "iso": None,
            "private_net": [{"network": n["id"], "ip": f"10.0.1.{len(n['servers']) + 2}",
                             "alias_ips": [], "mac_address": "86:00:00:2a:7d:e0"} for n in networks],
        })
        # hcloud-python reads the primary IP IDs unconditionally (optional in the description).
        server["public_net"]["ipv4"].update({"id": next(self.ids), "ip": "127.0.0.10"})
        server["public_net"]["ipv6"].update({"id": next(self.ids)})
        server["public_net"]["floating_ips"] = []
        server["server_type"]["name"] = body["server_type"]
        server["server_type"]["architecture"] = "arm"
        server["public_net"]["firewalls"] = [{"id": f["firewall"], "status": "applied"}
                                             for f in body.get("firewalls", [])]
        for network in networks:
            network["servers"].append(server_id)
        for f in body.get("firewalls", []):
            self.get("firewall", str(f["firewall"]))["applied_to"].append({"type": "server", "server": {"id": server_id}})
        if body.get("placement_group") is not None:
            group = self.get("placement_group", str(body["placement_group"]))
            group["servers"].append(server_id)
            server["placement_group"] = copy.deepcopy(group)
        create = self.action("create_server", [(server_id, "server")])
        server["_create_action"] = create["id"]
        self.store["server"][server_id] = server
        next_actions = [self.action("start_server", [(server_id, "server")])]
        return {"server": self.render("server", server), "action": create, "next_actions": next_actions,
                "root_password": None if body.get("ssh_keys") else "YItygq1v3GYjjMomLaKc"}

    def create_load_balancer(self, body: dict) -> dict:
        balancer = copy.deepcopy(self.templates["load_balancer"])
        services = []
        for service in body.get("services", []):
            check = {"interval": 15, "timeout": 10, "retries": 3, "protocol": "tcp",
                     "port": service["destination_port"]}
            check.update({k: v for k, v in service.get("health_check", {}).items() if k != "http"})
            services.append({"protocol": service["protocol"], "listen_port": service["listen_port"],
                             "destination_port": service["destination_port"],
                             "proxyprotocol": service.get("proxyprotocol", False), "health_check": check})
        targets = []
        for target in body.get("targets", []):
            selector = target["label_selector"]["selector"]
            resolved = [{"type": "server", "server": {"id": s["id"]}, "use_private_ip": False,
                         "health_status": [{"listen_port": sv["listen_port"], "status": "healthy"} for sv in services]}
                        for s in self.store["server"].values() if matches(s["labels"], selector)]
            targets.append({"type": "label_selector", "label_selector": {"selector": selector},
                            "use_private_ip": target.get("use_private_ip", False), "targets": resolved})
        balancer.update({"id": next(self.ids), "name": body["name"], "labels": body.get("labels") or {},
                         "created": now(), "location": copy.deepcopy(self.location), "private_net": [],
                         "services": services, "targets": targets,
                         "public_net": {"enabled": True, "ipv4": {"ip": "127.0.0.201", "dns_ptr": None},
                                        "ipv6": {"ip": "::1", "dns_ptr": None}}})
        balancer["load_balancer_type"]["name"] = body["load_balancer_type"]
        self.store["load_balancer"][balancer["id"]] = balancer
        return {"load_balancer": balancer, "action": self.action(
            "create_load_balancer", [(balancer["id"], "load_balancer")])}


def serve(fake: Fake, log_path: Path) -> ThreadingHTTPServer:
    log = log_path.open("w", encoding="utf-8")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def answer(self) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            request = json.loads(raw) if raw else None
            try:
                if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                    raise ApiError(401, "unauthorized", "unable to authenticate")
                if not url.path.startswith("/v1/"):
                    raise ApiError(404, "not_found", "not found")
                parts = url.path[len("/v1/"):].strip("/").split("/")
                status, response = fake.handle(self.command, parts, parse_qs(url.query, keep_blank_values=True), request)
            except ApiError as error:
                status, response = error.status, {"error": {"code": error.code, "message": error.message, "details": None}}
            except Exception as error:  # noqa: BLE001 - a fake bug must show up as a 500, not a hang
                status, response = 500, {"error": {"code": "server_error", "message": repr(error), "details": None}}
            payload = b"" if response is None else json.dumps(response).encode()
            self.send_response(status)
            if payload:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            log.write(json.dumps({"method": self.command, "path": url.path, "query": url.query,
                                  "status": status, "request_body": request, "response_body": response}) + "\n")
            log.flush()

        do_GET = do_POST = do_PUT = do_DELETE = answer

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", required=True, type=Path, help="path to hcloud-openapi.json")
    parser.add_argument("--log", required=True, type=Path, help="where to write the JSON-lines exchange log")
    parser.add_argument("--fault", choices=FAULTS, help="break the fake on purpose")
    args = parser.parse_args(argv)
    fake = Fake(json.loads(args.spec.read_text(encoding="utf-8")), args.fault)
    server = serve(fake, args.log)
    endpoint = f"http://127.0.0.1:{server.server_address[1]}/v1"
    scenario = Path(__file__).with_name("scenario.py")
    result = subprocess.run(
        [sys.executable, str(scenario), "--endpoint", endpoint, "--token", TOKEN, "--poll-interval", "0.01"],
        check=False,
    )
    server.shutdown()
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
