"""jieba, set up for a server: own Tokenizer instance, cache in a chosen directory, quiet, eager.

Why each step:
- jieba 0.42.1 ships only an sdist whose modules contain invalid escape sequences ("\\.", "\\-"). When no .pyc
  exists (PYTHONDONTWRITEBYTECODE, a read-only site-packages, a wheel installed with --no-compile) Python
  compiles them on import and warns: DeprecationWarning on 3.11, SyntaxWarning on 3.12+, which is a
  SyntaxError under `-W error`. With some setuptools versions its `import pkg_resources` also warns. We
  import it under `catch_warnings` that ignores exactly those messages, so the global filter stays strict.
- jieba's logger prints "Building prefix dict…" to stderr at DEBUG; we raise it to WARNING.
- The prefix-dict cache goes to `cache_dir` (both `tmp_dir` and `cache_file` set, so a read-only container
  with a prebuilt cache loads it without writing). A directory we cannot write to is not an error: the
  dictionary is then built in memory each start (≈0.7 s) and we log that once instead of jieba's traceback.
- `initialize()` runs in the constructor: the first message never pays for it.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

log = logging.getLogger(__name__)
CACHE_FILE = "jieba.cache"
_WORD_FREQ = 200_000  # far above dict.txt's usual counts: our words win the segmentation route


@contextmanager
def _jieba_warnings_ignored() -> Iterator[None]:
    """Ignore exactly jieba's known warnings, nothing else (see module docstring)."""
    with warnings.catch_warnings():
        for category in (DeprecationWarning, SyntaxWarning):
            warnings.filterwarnings("ignore", message=r"invalid escape sequence", category=category)
        warnings.filterwarnings("ignore", message=r"pkg_resources is deprecated", category=UserWarning)
        warnings.filterwarnings("ignore", message=r"Deprecated call to `pkg_resources", category=DeprecationWarning)
        yield


def import_jieba() -> ModuleType:
    """`import jieba` without its compile-time and pkg_resources warnings, with its logger quiet."""
    with _jieba_warnings_ignored():
        import jieba
    logging.getLogger("jieba").setLevel(logging.WARNING)
    return jieba


class Segmenter:
    """A ready jieba Tokenizer with our words added. Thread-safe for `cut` (jieba only reads after init)."""

    def __init__(self, words: Iterable[str], cache_dir: str | os.PathLike[str] | None = None):
        jieba = import_jieba()
        self._tokenizer = jieba.Tokenizer()
        self.cache_path: Path | None = None
        started = time.perf_counter()
        with _jieba_warnings_ignored():  # the dictionary is read through pkg_resources when it is installed
            if cache_dir is not None:
                directory = Path(cache_dir)
                self.cache_path = directory / CACHE_FILE
                self._tokenizer.tmp_dir = str(directory)
                self._tokenizer.cache_file = CACHE_FILE
                self._initialize_with_cache(directory)
            else:
                self._tokenizer.initialize()  # jieba's default: the system temp directory
        for word in words:
            self._tokenizer.add_word(word, freq=_WORD_FREQ)
        self.init_seconds = time.perf_counter() - started

    def _initialize_with_cache(self, directory: Path) -> None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # read-only parent: handled below like any unwritable directory
        cache_exists = self.cache_path is not None and self.cache_path.is_file()
        writable = directory.is_dir() and os.access(directory, os.W_OK)
        if cache_exists or writable:
            self._tokenizer.initialize()
            return
        # jieba would try to dump the cache, fail, and log a traceback at ERROR: say it once, calmly, instead
        log.warning("jieba cache directory %s is not writable; building the dictionary in memory", directory)
        jieba_log = logging.getLogger("jieba")
        level = jieba_log.level
        jieba_log.setLevel(logging.CRITICAL)
        try:
            self._tokenizer.initialize()
        finally:
            jieba_log.setLevel(level)

    def is_word(self, word: str) -> bool:
        """True when `word` is in jieba's dictionary (or ours): a real word, never a speech slip."""
        return self._tokenizer.FREQ.get(word, 0) > 0

    def cut(self, text: str) -> list[tuple[str, int]]:
        """(token, start) pairs without whitespace. HMM off: unknown words stay single characters, which is
        all we need, and the route is decided by the dictionary alone."""
        return [(t, start) for t, start, _ in self._tokenizer.tokenize(text, HMM=False) if not t.isspace()]
