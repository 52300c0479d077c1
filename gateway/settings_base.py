"""What every part of the configuration is made of: `Secret` (a value that never prints itself), `SecretString`
(a variable that loads as one) and `InvalidSettings` (what is wrong, one line per variable).

`gateway.config` composes the gateway's own variables with the fragments that name the variables of one outside
system (`gateway.salesforce.settings`, each `gateway.platforms.<name>.settings`); they share these two types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from marshmallow import fields


class Secret:
    """A secret string that never prints itself. Call `reveal()` at the one place the value is used."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    def __str__(self) -> str:
        return "********"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


def secret(value: str | Secret | None) -> Secret | None:
    """A `Secret` from a plain string (None and empty strings stay None)."""
    if value is None or isinstance(value, Secret):
        return value or None
    return Secret(value) if value else None


class SecretString(fields.String):
    """A variable holding a secret: validated as text, loaded as `Secret`, so no later view can print it."""

    def deserialize(
        self, value: Any, attr: str | None = None, data: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> Any:
        loaded = super().deserialize(value, attr, data, **kwargs)
        return Secret(loaded) if isinstance(loaded, str) else loaded


class InvalidSettings(ValueError):
    """Settings that cannot work. `problems` holds one line per problem, each starting with the variable's name
    (`MOBILECOMMONS_USERNAME: missing (…)`), never a secret value."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))
