"""Which SQLite driver to use: our private ones (`sqlite_inline`, `sqlite_onehop`) or SQLAlchemy's stock
`sqlite+aiosqlite`.

The private drivers subclass SQLAlchemy's aiosqlite adapter and reach into names that are not public API
(`sqlalchemy.util.concurrency.await_`, the adapter's `_cursor_cls` / `_make_new_cursor`, aiosqlite's
`Connection._execute` / `_conn`). Those names exist only in the releases the drivers were written against;
another release may lack them or change what they mean. So the drivers are used only when the installed
SQLAlchemy and aiosqlite are of the series below (`WRITTEN_FOR`) and every name is there; otherwise the stock
driver is used, slower but public. `ORDERBOT_SQLITE_DRIVER` chooses: `auto` (the default: private when they
match), `stock`, or `inline` (private drivers even on another series, as long as the names exist).

This module imports neither private driver, so it works on any SQLAlchemy 2.x.
"""

from __future__ import annotations

import importlib
from importlib import metadata

# The releases `sqlite_inline` and `sqlite_onehop` were written and tested against (major.minor series).
WRITTEN_FOR = {"sqlalchemy": "2.1", "aiosqlite": "0.22"}
# Non-public names the private drivers use: (module, attribute path).
PRIVATE_NAMES = (
    ("sqlalchemy.util.concurrency", "await_"),
    ("sqlalchemy.util.concurrency", "in_greenlet"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_connection._cursor_cls"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_connection._ss_cursor_cls"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_connection._handle_exception"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_cursor._make_new_cursor"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_cursor._aenter_cursor"),
    ("sqlalchemy.dialects.sqlite.aiosqlite", "AsyncAdapt_aiosqlite_ss_cursor"),
    ("aiosqlite", "Connection._execute"),
)
CHOICES = ("auto", "inline", "stock")


def _series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def installed_versions() -> dict[str, str]:
    return {name: metadata.version(name) for name in WRITTEN_FOR}


def missing_names() -> list[str]:
    """The private names the installed packages lack."""
    missing = []
    for module_name, path in PRIVATE_NAMES:
        try:
            target = importlib.import_module(module_name)
        except ImportError:
            missing.append(f"{module_name}.{path}")
            continue
        for part in path.split("."):
            if not hasattr(target, part):
                missing.append(f"{module_name}.{path}")
                break
            target = getattr(target, part)
    return missing


def private_driver_problem() -> str | None:
    """Why the private drivers should not be used here (None when the installed packages match)."""
    installed = installed_versions()
    other = [
        f"{name} {installed[name]} (written for {series}.x)"
        for name, series in WRITTEN_FOR.items()
        if _series(installed[name]) != series
    ]
    missing = missing_names()
    if missing:
        return "missing " + ", ".join(missing) + (f"; installed {', '.join(other)}" if other else "")
    if other:
        return "installed " + ", ".join(other)
    return None


def resolve(choice: str) -> tuple[str, str | None]:
    """("inline" | "stock", why the stock driver was chosen or None) for an `ORDERBOT_SQLITE_DRIVER` value."""
    if choice not in CHOICES:
        raise ValueError(f"ORDERBOT_SQLITE_DRIVER must be one of {', '.join(CHOICES)}, not {choice!r}")
    if choice == "stock":
        return "stock", "ORDERBOT_SQLITE_DRIVER=stock"
    if choice == "inline":
        missing = missing_names()
        if missing:
            raise RuntimeError(
                "ORDERBOT_SQLITE_DRIVER=inline, but the installed SQLAlchemy/aiosqlite lack "
                + ", ".join(missing)
                + ": use auto or stock"
            )
        return "inline", None
    problem = private_driver_problem()
    return ("stock", problem) if problem else ("inline", None)
