"""Retake the README's screenshots (docs/screenshots/*.png) against the default demo, in one command:

    python scripts/screenshots.py            # from the repository root, in the dev virtualenv

It runs the browser tests (tests/e2e/test_sandbox_browser.py: headless Chromium at /usr/bin/chromium, Playwright)
against `orderbot demo` started as a newcomer starts it — the default 20,000-order seed, no --orders — and each
tour step saves its screenshot as a 256-colour PNG into docs/screenshots. Then it removes the shots no page of
README.md or docs/ shows and lists the rest with their total size (the README's budget: under 1.5 MB). Extra
arguments go to pytest; the tests build on each other's clock jumps, so run the whole module. Exit code: pytest's.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "docs" / "screenshots"
BUDGET = 1_500_000  # bytes, all screenshots together


def main(argv: list[str]) -> int:
    env = {
        **os.environ,
        "ORDERBOT_SCREENSHOTS": str(SHOTS),
        "ORDERBOT_BROWSER_DEFAULT_DEMO": "1",
        "ORDERBOT_REQUIRE_BROWSER": "1",  # fail loudly instead of skipping without Chromium
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p),
    }
    test = ROOT / "tests" / "e2e" / "test_sandbox_browser.py"
    code = subprocess.call(
        [sys.executable, "-m", "pytest", str(test), "-q", "-p", "no:cacheprovider", *argv], cwd=ROOT, env=env
    )
    # The layout tests save shots too (1024 px, phone width, no system font); only the ones a page shows are kept.
    pages = "".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
    for p in sorted(SHOTS.glob("*.png")):
        if f"screenshots/{p.name}" not in pages:
            print(f"{p.relative_to(ROOT)}: no page shows it, removed")
            p.unlink()
    shots = sorted(SHOTS.glob("*.png"))
    total = sum(p.stat().st_size for p in shots)
    for p in shots:
        print(f"{p.relative_to(ROOT)}  {p.stat().st_size / 1024:.0f} KiB")
    over = " — over the 1.5 MB budget" if total > BUDGET else ""
    print(f"{len(shots)} screenshots, {total / 1024:.0f} KiB in all{over}")
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
