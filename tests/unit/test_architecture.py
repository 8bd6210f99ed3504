"""The rules of the house (docs/architecture.md), enforced: which room may import which.

Every `import orderbot.X…` / `from orderbot.X… import` in a module of a room is checked against that room's
allowed list, including imports inside functions (a lazy import is still a dependency). Third-party rules: the
core never imports aiohttp.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "orderbot"

# room → the rooms (and root modules) it may import; "*" means anything
ALLOWED: dict[str, set[str]] = {
    "core": {"core", "config"},
    "db": {"db", "core"},
    "adapters": {"adapters", "core", "config", "settings"},
    "tools": {"tools", "core", "db", "config"},
    "printing": {"printing", "core", "bot.charts.fonts"},
    "messaging": {"messaging", "core", "db", "config", "bot.charts.png"},
    "webhooks": {"webhooks", "messaging", "core", "db", "config", "settings"},
    "bot": {"bot", "core", "db", "config", "messaging"},
    "jobs": {"jobs", "bot", "messaging", "core", "db", "config", "webhooks.common"},
    "sandbox": {
        "sandbox",
        "webhooks",
        "messaging",
        "bot",
        "jobs",
        "adapters",
        "tools",
        "printing",
        "core",
        "db",
        "config",
        "settings",
    },
    "cli": {"*"},
}
ROOT_MODULES = {"app", "bootstrap", "settings", "config", "__init__", "__main__"}
FORBIDDEN_THIRD_PARTY = {"core": {"aiohttp"}}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "orderbot":  # from orderbot import x
                found += [(node.lineno, f"orderbot.{a.name}") for a in node.names]
    return found


def _permitted(target: str, allowed: set[str]) -> bool:
    return "*" in allowed or any(target == a or target.startswith(a + ".") for a in allowed)


def _room_files():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] in ALLOWED and "migrations" not in rel.parts:
            yield rel.parts[0], path


def test_the_root_holds_only_the_named_modules_and_the_rooms():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules <= ROOT_MODULES, f"loose modules at the package root: {sorted(modules - ROOT_MODULES)}"
    rooms = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert rooms <= set(ALLOWED), f"packages that are not rooms: {sorted(rooms - set(ALLOWED))}"


@pytest.mark.parametrize("room", sorted(r for r in ALLOWED if r != "cli"))
def test_a_room_imports_only_what_the_house_rules_allow(room):
    broken = []
    for owner, path in _room_files():
        if owner != room:
            continue
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top in FORBIDDEN_THIRD_PARTY.get(room, ()):
                broken.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
            if top != "orderbot" or module == "orderbot":
                continue
            target = module.removeprefix("orderbot.")
            if target.split(".")[0] in {"app", "bootstrap", "cli"}:
                broken.append(f"{path.relative_to(PACKAGE)}:{line} imports the entry point {module}")
            elif not _permitted(target, ALLOWED[room]):
                broken.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not broken, "imports against the rules of the house:\n" + "\n".join(broken)


def test_the_checker_sees_a_violation(tmp_path):
    """The rule check itself can fail: a core module importing the bot is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from orderbot.bot.dispatch import Dispatcher\nimport aiohttp\n", encoding="utf-8")
    targets = [m.removeprefix("orderbot.") for _, m in _imports(bad) if m.startswith("orderbot.")]
    assert targets == ["bot.dispatch"] and not _permitted(targets[0], ALLOWED["core"])
