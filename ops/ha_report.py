"""The HA report a person reads, regenerated from one scenario run.

    python3 -m ops.ha_report runs/ha [--out docs/ha-report.md]

Writes the markdown report (a table per scenario, the targets, where the project
stands) and one timeline plot per scenario next to it (`docs/ha-report/<name>.png`):
every request of every probe as a dot (latency; failures in red on the top line), the
fault, the heal and the moment the faulted hosts were back in every tier.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (backend first)

from ops.ha_scenarios import BACK_TARGET_S, DOWNTIME_TARGETS, VIP_SCENARIOS, VIP_TARGET_S  # noqa: E402  (with the scenarios)

ROOT = Path(__file__).resolve().parent.parent
ORDER = ("baseline", "api-", "db-writer", "db-quorum", "rabbitmq", "memcached", "haproxy-vip", "freeze-", "power-vip",
         "isolate-vip", "power-all", "scale")


def _rank(name: str) -> tuple[int, str]:
    for i, prefix in enumerate(ORDER):
        if name.startswith(prefix):
            return i, name
    return len(ORDER), name


def load_run(run: Path) -> list[dict[str, Any]]:
    results = [json.loads(p.read_text()) for p in sorted(run.glob("*.json"))]
    return sorted(results, key=lambda r: _rank(r["scenario"]))


def _back_label(result: dict[str, Any]) -> str:
    """The last marker is when every faulted host was back, or when the wait for it ended."""
    back = result["back_s"].values()
    return "back" if all(s is not None for s in back) else "wait ended, not back"


def plot(result: dict[str, Any], out: Path) -> None:
    t0 = result["fault_at"]
    probes = list(result["probes"])
    fig, axes = plt.subplots(len(probes), 1, figsize=(10, 1.15 * len(probes) + 0.8), sharex=True, squeeze=False)
    for ax, probe in zip(axes[:, 0], probes):
        ok = [(s["end"] - t0, (s["end"] - s["start"]) * 1000) for s in result["samples"]
              if s["probe"] == probe and s["ok"]]
        bad = [(s["start"] - t0, s["end"] - t0) for s in result["samples"] if s["probe"] == probe and not s["ok"]]
        if ok:
            ax.scatter([x for x, _ in ok], [y for _, y in ok], s=3, color="#2e7d32")
        top = max([y for _, y in ok] or [1000]) * 1.5
        for start, end in bad:
            ax.plot([start, end], [top, top], color="#c62828", lw=3, solid_capstyle="butt")
        ax.set_yscale("log")
        ax.set_ylabel(f"{probe}\nms", fontsize=8)
        ax.tick_params(labelsize=7)
        for at, color, label in ((0, "#c62828", "fault"), (result["heal_at"] - t0, "#ef6c00", "heal"),
                                 (result["recovered_at"] - t0, "#1565c0", _back_label(result))):
            ax.axvline(at, color=color, lw=1, ls="--", label=label)
    axes[0, 0].legend(loc="upper right", fontsize=7, ncol=3)
    axes[0, 0].set_title(f"{result['scenario']}: {result['title']}", fontsize=9)
    axes[-1, 0].set_xlabel("seconds since the fault (dots: requests that succeeded, by latency; "
                           "red bars: failed requests)", fontsize=8)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90, bbox_inches="tight")
    plt.close(fig)


def _fmt(value: Any) -> str:
    return "–" if value is None else str(value)


def last_cleared(way_back: list[tuple[float, list[str]]], count: int = 3) -> list[tuple[float, str]]:
    """The last `count` things a host lacked on its way back, with the second (from the
    heal) each was first seen gone: what its figure waited for."""
    cleared: list[tuple[float, str]] = []
    for (_, before), (at, after) in zip(way_back, way_back[1:]):
        cleared += [(at, problem) for problem in before if problem not in after]
    return cleared[-count:]


def scenario_section(result: dict[str, Any], image: str) -> list[str]:
    back = ", ".join(f"{h} {_fmt(s)} s" for h, s in result["back_s"].items()) or "–"
    vip = result["vip_move_s"]
    moves = ", ".join(f"{m['source']}→{m['target']}" for m in result["vip_moves"])
    lines = [
        f"### {result['scenario']}: {result['title']}",
        "",
        f"Target: {result['target']}.",
        "",
        f"Faulted: {', '.join(result['hosts']) or 'nothing'}; back in every tier after the heal: {back}"
        + ("" if result["back_within_target"] else " (**not within 120 s**)")
        + f"; VIP moved: {_fmt(vip)} s"
        + (f" ({moves})" if moves else "")
        + f"; acked rows lost: **{result['acked_rows_lost']}** of {result['acked_rows']}; "
        f"confirmed messages lost: **{result['confirmed_messages_lost']}** of {result['confirmed_messages']}.",
        "",
        "| probe | ok | failed | downtime (s) | p50 / p99 before (ms) | during | after | first error |",
        "|---|---:|---:|---:|---|---|---|---|",
    ]
    for probe, f in result["probes"].items():
        lines.append(
            f"| {probe} | {f['ok']} | {f['failed']} | {f['downtime_s']} | {_fmt(f['p50_before_ms'])} / "
            f"{_fmt(f['p99_before_ms'])} | {_fmt(f['p50_during_ms'])} / {_fmt(f['p99_during_ms'])} | "
            f"{_fmt(f['p50_after_ms'])} / {_fmt(f['p99_after_ms'])} | {f['first_error'][:80].replace('|', '/')} |"
        )
    waits = {host: last_cleared(seen) for host, seen in (result.get("way_back") or {}).items()}
    if any(waits.values()):
        lines += ["", "Last to come back: " + "; ".join(
            f"{host}: " + ", ".join(f"{problem[:60]} ({at} s)" for at, problem in cleared)
            for host, cleared in waits.items() if cleared)]
    if result["still_wrong"]:
        lines += ["", "Still wrong when the wait ended: "
                  + "; ".join(f"{h}: {', '.join(w)}" for h, w in result["still_wrong"].items())]
    lines += ["", f"![{result['scenario']}]({image})", ""]
    return lines


def summary_table(results: list[dict[str, Any]]) -> list[str]:
    """Downtime per probe (first to last error, seconds, and the failed requests in
    brackets; '–' when the probe did not run), then the VIP, the way back and the
    data-safety counts."""
    probes = [p for p in ("token", "identity", "placement", "image", "db", "amqp")
              if any(p in r["probes"] for r in results)]
    lines = ["| scenario | " + " | ".join(f"{p} (s)" for p in probes)
             + " | VIP moved (s) | back (s) | acked rows lost | confirmed msgs lost |",
             "|---|" + "---:|" * len(probes) + "---:|---|---:|---:|"]
    for r in results:
        downtimes = [f"{_fmt(r['probes'][p]['downtime_s'])} ({r['probes'][p]['failed']})" if p in r["probes"] else "–"
                     for p in probes]
        back = ", ".join(_fmt(s) for s in r["back_s"].values()) or "–"
        lines.append(f"| {r['scenario']} | " + " | ".join(downtimes)
                     + f" | {_fmt(r['vip_move_s'])} | {back} | {r['acked_rows_lost']} | {r['confirmed_messages_lost']} |")
    return lines


def standing(results: list[dict[str, Any]]) -> list[str]:
    """Where the run stands against the targets that are not a judgement call: the data
    lost, the hosts back by themselves and in time, how long the VIP took to move, and
    the downtime bounds of the scenarios that have one."""
    lines = ["## Where it stands", ""]
    for r in results:
        lost = r.get("acked_rows_lost", 0) + r.get("confirmed_messages_lost", 0)
        late = {h: s for h, s in (r.get("back_s") or {}).items() if s is None or s > BACK_TARGET_S}
        vip = r.get("vip_move_s")
        notes = []
        if lost:
            notes.append(f"**data lost**: {r.get('acked_rows_lost', 0)} rows, {r.get('confirmed_messages_lost', 0)} messages")
        for host, seconds in late.items():
            why = "; ".join((r.get("still_wrong") or {}).get(host, [])) or "late"
            notes.append(f"{host} not back by itself within {BACK_TARGET_S:.0f} s"
                         + (f" ({seconds} s)" if seconds is not None else f" (still: {why})"))
        if r["scenario"] in VIP_SCENARIOS and vip is not None and vip > VIP_TARGET_S:
            notes.append(f"VIP moved in {vip} s (target {VIP_TARGET_S} s)")
        bound, probes = DOWNTIME_TARGETS.get(r["scenario"], (0.0, ()))
        over = [f"{p} {r['probes'][p]['downtime_s']} s ({r['probes'][p]['failed']} failed)" for p in probes
                if p in r.get("probes", {}) and r["probes"][p]["downtime_s"] > bound]
        if over:
            notes.append(f"downtime over {bound:g} s: " + ", ".join(over))
        lines.append(f"- {r['scenario']}: " + ("; ".join(notes) if notes else "0 lost, back in time"))
    return [*lines, ""]


def write_report(run: Path, out: Path, preamble: str = "") -> Path:
    results = load_run(run)
    images = out.parent / out.stem
    lines = [
        "# HA under real faults: the report",
        "",
        f"Generated by `python3 -m ops.ha_report RUN_DIR` from a run of `python3 -m ops.ha_scenarios` "
        f"(this one: `{run.name}`) "
        "on the dev stack in the lab (three hosts on one 2-core machine). Regenerate it with the "
        "same two commands; every figure below comes from that run.",
        "",
    ]
    if preamble:
        lines += [preamble, ""]
    lines += [
        "Targets: one API replica killed — at most the requests in flight fail; active DB writer lost — DB "
        "and API downtime ≤ 3 s, 0 acked rows lost; VIP holder lost (power or network) — API downtime "
        "≤ 5 s, VIP moves within 3.5 s; HAProxy dies on the VIP holder — API downtime ≤ 5 s; one RabbitMQ "
        "node lost — 0 confirmed messages lost, publishing resumes within 5 s; every faulted host back in "
        "every tier by itself within 120 s of its heal; scale out/in under load — 0 failed requests.",
        "",
        "Downtime is first error to last error as a client saw it (failed requests in brackets): "
        "a few failures spread over a long time show as a long downtime.",
        "",
        "## Summary",
        "",
        *summary_table(results),
        "",
        *standing(results),
        "## Scenarios",
        "",
    ]
    for r in results:
        image = images / f"{r['scenario']}.png"
        plot(r, image)
        lines += scenario_section(r, f"{images.name}/{image.name}")
    out.write_text("\n".join(lines))
    return out


README_BEGIN = "<!-- BEGIN ha-figures -->"
README_END = "<!-- END ha-figures -->"


def update_readme(run: Path, readme: Path, report: Path) -> None:
    """Put the run's summary table into README.md between its ha-figures markers."""
    text = readme.read_text()
    start, end = text.index(README_BEGIN) + len(README_BEGIN), text.index(README_END)
    block = ["", f"Measured in the lab (downtime in seconds, first to last error, failed requests in "
                 f"brackets; full tables and plots in [{report.relative_to(readme.parent)}]"
                 f"({report.relative_to(readme.parent)})):", "", *summary_table(load_run(run)), ""]
    readme.write_text(text[:start] + "\n".join(block) + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ha-report.md")
    parser.add_argument("--preamble", default="", help="a paragraph placed above the targets")
    parser.add_argument("--readme", action="store_true", help="also put the summary table into README.md")
    args = parser.parse_args()
    print(write_report(args.run, args.out, args.preamble))
    if args.readme:
        update_readme(args.run, ROOT / "README.md", args.out)


if __name__ == "__main__":
    main()
