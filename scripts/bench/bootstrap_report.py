"""The figures of scripts/bench/bootstrap.sh from what it collected in WORK.

Usage: bootstrap_report.py WORK TIME_SCALE PROFILE

WORK/small holds the 3+3 run (apply-log.json: GET /__sim/log during `apply`; wall: its
seconds; settings.json: GET /__sim/settings); WORK/big, when present, the 100-node run
(plan-log.json, apply-log.json). Prints a table and the ratios against the targets.
"""

import collections
import datetime
import json
import os
import re
import sys

# The emulated Talos nodes' VIP controller calls the API too; it is not the tool.
NODE_AGENT = "talos/"


def tool_requests(log):
    return [r for r in log if not (r.get("user_agent") or "").startswith(NODE_AGENT)]


def seconds(stamp):
    return datetime.datetime.fromisoformat(stamp).timestamp()


def actions_of(value, found):
    """Every action object in a response body, keyed by ID (the last view wins, finished
    views over running ones)."""
    if isinstance(value, dict):
        if {"id", "command", "started", "finished", "status"} <= value.keys():
            seen = found.get(value["id"])
            if seen is None or seen["finished"] is None or value["finished"] is not None:
                found[value["id"]] = value
        for item in value.values():
            actions_of(item, found)
    elif isinstance(value, list):
        for item in value:
            actions_of(item, found)
    return found


def critical_path(log, boot):
    """The critical path in simulated seconds and its parts (see bootstrap.sh)."""
    actions = actions_of([r.get("response_body") for r in log], {})
    done = [a for a in actions.values() if a["finished"] is not None]
    if not done:
        raise SystemExit("bench: no finished action in the log")
    by_server = collections.defaultdict(list)
    infra = {}
    lbs = []
    assign = []
    for a in done:
        kinds = {r["type"] for r in a["resources"]}
        if "server" in kinds and a["command"] != "assign_floating_ip":
            server = next(r["id"] for r in a["resources"] if r["type"] == "server")
            by_server[server].append(a)
        elif a["command"] == "create_load_balancer":
            lbs.append(a)
        elif a["command"] == "assign_floating_ip":
            assign.append(a)
        else:
            infra[a["id"]] = a
    duration = lambda a: seconds(a["finished"]) - seconds(a["started"])
    infra_ready = max((duration(a) for a in infra.values()), default=0.0)
    network = max((duration(a) for a in infra.values() if a["command"] == "create_network"), default=0.0)
    chains = {}
    for server, server_actions in by_server.items():
        server_actions.sort(key=lambda a: (seconds(a["started"]), a["id"]))
        t = infra_ready
        ends = {}
        previous_end = None
        for a in server_actions:
            begins = seconds(a["started"]) if previous_end is None else max(seconds(a["started"]), previous_end)
            t += seconds(a["finished"]) - begins
            previous_end = seconds(a["finished"])
            ends.setdefault(a["command"], t)
        # The Talos boot starts when the server first runs.
        running_at = ends.get("start_server", ends.get("create_server", t))
        configured = max(running_at + boot, t) + boot
        chains[server] = (t, running_at, configured)
    cluster = max(c[2] for c in chains.values())
    lb_path = network + max((duration(a) for a in lbs), default=0.0)
    assign_path = infra_ready + max((duration(a) for a in assign), default=0.0)
    commands = collections.Counter(a["command"] for a in done)
    return {
        "total": max(cluster, lb_path, assign_path),
        "infra": infra_ready,
        "server_actions": max(c[0] for c in chains.values()) - infra_ready,
        "boots": 2 * boot,
        "commands": commands,
    }


def summarize(log):
    mine = tool_requests(log)
    kinds = collections.Counter()
    for r in mine:
        path = re.sub(r"/\d+", "/{id}", r["path"])
        kinds[f"{r['method']} {path}"] += 1
    return mine, kinds


def main():
    work, scale, profile = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    small = os.path.join(work, "small")
    log = json.load(open(os.path.join(small, "apply-log.json")))
    wall = float(open(os.path.join(small, "wall")).read())
    settings = json.load(open(os.path.join(small, "settings.json")))
    # An emulator without GET /__sim/settings: the boot delay docs/simulator.md states.
    boot = settings.get("talos_boot_seconds", 40.0)
    path = critical_path(log, boot)
    critical_real = path["total"] / scale
    mine, kinds = summarize(log)
    report = json.load(open(os.path.join(small, "apply.json")))

    load = os.getloadavg()
    print()
    print(f"{profile} build, emulator at {scale:g}x, {os.cpu_count()} CPUs, load average "
          f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}, {datetime.date.today()}")
    print()
    print("3+3 reference cluster, `apply` from nothing (snapshot and secrets made before)")
    print("| figure | value | target |")
    print("|---|---|---|")
    print(f"| wall time of apply | {wall:.2f} s | |")
    print(f"| critical path (simulated) | {path['total']:.0f} s = {path['infra']:.0f} s resources "
          f"+ {path['server_actions']:.0f} s server actions + {path['boots']:.0f} s two Talos boots | |")
    print(f"| critical path at {scale:g}x | {critical_real:.2f} s | |")
    print(f"| wall / critical path | {wall / critical_real:.2f} | <= 1.15 |")
    print(f"| API requests (emulator log, tool only) | {len(mine)} | <= 60 |")
    print(f"| API requests (apply's own count) | {report.get('requests', '?')} | |")
    print(f"| VIP controller requests (emulated nodes) | {len(log) - len(mine)} | |")
    print()
    print("requests by route: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print("actions: " + ", ".join(f"{k} {v}" for k, v in sorted(path["commands"].items())))
    phases = report.get("phases") or []
    if phases:
        print("apply's phases: " + ", ".join(f"{name} {secs:.2f} s" for name, secs in phases))

    big = os.path.join(work, "big")
    if os.path.isdir(big):
        plan_log = tool_requests(json.load(open(os.path.join(big, "plan-log.json"))))
        apply_log = json.load(open(os.path.join(big, "apply-log.json")))
        apply_mine, apply_kinds = summarize(apply_log)
        big_wall = float(open(os.path.join(big, "wall")).read())
        big_path = critical_path(apply_log, boot)
        print()
        print("100 nodes (3 control planes + 97 workers)")
        print("| figure | value | target |")
        print("|---|---|---|")
        print(f"| requests, plan | {len(plan_log)} | |")
        print(f"| requests, apply | {len(apply_mine)} | |")
        print(f"| requests, plan + apply | {len(plan_log) + len(apply_mine)} | <= 1000 |")
        print(f"| wall time of apply | {big_wall:.1f} s | |")
        print(f"| critical path at {scale:g}x | {big_path['total'] / scale:.2f} s | |")
        print()
        print("apply requests by route: " + ", ".join(f"{k} {v}" for k, v in apply_kinds.most_common()))


main()
