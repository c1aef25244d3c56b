"""The full-shutdown recovery decision: which node forms the new cluster."""
import pytest

from ops.galera_recover import NodeState, choose_bootstrap, parse_grastate, parse_recovered

UUID = "5ee99582-bb8d-11ee-8e36-2f7e4a5b3c8d"


def grastate(seqno: int, safe: int, uuid: str = UUID) -> str:
    return (
        "# GALERA saved state\nversion: 2.1\n"
        f"uuid:    {uuid}\nseqno:   {seqno}\nsafe_to_bootstrap: {safe}\n"
    )


def test_parse_grastate_reads_uuid_seqno_and_flag() -> None:
    state = parse_grastate("ctl2", grastate(1234, 1))
    assert state == NodeState("ctl2", UUID, 1234, True)


def test_highest_seqno_is_chosen_even_when_another_node_is_marked_safe() -> None:
    states = [
        parse_grastate("ctl1", grastate(100, 1)),
        parse_grastate("ctl2", grastate(250, 0)),
        parse_grastate("ctl3", grastate(180, 0)),
    ]
    assert choose_bootstrap(states).name == "ctl2"


def test_tie_prefers_the_node_galera_marked_safe() -> None:
    states = [parse_grastate("ctl1", grastate(90, 0)), parse_grastate("ctl2", grastate(90, 1))]
    assert choose_bootstrap(states).name == "ctl2"


def test_crashed_node_position_comes_from_wsrep_recover() -> None:
    crashed = parse_grastate("ctl3", grastate(-1, 0))
    log = f"2026-11-24 10:00:00 0 [Note] WSREP: Recovered position: {UUID}:777\n"
    recovered = parse_recovered("ctl3", log, crashed)
    assert recovered.seqno == 777
    states = [parse_grastate("ctl1", grastate(500, 0)), recovered]
    assert choose_bootstrap(states).name == "ctl3"


def test_unknown_seqno_is_refused() -> None:
    states = [parse_grastate("ctl1", grastate(5, 0)), parse_grastate("ctl2", grastate(-1, 0))]
    with pytest.raises(ValueError, match="seqno unknown on ctl2"):
        choose_bootstrap(states)


def test_nodes_of_different_clusters_are_refused() -> None:
    other = "11111111-2222-3333-4444-555555555555"
    states = [parse_grastate("ctl1", grastate(5, 0)), parse_grastate("ctl2", grastate(9, 0, other))]
    with pytest.raises(ValueError, match="different clusters"):
        choose_bootstrap(states)
