"""`orderbot bench`: the benchmark suite, run from a checkout (benchmarks/ is not in the wheel)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path


def cmd_bench(args) -> int:
    checkout = Path(__file__).resolve().parents[2]  # benchmarks/ sits beside the package in a checkout
    if not (checkout / "benchmarks" / "bench.py").exists():
        print(
            "orderbot bench 需要源码检出（benchmarks/ 不在安装包里）：git clone 后 pip install -e . 再运行",
            file=sys.stderr,
        )
        return 2
    if str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    from benchmarks.bench import run_bench

    return asyncio.run(run_bench(orders=args.orders, out=Path(args.out), only=args.only, pg_url=args.pg_url))
