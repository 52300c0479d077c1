"""Names a package exports without importing the modules that define them, for a package imported by every process
(`gateway.salesforce`, the platform packages) whose heavy modules (simple-salesforce, an adapter's HTTP and XML
stack) only some processes use (`tests/unit/gateway/test_cli_imports.py`)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """A module-level `__getattr__` for `package`: each name of `homes` (name → the module defining it) is imported
    from its module when first asked for (Python caches the module); any other name is an `AttributeError`."""

    def attribute(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(home), name)

    return attribute
