"""Names a package imports when first used, so that importing it stays cheap (the
command line's `--help` loads no NumPy, pydantic or Altair)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy(package: str, where: dict[str, str], namespace: dict[str, Any]
         ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """(__getattr__, __dir__) for `package`: `where` maps each name to the module that
    holds it (absolute, or relative to the package: "._sweep"); a name is imported on
    first use and kept in the package's `namespace`."""

    def __getattr__(name: str) -> Any:
        if name in where:
            value = getattr(importlib.import_module(where[name], package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return list(namespace.get("__all__", sorted(where)))

    return __getattr__, __dir__
