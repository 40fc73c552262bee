"""Key-owner routing by rendezvous hashing (the groupcache pattern)."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bootup.errors import SingleflightError
from bootup.singleflight._owner import KeyOwner, RoutingError

NODES = [f"10.0.0.{i}:8000" for i in range(1, 6)]
KEYS = [f"user:{i}" for i in range(5000)]


def test_every_key_has_one_owner_from_the_list() -> None:
    owner = KeyOwner(NODES)
    for key in KEYS[:200]:
        assert owner.owner(key) in NODES
        assert owner.ranked(key)[0] == owner.owner(key)
        assert sorted(owner.ranked(key)) == sorted(NODES)


def test_order_of_the_node_list_does_not_matter() -> None:
    a = KeyOwner(NODES)
    b = KeyOwner(list(reversed(NODES)))
    assert all(a.owner(k) == b.owner(k) for k in KEYS[:500])


def test_keys_spread_evenly() -> None:
    owner = KeyOwner(NODES)
    counts = Counter(owner.owner(k) for k in KEYS)
    expected = len(KEYS) / len(NODES)
    # 5000 keys over 5 nodes: a binomial spread of about +-28; 15 % is generous but
    # would catch a broken hash that favours one node.
    assert all(abs(n - expected) < 0.15 * expected for n in counts.values()), counts


def test_only_the_leaving_nodes_keys_move() -> None:
    owner = KeyOwner(NODES)
    smaller = owner.without(NODES[2])
    for key in KEYS:
        before, after = owner.owner(key), smaller.owner(key)
        if before != NODES[2]:
            assert after == before
        else:
            assert after == owner.ranked(key)[1]  # its runner-up takes it


def test_a_joining_node_takes_only_keys_it_wins() -> None:
    owner = KeyOwner(NODES)
    bigger = KeyOwner([*NODES, "10.0.0.9:8000"])
    moved = [k for k in KEYS if owner.owner(k) != bigger.owner(k)]
    assert all(bigger.owner(k) == "10.0.0.9:8000" for k in moved)
    assert 0.1 * len(KEYS) < len(moved) < 0.3 * len(KEYS)  # about 1/6 of the keys


def test_same_owner_in_another_process() -> None:
    # Python's hash() is salted per process; the owner must not be.
    code = (
        "from bootup.singleflight._owner import KeyOwner;"
        f"o = KeyOwner({NODES!r});"
        "print(','.join(o.owner(f'user:{i}') for i in range(50)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"},
    ).stdout.strip()
    owner = KeyOwner(NODES)
    assert out.split(",") == [owner.owner(f"user:{i}") for i in range(50)]


def test_is_local_and_bytes_keys() -> None:
    owners = [KeyOwner(NODES, self_node=node) for node in NODES]
    for key in (b"raw", "text", "ü"):
        assert sum(o.is_local(key) for o in owners) == 1
    assert KeyOwner(NODES).owner(b"abc") == KeyOwner(NODES).owner("abc")


@pytest.mark.parametrize(
    ("nodes", "self_node", "match"),
    [
        ([], None, "empty"),
        (["a", "a"], None, "twice"),
        (["a", ""], None, "#1"),
        (["a"], "b", "self_node"),
    ],
)
def test_bad_node_lists_are_refused(nodes: list[str], self_node: str | None, match: str) -> None:
    with pytest.raises(RoutingError, match=match) as info:
        KeyOwner(nodes, self_node=self_node)
    assert isinstance(info.value, SingleflightError)
    assert isinstance(info.value, ValueError)


def test_is_local_needs_self_node() -> None:
    with pytest.raises(RoutingError, match="self_node"):
        KeyOwner(["a"]).is_local("k")


@given(
    nodes=st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=8, unique=True),
    key=st.text(max_size=20),
)
def test_owner_is_the_first_ranked_and_stable_under_removal(nodes: list[str], key: str) -> None:
    owner = KeyOwner(nodes)
    ranked = owner.ranked(key)
    assert ranked[0] == owner.owner(key)
    if len(nodes) > 1:
        # Removing any node other than the owner never changes the owner.
        for node in nodes:
            if node != ranked[0]:
                assert owner.without(node).owner(key) == ranked[0]
