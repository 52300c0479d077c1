"""The rules of the layout that import-linter cannot see: the sync and domain layers name no platform, SOQL is
written only in `gateway/salesforce/`, and every Redis key template has one owner."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

from gateway.platforms import REGISTRY

GATEWAY = Path(__file__).resolve().parents[3] / "gateway"


def _sources(*parts: str) -> list[Path]:
    return sorted(p for part in parts for p in (GATEWAY / part).rglob("*.py"))


def _relative(path: Path) -> str:
    return str(path.relative_to(GATEWAY.parent))


def test_the_sync_and_domain_layers_name_no_platform() -> None:
    """Adding a platform must not touch them: a platform's name or title there means the Protocol is missing
    something (docstrings and comments included: they are how the next engineer learns the layer)."""
    words = {entry.name for entry in REGISTRY.values()} | {entry.title for entry in REGISTRY.values()}
    assert words, "the registry is empty"
    pattern = re.compile("|".join(re.escape(w).replace(r"\ ", r"\s*") for w in sorted(words)), re.IGNORECASE)
    found = [
        f"{_relative(path)}:{n}: {line.strip()}"
        for path in _sources("sync", "domain")
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []


SOQL = re.compile(r"\bSELECT\b[^\n]*\bFROM\b|\bFROM\s+[A-Z]\w*\s+WHERE\b")


def test_soql_is_written_only_in_the_salesforce_package() -> None:
    outside = [
        path
        for path in _sources(".")
        if not _relative(path).startswith(("gateway/salesforce/", "gateway/emulators/"))
        and path.name != "demo.py"  # the demo acts as a Salesforce user editing records, not as the gateway
    ]
    found = [
        f"{_relative(path)}:{n}"
        for path in outside
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if SOQL.search(line)
    ]
    assert found == []


KEY = re.compile(r"^gateway:[a-z]")


def _key_templates(path: Path) -> set[str]:
    """The Redis key templates a module spells out (string literals and f-string heads like `gateway:…`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and KEY.match(node.value):
            found.add(node.value)
        if isinstance(node, ast.JoinedStr) and node.values:
            head = node.values[0]
            if isinstance(head, ast.Constant) and isinstance(head.value, str) and KEY.match(head.value):
                found.add(head.value + "…")
    return found


def test_every_redis_key_template_has_one_owner() -> None:
    owners: dict[str, list[str]] = defaultdict(list)
    for path in _sources("."):
        if _relative(path).startswith("gateway/emulators/"):
            continue
        for template in _key_templates(path):
            owners[template].append(_relative(path))
    assert owners, "no key template found: the scan is broken"
    shared = {template: modules for template, modules in owners.items() if len(modules) > 1}
    assert shared == {}
    sync_state = {
        module
        for template, modules in owners.items()
        if template.startswith(("gateway:version:", "gateway:fingerprint:"))
        for module in modules
    }
    assert sync_state == {"gateway/sync/state.py"}
