"""Key building for the ``coalesce`` decorators of both groups.

The decorators turn a call ``f(*args, **kwargs)`` into ``group.do(key, partial(f, ...))``. This
module decides the key: either the caller's ``key=`` builder, called with the same arguments as
the function, or a default built from the function and its arguments. ``noself=True`` drops the
first positional argument (``self`` or ``cls`` of a method) from both, so that every instance of
a class shares one flight per argument tuple instead of one per instance.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

__all__ = ("make_key",)


def make_key(
    fn: Callable[..., Any],
    builder: Callable[..., Hashable] | None,
    noself: bool,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Hashable:
    """Return the flight key of one decorated call.

    The default key holds the function itself, so two decorated functions sharing one group
    never join each other's flights, and the keyword arguments sorted by name, so that
    ``f(a=1, b=2)`` and ``f(b=2, a=1)`` coalesce. Arguments must then be hashable.
    """
    if noself:
        if not args:
            raise TypeError(
                f"coalesce(noself=True) on {getattr(fn, '__qualname__', fn)!r} needs the instance "
                "as the first positional argument, but the call has none"
            )
        args = args[1:]
    if builder is not None:
        return builder(*args, **kwargs)
    if kwargs:
        return (fn, args, tuple(sorted(kwargs.items())))
    return (fn, args)
