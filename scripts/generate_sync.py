#!/usr/bin/env python3
"""Write the sync repository from the async one: repository.py from repository_async.py.

``AsyncWorkOrderRepository`` (python_client/selene_core_tables/repository_async.py) is the
one source of the client's logic; ``WorkOrderRepository`` (repository.py) is generated
from it and checked in, the way psycopg generates its sync classes from the async ones.

How, in four steps, each a table below that says everything that differs:

1. ``unasync`` (python-trio's token-level rewriter, pinned in pyproject's dev extras):
   ``async def`` -> ``def``, ``await``/``async with``/``async for`` lose their keyword,
   ``__aenter__`` -> ``__enter__``, ``asynccontextmanager`` -> ``contextmanager``,
   ``AsyncIterator`` -> ``Iterator``, and the names of :data:`NAMES` (psycopg's and
   psycopg_pool's classes, and the shims of ``_acompat``: ``asyncio.Lock`` ->
   ``threading.Lock``, ``asyncio.sleep`` -> ``time.sleep``).
2. The same names, and the keywords, in the prose that tokens do not reach: docstrings,
   comments and messages (:data:`PROSE`).
3. :data:`TEXT`: exact replacements, each of which must match (so that the table
   cannot rot): the sentences that say something else of the sync class.
4. ``ruff check --fix`` (the imports unasync left unsorted or unused) and ``ruff
   format``; the result must then pass ``ruff check`` as it stands.

Run it after editing repository_async.py: ``.venv/bin/python scripts/generate_sync.py``.
``--check`` writes nothing and exits 1 with a diff when repository.py is not what it
would write (tests/test_client_sync_generated.py runs it so in ``make test``).
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import unasync

PACKAGE = Path(__file__).resolve().parent.parent / "python_client" / "selene_core_tables"
SOURCE = PACKAGE / "repository_async.py"
TARGET = PACKAGE / "repository.py"

#: Async name -> sync name, for code (unasync) and prose (step 2) alike.
NAMES = {
    "AsyncWorkOrderRepository": "WorkOrderRepository",
    "AsyncConsumer": "Consumer",
    "AsyncConnectionPool": "ConnectionPool",
    "AsyncConnection": "Connection",
    "AsyncClientCursor": "ClientCursor",
    "AsyncCursor": "Cursor",
    "AsyncIterator": "Iterator",
    "AsyncLock": "Lock",
    "async_sleep": "sleep",
    "aclosing": "closing",
    "aclose": "close",
}

#: Pattern -> replacement in the prose (docstrings, comments, messages).
PROSE: tuple[tuple[str, str], ...] = (
    *((rf"\b{async_name}\b", sync_name) for async_name, sync_name in NAMES.items()),
    (r"\basync (with|for|def)\b", r"\1"),
    (r"\bawait ", ""),
)

#: Exact text (after steps 1 and 2) -> its sync version; each must occur.
TEXT: tuple[tuple[str, str], ...] = (
    (
        "v1 as coroutines of one asyncio repository object.",
        "v1 as methods of one repository object.",
    ),
    # A DSN repository's one connection is shared by tasks, or by threads.
    (
        "(tasks take turns); share a pool between tasks instead.",
        "(threads take turns); share a pool between threads instead.",
    ),
    # A generator hands on another's events with yield from.
    (
        "            for event in events:\n                yield event\n",
        "            yield from events\n",
    ),
    # A sync follower has no task to cancel.
    (
        "(``follower.close()``, ``with contextlib.closing(...)``);\n"
        "        cancelling the task that iterates releases them as well.",
        "(``follower.close()``, ``with contextlib.closing(...)``).",
    ),
    (
        "This module is the one source of both repositories: ``scripts/generate_sync.py``\n"
        "writes :mod:`selene_core_tables.repository` (the synchronous WorkOrderRepository)\n"
        "from it, and a test fails when the two differ. Edit this file, then run the script.",
        "The same API as coroutines is :class:`~selene_core_tables.AsyncWorkOrderRepository`:\n"
        "this module is generated from :mod:`selene_core_tables.repository_async` by\n"
        "``scripts/generate_sync.py``. Edit that module and run the script, not this file.",
    ),
)

HEADER = (
    "# Generated from repository_async.py by scripts/generate_sync.py: do not edit by hand.\n"
    "# tests/test_client_sync_generated.py fails when this file differs from what it writes.\n"
)

#: What must not be left in the output: unasync's fallback for an unlisted ``Async``
#: name (``SyncX``), or async code that escaped the tables.
LEFTOVERS = re.compile(r"\bSync[A-Z]\w*|\bAwaitable\b|\bawait\b|\basync (def|with|for)\b")


def _ruff(*arguments: str, source: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", *arguments, "--stdin-filename", str(TARGET), "-"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
        cwd=PACKAGE.parent.parent,
    )


def generate() -> str:
    """Return the text of repository.py as generated from repository_async.py."""
    with tempfile.TemporaryDirectory() as workdir:
        async_copy = Path(workdir, "_async", SOURCE.name)
        async_copy.parent.mkdir()
        async_copy.write_text(SOURCE.read_text(encoding="utf-8"), encoding="utf-8")
        rule = unasync.Rule("/_async/", "/_sync/", additional_replacements=NAMES)
        unasync.unasync_files([str(async_copy)], rules=[rule])
        text = Path(workdir, "_sync", SOURCE.name).read_text(encoding="utf-8")
    for pattern, replacement in PROSE:
        text = re.sub(pattern, replacement, text)
    for old, new in TEXT:
        if old not in text:
            raise SystemExit(f"generate_sync: TEXT entry no longer matches anything: {old!r}")
        text = text.replace(old, new)
    text = HEADER + text
    fixed = _ruff("check", "--fix", "--quiet", "--exit-zero", source=text)
    formatted = _ruff("format", "--quiet", source=fixed.stdout)
    if formatted.returncode != 0:
        raise SystemExit(f"generate_sync: ruff format failed: {formatted.stderr}")
    lint = _ruff("check", "--quiet", source=formatted.stdout)
    if lint.returncode != 0:
        raise SystemExit(f"generate_sync: the sync code fails ruff check:\n{lint.stdout}")
    leftover = LEFTOVERS.search(formatted.stdout)
    if leftover:
        raise SystemExit(f"generate_sync: {leftover.group()!r} left in the sync code")
    return formatted.stdout


def main(argv: list[str] | None = None) -> int:
    """Write repository.py, or with --check compare it; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare; write nothing")
    parser.add_argument("--target", type=Path, default=TARGET, help="the sync file")
    arguments = parser.parse_args(argv)
    generated = generate()
    current = arguments.target.read_text(encoding="utf-8") if arguments.target.exists() else ""
    if arguments.check:
        if current == generated:
            return 0
        diff = difflib.unified_diff(
            current.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            f"{arguments.target} (checked in)",
            f"{arguments.target} (generated)",
        )
        sys.stdout.writelines(diff)
        print(f"{arguments.target} differs: run scripts/generate_sync.py", file=sys.stderr)
        return 1
    if current != generated:
        arguments.target.write_text(generated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
