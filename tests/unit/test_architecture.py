"""The rules of the house (docs/architecture.md), enforced: which room may import which, and who may run SQL.

Every `import orderbot.X…` / `from orderbot.X… import` in a module of a room is checked against that room's
allowed list, including imports inside functions (a lazy import is still a dependency). Third-party rules: the
core never imports aiohttp. Jobs call use cases, never the chat's handlers. The chat (`bot/`), the HTTP edges
(`webhooks/`), the sandbox's routes and its demo company build no SQL statements and run none: they call core
services and read models (`core/…`, `db/health.py`, `sandbox/readmodel.py`).
"""

from __future__ import annotations

import ast
import re
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
    "messaging": {"messaging", "core", "db", "config"},
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
# inside an allowed room, the parts a room may still not import
FORBIDDEN_INTERNAL: dict[str, set[str]] = {"jobs": {"bot.handlers"}}

# where no SQL is written: the sqlalchemy names that build statements, and the calls that run them
NO_SQL = ("bot", "webhooks", "sandbox/routes.py", "sandbox/company.py")
STATEMENT_NAMES = {"select", "insert", "update", "delete", "text"}
RUNNING_CALLS = {"execute", "exec_driver_sql"}
# the ORM through a session: a row loaded or written without a statement is still the database, not the chat
SESSION_CALLS = {"get", "add", "add_all", "delete", "merge", "scalar", "scalars", "stream", "refresh", "flush"}


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
            elif not _permitted(target, ALLOWED[room]) or _permitted(target, FORBIDDEN_INTERNAL.get(room, set())):
                broken.append(f"{path.relative_to(PACKAGE)}:{line} imports {module}")
    assert not broken, "imports against the rules of the house:\n" + "\n".join(broken)


