"""A newcomer's first commands: `orderbot demo` on a busy port or a public address, `orderbot ask` on the demo's
clock, and every database command on an unmigrated database, as real processes."""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.e2e.test_cli import run


def _held_port(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket()
    s.bind((host, 0))
    s.listen()
    return s


def test_demo_on_a_busy_port_is_one_line_exit_2_and_nothing_started(tmp_path):
    with _held_port() as held:
        port = held.getsockname()[1]
        cs = run(tmp_path, "demo", "--port", str(port), "--db", str(tmp_path / "demo.db"), timeout=60)
    assert cs.returncode == 2
    assert cs.stderr.strip().splitlines() == [f"端口 {port} 已被占用：orderbot demo --port {port + 1}"]
    assert cs.stdout == ""
    assert list(tmp_path.iterdir()) == []  # nothing written: no database, no label secret, no clock


def test_demo_warns_when_it_listens_beyond_this_machine(tmp_path):
    with _held_port("0.0.0.0") as held:  # busy, so the test stops right after the warning
        port = held.getsockname()[1]
        cs = run(tmp_path, "demo", "--host", "0.0.0.0", "--port", str(port), "--db", str(tmp_path / "d.db"), timeout=60)
    lines = cs.stderr.strip().splitlines()
    assert cs.returncode == 2 and len(lines) == 2
    assert lines[0].startswith("警告：演示页面没有登录，监听 0.0.0.0")
    assert lines[1] == f"端口 {port} 已被占用：orderbot demo --port {port + 1}"


@pytest.mark.slow
def test_ask_answers_for_the_demo_clock_day(tmp_path):
    assert run(tmp_path, "migrate").returncode == 0
    (tmp_path / "cli.db.clock.json").write_text(json.dumps({"offset_seconds": 10 * 86400}), encoding="utf-8")
    cs = run(
        tmp_path,
        "ask",
        "--as",
        "sunli",
        "发一下昨天的日报",
        env={"ORDERBOT_CACHE_DIR": str(tmp_path / "c")},
        timeout=300,
    )
    assert cs.returncode == 0, cs.stderr
    yesterday = datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=10) - timedelta(days=1)
    assert cs.stdout.startswith(f"{yesterday.month}月{yesterday.day}日日报"), cs.stdout[:80]


COMMANDS = [("import", "orders.csv"), ("ask", "帮助"), ("label", "SO202602010001"), ("outbox",), ("rules", "--dry-run")]


@pytest.mark.parametrize("args", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_on_an_unmigrated_database_says_run_migrate_in_one_line(tmp_path, args):
    (tmp_path / "orders.csv").write_text(
        "订单号,客户ID,金额,发货地,紧急等级\nSO1,C1,1.00,深圳,普通\n", encoding="utf-8"
    )
    env = {"ORDERBOT_LABEL_SECRET": "s"}
    missing = run(tmp_path, *args, env=env)  # no database file at all
    assert missing.returncode == 2 and "orderbot migrate" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    (tmp_path / "cli.db").touch()  # a file, but no schema
    empty = run(tmp_path, *args, env=env)
    assert empty.returncode == 2
    assert empty.stderr.strip().splitlines() == [
        "数据库结构不是最新：请先运行 orderbot migrate | the database schema is not current: run orderbot migrate"
    ]
