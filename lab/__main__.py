"""python3 -m lab up [--hosts N] | down | status"""
from __future__ import annotations

import argparse
import sys
from typing import Optional, Sequence

from lab.lab import Lab, LabStatus


def print_status(lab: Lab, status: LabStatus) -> None:
    print(f"registry {lab.registry} (push via {lab.push_registry}): "
          f"{'answers' if status.registry_ok else 'DOWN'}")
    if not status.hosts:
        print("no lab hosts")
    for h in status.hosts:
        print(f"{h.host.name:6s} {h.host.address:12s} "
              f"container={'running' if h.running else 'STOPPED'} "
              f"{h.host.ssh_url}={'ok' if h.ssh_ok else 'FAIL'} "
              f"{h.host.tcp_url}={'ok' if h.tcp_ok else 'FAIL'}")
    if status.hosts:
        print(f"ssh options: -F {lab.ssh_config_path}   (key {lab.key_path})")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m lab")
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="build images if needed and start the lab")
    up.add_argument("--hosts", type=int, default=None,
                    help="number of hosts ctl1..ctlN (default: as running, else 3)")
    up.add_argument("--base-image", default=None,
                    help="BASE_IMAGE for images/base (default: offline debootstrap base)")
    commands.add_parser("down", help="remove every container, volume, network and key the lab made")
    commands.add_parser("status", help="show whether each host's daemon answers")
    options = parser.parse_args(argv)

    if options.command == "up":
        lab = Lab(options.hosts, **({"base_image": options.base_image} if options.base_image else {}))
        status = lab.up()
        print_status(lab, status)
        return 0 if status.healthy else 1
    lab = Lab()
    if options.command == "down":
        lab.down()
        print("lab removed")
        return 0
    status = lab.status()
    print_status(lab, status)
    return 0 if status.healthy else 1


if __name__ == "__main__":
    sys.exit(main())
