"""The seed's generator in a child process, so generating rows and writing them use both cores.

`GeneratorProcess` looks like the seed's `_Generator` to a loader (`chunks()`, `stock()`, `counts`), but the rows
come from a child Python process (`python -c …`, importing this module) running that very generator with the same
arguments — one `random.Random(seed)` drawn in the same order, so the rows are identical to generating them
in-process. Chunks travel through a pipe as `marshal` frames (lists of tuples of str/int/None: C-fast to encode
and decode), while a sender thread in the child keeps up to two chunks in flight, so the child generates the next
chunk while the parent writes this one.

Lifetime: the parent owns the child. `close()` kills it if it is still running and reaps it; the child ignores
Ctrl-C (the terminal sends SIGINT to the whole process group) so that the parent alone decides — it rolls its
transaction back and then kills the child. If the parent dies, the child's next write fails (broken pipe) and it
exits. A child that fails sends its traceback as the last frame; one that dies (killed, out of memory) shows up as
a pipe that ends early, and `GeneratorFailed` carries its exit status and the tail of its stderr.
"""

from __future__ import annotations

import marshal
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_HEADER = struct.Struct("<Q")
_LIVE: set[subprocess.Popen] = set()  # children not yet reaped (the tests check that none are left behind)


class GeneratorFailed(RuntimeError):
    """The generator process failed or died; the message says how."""


class GeneratorProcess:
    """The parent's side: start the child, hand it the arguments, read its chunks, kill and reap it."""

    def __init__(self, *, orders: int, days: int, seed: int, config, now, chunk: int) -> None:
        self.counts: dict[str, int] = {}
        self.times: dict[str, float] = {}  # the child's generate/encode/blocked-on-parent seconds, our decode
        self._decode = 0.0
        self._stock: tuple[list[tuple], list[tuple]] | None = None
        self._stderr = tempfile.TemporaryFile()
        root = str(Path(__file__).resolve().parents[2])  # the child imports this very copy of orderbot
        boot = (
            f"import sys; sys.path.insert(0, {root!r}); "
            "from orderbot.tools.seed_worker import _child_entry; _child_entry()"
        )
        self._proc = subprocess.Popen(
            [sys.executable, "-c", boot],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            close_fds=True,
        )
        _LIVE.add(self._proc)
        try:
            _grow_pipe(self._proc.stdout.fileno())
            args = {"orders": orders, "days": days, "seed": seed, "config": config, "now": now, "chunk": chunk}
            self._proc.stdin.write(pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL))
            self._proc.stdin.close()
        except BaseException:
            self.close()
            raise

    @property
    def pid(self) -> int:
        return self._proc.pid

    def chunks(self) -> Iterator[tuple[int, dict[str, list]]]:
        """(orders in chunk, rows per table) as the child sends them; then the stock and the counts arrive."""
        while True:
            frame = self._frame()
            kind = frame[0]
            if kind == "chunk":
                yield frame[1], frame[2]
            elif kind == "end":
                self._stock, self.counts = (frame[1], frame[2]), frame[3]
                self.times.update({f"child_{k}": v for k, v in frame[4].items()})
                self.times["decode"] = round(self._decode, 2)
                return
            else:  # "error"
                raise GeneratorFailed(f"seed 生成进程出错 | seed generator failed:\n{frame[1]}")

    def stock(self) -> tuple[list[tuple], list[tuple]]:
        if self._stock is None:
            raise GeneratorFailed("seed 生成进程尚未发送库存数据 | no stock from the seed generator yet")
        return self._stock

    def kill(self) -> None:
        """Stop the child now (safe from any thread); a reader blocked on the pipe then sees it end."""
        if self._proc.poll() is None:
            try:
                self._proc.kill()
            except ProcessLookupError:
                pass

    def close(self) -> None:
        """Kill the child if it still runs, reap it and close the pipes. Idempotent."""
        self.kill()
        self._proc.wait()
        _LIVE.discard(self._proc)
        for f in (self._proc.stdin, self._proc.stdout, self._stderr):
            if f is not None and not f.closed:
                f.close()

    def _frame(self) -> tuple:
        out = self._proc.stdout
        head = out.read(_HEADER.size)
        if len(head) == _HEADER.size:
            (size,) = _HEADER.unpack(head)
            body = out.read(size)
            if len(body) == size:
                t0 = time.perf_counter()
                frame = marshal.loads(body)
                self._decode += time.perf_counter() - t0
                return frame
        raise GeneratorFailed(self._died())

    def _died(self) -> str:
        try:
            code = self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        self._stderr.seek(0)
        tail = self._stderr.read()[-2000:].decode("utf-8", "replace").strip()
        how = f"退出码 exit status {code}" if code is not None else "仍在运行 still running"
        return f"seed 生成进程意外结束（{how}）| the seed generator process ended early" + (
            f":\n{tail}" if tail else ""
        )


def _grow_pipe(fd: int) -> None:
    """Bigger pipe buffers mean fewer wake-ups per chunk (Linux only; harmless elsewhere)."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), 1 << 20)
    except (ImportError, OSError):
        pass


# --- the child ------------------------------------------------------------------------------------------------
def _child_main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it rolls back, then kills us
    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # a stray print() must not corrupt the frames
    args: dict[str, Any] = pickle.load(sys.stdin.buffer)
    outbox: queue.Queue[bytes | None] = queue.Queue(maxsize=2)

    def send() -> None:
        try:
            while (data := outbox.get()) is not None:
                out.write(_HEADER.pack(len(data)))
                out.write(data)  # releases the GIL while the parent drains the pipe
        except OSError:  # the parent is gone or closed the pipe: nothing left to do
            os._exit(3)

    sender = threading.Thread(target=send, name="seed-sender", daemon=True)
    sender.start()
    try:
        from orderbot.tools.seed import _Generator, _SqliteCodec

        gen = _Generator(
            orders=args["orders"],
            days=args["days"],
            seed=args["seed"],
            config=args["config"],
            now=args["now"],
            codec=_SqliteCodec(),
        )
        clock, generate, encode, blocked = time.perf_counter, 0.0, 0.0, 0.0
        chunks = gen.chunks(args["chunk"])
        while True:
            t0 = clock()
            item = next(chunks, None)
            t1 = clock()
            if item is None:
                break
            data = marshal.dumps(("chunk", *item))
            t2 = clock()
            outbox.put(data)
            generate, encode, blocked = generate + t1 - t0, encode + t2 - t1, blocked + clock() - t2
        receipts, levels = gen.stock()
        times = {"generate": round(generate, 2), "encode": round(encode, 2), "blocked": round(blocked, 2)}
        outbox.put(marshal.dumps(("end", receipts, levels, gen.counts, times)))
        code = 0
    except BaseException:
        outbox.put(marshal.dumps(("error", traceback.format_exc())))
        code = 1
    outbox.put(None)
    sender.join()
    out.close()
    return code


def _child_entry() -> None:
    status = _child_main()
    sys.stderr.flush()
    os._exit(status)  # skip tearing down a million objects one by one; the parent is already writing


if __name__ == "__main__":
    _child_entry()