def test_the_checker_sees_a_violation(tmp_path):
    """The rule check itself can fail: a core module importing the bot is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from orderbot.bot.dispatch import Dispatcher\nimport aiohttp\n", encoding="utf-8")
    targets = [m.removeprefix("orderbot.") for _, m in _imports(bad) if m.startswith("orderbot.")]
    assert targets == ["bot.dispatch"] and not _permitted(targets[0], ALLOWED["core"])


def test_jobs_never_import_the_chat_handlers(tmp_path):
    """The rule can fail: a job reaching for a handler (the daily report once faked a chat Context) is caught."""
    bad = tmp_path / "bad_job.py"
    bad.write_text("from orderbot.bot.handlers import reports\n", encoding="utf-8")
    [(_, module)] = _imports(bad)
    target = module.removeprefix("orderbot.")
    assert _permitted(target, ALLOWED["jobs"]) and _permitted(target, FORBIDDEN_INTERNAL["jobs"])
    assert not _permitted("bot.briefings", FORBIDDEN_INTERNAL["jobs"])


def _sql(source: str, name: str = "<module>") -> list[str]:
    """Where a module builds or runs SQL: sqlalchemy statement constructs imported (`from sqlalchemy import
    select`, `sqlalchemy.text(…)` through an imported `sqlalchemy`) and `.execute(` / `.exec_driver_sql(` calls."""
    found: list[str] = []
    aliases: set[str] = set()  # names bound to the sqlalchemy package or one of its modules
    tree = ast.parse(source, name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "sqlalchemy"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sqlalchemy":
            for a in node.names:
                if a.name in STATEMENT_NAMES or a.name == "*":
                    found.append(f"{name}:{node.lineno} imports {a.name} from {node.module}")
                elif a.name in {"sql", "future"}:  # from sqlalchemy import sql; sql.select(...)
                    aliases.add(a.asname or a.name)
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in STATEMENT_NAMES:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id in aliases:
                found.append(f"{name}:{node.lineno} uses sqlalchemy's {node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in RUNNING_CALLS:
            found.append(f"{name}:{node.lineno} calls .{node.func.attr}(")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_CALLS
            and _is_session(node.func.value)
        ):
            found.append(f"{name}:{node.lineno} uses the session's .{node.func.attr}(")
    return found


def _is_session(node: ast.expr) -> bool:
    """A name or attribute spelled `session` (`session.get`, `ctx.session.get`)."""
    return (isinstance(node, ast.Name) and node.id == "session") or (
        isinstance(node, ast.Attribute) and node.attr == "session"
    )


def _no_sql_files():
    for part in NO_SQL:
        target = PACKAGE / part
        yield from [target] if target.suffix == ".py" else sorted(target.rglob("*.py"))


def test_the_chat_the_http_edges_and_the_sandbox_routes_run_no_sql():
    assert list(_no_sql_files()), "the checked rooms are missing"
    broken = [
        hit
        for path in _no_sql_files()
        for hit in _sql(path.read_text(encoding="utf-8"), str(path.relative_to(PACKAGE)))
    ]
    assert not broken, "SQL outside core (call a core service or read model instead):\n" + "\n".join(broken)


@pytest.mark.parametrize(
    "snippet, expected",
    [
        ("from sqlalchemy import func, select\n", ["imports select from sqlalchemy"]),
        ("from sqlalchemy.dialects.postgresql import insert\n", ["imports insert from sqlalchemy.dialects.postgresql"]),
        ("import sqlalchemy as sa\nq = sa.text('SELECT 1')\n", ["uses sqlalchemy's text"]),
        ("async def f(ctx, stmt):\n    return await ctx.session.execute(stmt)\n", ["calls .execute("]),
        ("async def f(ctx, code):\n    return await ctx.session.get(Channel, code)\n", ["uses the session's .get("]),
        ("def f(session, row):\n    session.add(row)\n", ["uses the session's .add("]),
        ("cache = {}\nx = cache.get('k')\nsettings.session.timeout\n", []),
        # not SQL: a session handed on, result rows read, a set updated, a list inserted into
        ("from sqlalchemy.ext.asyncio import AsyncSession\nseen = set()\nseen.update([1])\n", []),
        ("fields = []\nfields.insert(0, 'x')\nrow = result.scalar()\n", []),
    ],
)
def test_the_sql_checker_sees_statements_and_their_execution(snippet, expected):
    """The rule can fail: each bad snippet is caught, and ordinary Python with the same words is not."""
    found = _sql(snippet)
    assert len(found) == len(expected) and all(e in f for e, f in zip(expected, found, strict=True)), found


# table → (its model class in core/models.py, the one module that may write it)
WRITERS = {
    "inbound_events": ("InboundEvent", "core/inbox.py"),
    "outbox": ("OutboxMessage", "core/outbox.py"),
}
_DML = re.compile(r"(insert|update|delete)(_|$)")  # insert(), sqlite.insert(), sqlutil.insert_ignore() …
_RAW_WRITE = re.compile(
    r"\b(?:insert\s+into|update|delete\s+from)\s+[\"'`]?(" + "|".join(WRITERS) + r")\b", re.IGNORECASE
)


def _table_writes(source: str) -> list[tuple[int, str]]:
    """(line, table) for every place a module writes a guarded table: an insert/update/delete (SQLAlchemy's, a
    dialect's, or a helper named insert_…) on the model, its `__table__` or a name bound to either; a model
    instance built (for `session.add`); raw SQL text that inserts into, updates or deletes from the table."""
    tree = ast.parse(source)
    by_model = {model: table for table, (model, _) in WRITERS.items()}
    models: dict[str, str] = {}  # local name of a guarded model class → its table
    for node in ast.walk(tree):  # `from orderbot.core.models import OutboxMessage as Row`
        if isinstance(node, ast.ImportFrom) and node.module == "orderbot.core.models":
            models.update({a.asname or a.name: by_model[a.name] for a in node.names if a.name in by_model})
    tainted: dict[str, set[str]] = {name: {table} for name, table in models.items()}

    def tables_in(expr: ast.AST) -> set[str]:
        found: set[str] = set()
        for sub in ast.walk(expr):
            if isinstance(sub, ast.Name):
                found |= tainted.get(sub.id, set())
            elif isinstance(sub, ast.Constant) and sub.value in WRITERS:  # Base.metadata.tables["outbox"]
                found.add(sub.value)
        return found

    changed = True
    while changed:  # names bound (in tuples too) to an expression naming a guarded table, until nothing changes
        changed = False
        for node in ast.walk(tree):
            if not isinstance(node, (ast.Assign, ast.AnnAssign)) or node.value is None:
                continue
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    pairs = list(zip(target.elts, node.value.elts))
                else:
                    pairs = [(target, node.value)]
                for name, value in pairs:
                    if isinstance(name, ast.Name) and not tables_in(value) <= tainted.get(name.id, set()):
                        tainted[name.id] = tainted.get(name.id, set()) | tables_in(value)
                        changed = True
    found: set[tuple[int, str]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name and _DML.match(name):
                found |= {(node.lineno, table) for arg in node.args for table in tables_in(arg)}
            elif isinstance(node.func, ast.Name) and node.func.id in models:  # a model row built
                found.add((node.lineno, models[node.func.id]))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= {(node.lineno, m.group(1).lower()) for m in _RAW_WRITE.finditer(node.value)}
    return sorted(found)


def test_each_messaging_table_has_one_writer():
    """Only core/inbox.py writes `inbound_events` and only core/outbox.py writes `outbox`."""
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if "migrations" in rel.parts:
            continue
        for line, table in _table_writes(path.read_text(encoding="utf-8")):
            if rel.as_posix() != WRITERS[table][1]:
                broken.append(f"{rel}:{line} writes {table} (only {WRITERS[table][1]} may)")
    assert not broken, "tables written outside their one writer:\n" + "\n".join(broken)


def test_the_writer_check_sees_writes_and_leaves_reads_alone():
    """The check can fail: an aliased model's table updated, a row built for `session.add`, raw SQL, a dialect
    insert on `Base.metadata.tables[...]` are all found; reading the tables is not a write."""
    bad = (
        "from sqlalchemy import update, select\n"
        "from sqlalchemy.dialects import sqlite\n"
        "from orderbot.core.models import Base, InboundEvent as Row, OutboxMessage\n"
        "_A, _B = Row.__table__, 1\n"
        "stmt = update(_A).values(state='done')\n"  # line 5
        "session.add(OutboxMessage(channel='x'))\n"  # line 6
        "RAW = 'UPDATE outbox SET state = 1'\n"  # line 7
        "ins = sqlite.insert(Base.metadata.tables['inbound_events'])\n"  # line 8
        "ok = select(OutboxMessage.state).where(Row.id == 1)\n"
        "fine = 'SELECT count(*) FROM inbound_events'\n"
        "d = {}; d.update(state='x')\n"
        "def claim(s):\n"
        "    from orderbot.core.models import InboundEvent\n"
        "    return insert_ignore(s, InboundEvent.__table__, [], ['key'])\n"  # line 14
    )
    expected = [(5, "inbound_events"), (6, "outbox"), (7, "outbox"), (8, "inbound_events"), (14, "inbound_events")]
    assert _table_writes(bad) == expected
