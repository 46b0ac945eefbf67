"""A mapping that keeps only the most recently used keys: per-session state must not grow without bound."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class Recent(Generic[V]):
    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[str, V] = OrderedDict()
        self._capacity = capacity

    def get(self, key: str) -> V | None:
        """The value, without counting this as a use."""
        return self._items.get(key)

    def put(self, key: str, value: V) -> None:
        self._items[key] = value
        self._used(key)

    def setdefault(self, key: str, make: Callable[[], V]) -> V:
        """The value for `key`, made by `make` if there is none; either way a use."""
        value = self._items.get(key)
        if value is None:
            value = self._items[key] = make()
        self._used(key)
        return value

    def _used(self, key: str) -> None:
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)
