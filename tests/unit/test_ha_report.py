"""The report's verdicts: what it says of data lost, hosts not back, a slow VIP move and
a downtime over its scenario's bound."""
from __future__ import annotations

from ops.ha_report import standing


def test_a_clean_scenario_is_said_to_be_clean() -> None:
    lines = standing([{"scenario": "api-keystone", "acked_rows_lost": 0, "confirmed_messages_lost": 0,
                       "back_s": {"ctl2": 30.0}, "vip_move_s": None}])
    assert "- api-keystone: 0 lost, back in time" in lines


def test_loss_a_host_not_back_and_a_slow_vip_are_each_named() -> None:
    result = {"scenario": "power-vip", "acked_rows_lost": 2, "confirmed_messages_lost": 0,
              "back_s": {"ctl1": None, "ctl2": 130.5, "ctl3": 50.0}, "vip_move_s": 6.2,
              "still_wrong": {"ctl1": ["galera: no state UUID"]}}
    line = next(line for line in standing([result]) if line.startswith("- power-vip"))
    assert "**data lost**: 2 rows, 0 messages" in line
    assert "ctl1 not back by itself within 120 s (still: galera: no state UUID)" in line
    assert "ctl2 not back by itself within 120 s (130.5 s)" in line and "ctl3" not in line
    assert "VIP moved in 6.2 s (target 3.5 s)" in line
    # After a full power loss the VIP has no holder to move to: no target to judge.
    result["scenario"] = "power-all"
    assert "VIP moved" not in next(line for line in standing([result]) if line.startswith("- power-all"))


def test_the_last_marker_says_back_only_when_every_faulted_host_was() -> None:
    from ops.ha_report import _back_label

    assert _back_label({"back_s": {"ctl1": 44.0, "ctl2": 50.5}}) == "back"
    assert _back_label({"back_s": {"ctl1": 44.0, "ctl2": None}}) == "wait ended, not back"


def test_a_downtime_over_the_scenarios_bound_is_named_per_probe() -> None:
    def figures(downtime: float, failed: int) -> dict:
        return {"downtime_s": downtime, "failed": failed}

    result = {"scenario": "power-vip", "acked_rows_lost": 0, "confirmed_messages_lost": 0,
              "back_s": {"ctl1": 52.8}, "vip_move_s": 3.2,
              "probes": {"token": figures(2.0, 8), "placement": figures(65.18, 8), "db": figures(64.9, 12)}}
    line = next(line for line in standing([result]) if line.startswith("- power-vip"))
    # The DB probe has no bound in power-vip (its target names the APIs only).
    assert line == "- power-vip: downtime over 5 s: placement 65.18 s (8 failed)"
    # A scenario without a bound is judged on loss and return only.
    result["scenario"] = "power-all"
    assert "- power-all: 0 lost, back in time" in standing([result])


def test_the_way_back_names_what_cleared_last_and_when() -> None:
    from ops.ha_report import last_cleared

    seen = [(2.0, ["no kolla-ha container answers"]),
            (40.5, ["galera: no answer", "keystone is starting", "rabbitmq: running nodes none"]),
            (61.0, ["keystone is starting"]),
            (90.2, [])]
    assert last_cleared(seen) == [(61.0, "galera: no answer"), (61.0, "rabbitmq: running nodes none"),
                                  (90.2, "keystone is starting")]
    assert last_cleared(seen, count=1) == [(90.2, "keystone is starting")]
    assert last_cleared([(5.0, [])]) == []
