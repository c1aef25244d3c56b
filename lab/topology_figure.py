"""The lab's topology as a picture: `python3 -m lab.topology_figure [--out docs/lab-topology.png]`.

Drawn from the same sources the lab and the dev stack use (lab/topology.py for the
network, Pulumi.dev.yaml for which host serves which group), so regenerating it after a
change keeps the README's picture true.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (the backend must be chosen first)
import yaml  # noqa: E402
from matplotlib.patches import FancyBboxPatch  # noqa: E402

from components.catalog import CATALOG, DEFAULT_ENABLED  # noqa: E402
from lab import topology as t  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "docs" / "lab-topology.png"

# What each infrastructure group puts on a host, in the words an operator uses.
GROUP_CONTAINERS = {
    "loadbalancer": "haproxy + keepalived",
    "database": "mariadb (Galera) + clustercheck",
    "messaging": "rabbitmq",
    "memcached": "memcached",
}


def dev_stack() -> dict[str, Any]:
    config = yaml.safe_load((ROOT / "Pulumi.dev.yaml").read_text())["config"]
    return {k.split(":", 1)[1]: v for k, v in config.items()}


# What the storage tier puts on a host: (service that brings it, group, words).
STORAGE_CONTAINERS = (
    ("cinder-api", "database", "ceph mon + mgr"),
    ("cinder-api", "storage", "ceph osd"),
    ("swift-proxy-server", "storage", "swift storage (14 daemons)"),
)


def host_lines(name: str, stack: dict[str, Any]) -> list[str]:
    """The containers a host runs: its infrastructure groups, the storage tier, then the
    OpenStack services whose catalogue group lists it."""
    groups = stack["groups"]
    enabled = stack.get("enabled_services") or DEFAULT_ENABLED
    lines = [GROUP_CONTAINERS[g] for g in GROUP_CONTAINERS if name in (groups.get(g) or [])]
    lines += [words for service, group, words in STORAGE_CONTAINERS
              if service in enabled and name in (groups.get(group) or [])]
    if "cinder-api" in enabled and name == (groups.get("storage") or [None])[0]:
        lines.append("cinder-volume (single active)")
    services = [s for s in enabled if name in (groups.get(CATALOG[s].group) or [])]
    for start in range(0, len(services), 2):
        lines.append(", ".join(services[start:start + 2]))
    return lines


def draw(out: Path) -> Path:
    stack = dev_stack()
    hosts = stack["hosts"]
    lines_per_host = max(len(host_lines(h["name"], stack)) for h in hosts)
    bottom = 4.1 - (0.95 + 0.3 * lines_per_host)
    fig, ax = plt.subplots(figsize=(13, 0.9 * (6.8 - bottom)))
    ax.set_xlim(0, 13)
    ax.set_ylim(bottom - 0.6, 6.2)
    ax.axis("off")
    # This machine and the lab bridge.
    ax.add_patch(FancyBboxPatch((0.3, 5.0), 12.4, 0.9, boxstyle="round,pad=0.05", fc="#eef2f7", ec="#44546a"))
    ax.text(6.5, 5.62, "this machine: Docker engine, builds the images, runs `python3 -m lab deploy` "
            "and the tests", ha="center", fontsize=10)
    ax.text(6.5, 5.22, f"bridge {t.NETWORK}  {t.SUBNET}  gateway {t.GATEWAY}", ha="center", fontsize=9,
            color="#44546a")
    ax.plot([0.6, 12.4], [4.55, 4.55], color="#44546a", lw=3)
    ax.text(0.6, 4.65, t.NETWORK, fontsize=8, color="#44546a")
    ax.plot([6.5, 6.5], [5.0, 4.55], color="#44546a", lw=1.5)
    # The registry.
    ax.add_patch(FancyBboxPatch((0.4, 3.3), 2.0, 0.8, boxstyle="round,pad=0.05", fc="#fff4e0", ec="#b07000"))
    ax.text(1.4, 3.8, "registry", ha="center", fontsize=10, weight="bold")
    ax.text(1.4, 3.5, f"{t.REGISTRY_IP}:{t.REGISTRY_PORT}", ha="center", fontsize=8)
    ax.plot([1.4, 1.4], [4.1, 4.55], color="#44546a", lw=1.5)
    # The VIP, floating over the load-balancer hosts.
    vip = stack["internal_vip"]
    ax.add_patch(FancyBboxPatch((0.4, 1.9), 2.0, 0.9, boxstyle="round,pad=0.05", fc="#e6f4ea", ec="#1e7b34"))
    ax.text(1.4, 2.45, f"VIP {vip}", ha="center", fontsize=10, weight="bold", color="#1e7b34")
    ax.text(1.4, 2.12, "held by one haproxy host;\nkeepalived (VRRP) moves it", ha="center", fontsize=7.5,
            color="#1e7b34", va="center")
    ax.plot([2.4, 2.8], [2.35, 2.35], color="#1e7b34", lw=1.5, ls="--")
    width = 10.0 / max(len(hosts), 1)
    for i, host in enumerate(hosts):
        x = 2.8 + i * width
        lines = host_lines(host["name"], stack)
        top = 4.1
        height = top - bottom
        ax.add_patch(FancyBboxPatch((x, top - height), width - 0.25, height, boxstyle="round,pad=0.05",
                                    fc="#f5f5f5", ec="#333333"))
        ax.plot([x + (width - 0.25) / 2] * 2, [top, 4.55], color="#44546a", lw=1.5)
        ax.text(x + 0.12, top - 0.3, f"{host['name']}  {host['address']}", fontsize=10, weight="bold")
        ax.text(x + 0.12, top - 0.58, f"{t.CONTAINER_PREFIX}{host['name']}: sshd + dockerd",
                fontsize=7.5, color="#555555")
        for j, line in enumerate(lines):
            ax.text(x + 0.2, top - 0.92 - 0.3 * j, "• " + line, fontsize=8.5)
    ax.text(6.5, bottom - 0.4, "Every service container runs in its host's dockerd with host networking "
            "(kolla style); the program reaches each host over ssh://, as in production.",
            ha="center", fontsize=8.5, style="italic")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    print(draw(parser.parse_args().out))


if __name__ == "__main__":
    main()
