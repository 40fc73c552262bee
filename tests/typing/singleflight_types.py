"""Checklist item 29: what type checkers see of bootup.singleflight (mypy only, never run).

``make lint`` runs ``mypy --strict`` over this file. Each ``assert_type`` pins an inferred type;
each ``# type: ignore[code]`` marks a call that must be rejected. mypy's strict mode includes
``warn_unused_ignores``, so if a wrong call were ever accepted (arity, argument types, key or
value type), its ignore would become unused and the lint would fail.
"""

from __future__ import annotations

import functools
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, assert_type

from bootup.singleflight import AsyncGroup, Group, GroupStatistics, Result


class User:
    pass


def load_user(uid: int, *, fresh: bool = False) -> User:
    return User()


async def fetch_user(uid: int, *, fresh: bool = False) -> User:
    return User()


def sync_types() -> None:
    group: Group[str, User] = Group()
    assert_type(group.do("k", load_user, 1), User)
    assert_type(group.do("k", load_user, 1, timeout=2.0), User)
    assert_type(group.do("k", functools.partial(load_user, fresh=True), 1), User)
    assert_type(group.do_ex("k", load_user, 1), Result[User])
    assert_type(group.do_ex("k", load_user, 1).shared, bool)
    assert_type(group.do_future("k", load_user, 1), Future[User])
    assert_type(group.do_future_ex("k", load_user, 1), Future[Result[User]])
    assert_type(group.forget("k"), bool)
    assert_type(group.forget_unshared("k"), bool)
    assert_type(len(group), int)
    assert_type(group.stats(), GroupStatistics)

    group.do("k", load_user, 1, 2, 3)  # type: ignore[arg-type]
    group.do("k", load_user, "1")  # type: ignore[arg-type]
    group.do("k", load_user)  # type: ignore[arg-type]
    group.do(1, load_user, 1)  # type: ignore[arg-type]
    group.do("k", lambda: 5)  # type: ignore[arg-type, return-value]
    group.do("k", load_user, 1, fresh=True)  # type: ignore[call-arg]
    group.do("k", load_user, 1, timeout="soon")  # type: ignore[arg-type]
    group.do_future("k", load_user, "x")  # type: ignore[arg-type]


def sync_decorator() -> None:
    group: Group[object, User] = Group()

    @group.coalesce(key=lambda uid, fresh=False: uid)
    def cached_load(uid: int, *, fresh: bool = False) -> User:
        return User()

    assert_type(cached_load(1), User)
    assert_type(cached_load(1, fresh=True), User)
    cached_load("1")  # type: ignore[arg-type]
    cached_load(1, 2)  # type: ignore[call-arg, arg-type]
    cached_load(1, stale=True)  # type: ignore[call-arg]


class Repo:
    group: AsyncGroup[object, User] = AsyncGroup()

    @group.coalesce(noself=True)
    async def fetch(self, uid: int) -> User:
        return User()


async def async_types() -> None:
    group: AsyncGroup[str, User] = AsyncGroup()
    assert_type(await group.do("k", fetch_user, 1), User)
    assert_type(await group.do("k", fetch_user, 1, timeout=0.5), User)
    assert_type(await group.do_ex("k", fetch_user, 1), Result[User])
    assert_type(await group.do_future("k", fetch_user, 1), User)
    assert_type(await group.do_future_ex("k", fetch_user, 1), Result[User])

    await group.do("k", fetch_user, 1, 2)  # type: ignore[arg-type]
    await group.do("k", fetch_user, "1")  # type: ignore[arg-type]
    await group.do("k", load_user, 1)  # type: ignore[arg-type]
    await group.do(b"k", fetch_user, 1)  # type: ignore[arg-type]

    assert_type(await Repo().fetch(1), User)
    assert_type(Repo().fetch(1), Coroutine[Any, Any, User]).close()
    await Repo().fetch("1")  # type: ignore[arg-type]
