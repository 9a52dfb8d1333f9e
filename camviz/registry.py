"""A small name -> object registry: the only global state of camviz."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from camviz.errors import CamvizError, unknown

T = TypeVar("T")


class Registry(Generic[T]):
    """Names mapped to objects; duplicates are rejected, typos get suggestions."""

    def __init__(self, kind: str, hint: str = "") -> None:
        self.kind = kind
        self.hint = hint
        self._items: dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; without ``obj``, return a decorator."""
        def add(item: T) -> T:
            if name in self._items:
                raise CamvizError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = item
            return item

        return add if obj is None else add(obj)

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise unknown(self.kind, name, self.names(), self.hint) from None

    def names(self) -> list[str]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)
