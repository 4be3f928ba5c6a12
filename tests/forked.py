"""`conformance` commands in processes forked from one preloaded parent (a multiprocessing forkserver).

Each command still runs in its own process (its exit code, its stdout and stderr, its pytest
session), but without paying Python's start-up and the suite's imports every time: the
forkserver imports the suite once and every command is a fork of it.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
from pathlib import Path

#: Imported once by the forkserver: the suite, its plugin and the clients it drives.
PRELOAD = ["tests.forked_preload"]

_context: multiprocessing.context.ForkServerContext | None = None


def _forkserver() -> multiprocessing.context.ForkServerContext:
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _child(argv: list[str], env: dict[str, str], cwd: str, out: str, err: str) -> None:
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, out), (2, err)):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8", errors="backslashreplace", write_through=True)
    code = 1
    try:
        from conformance.cli import main

        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - a crash of the command: its traceback, exit 1 like Python's
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def run_forked(argv: list[str], env: dict[str, str], cwd: Path, timeout: float) -> tuple[int, str, str]:
    """Run ``conformance ARGV`` in a forked child; (exit code, stdout, stderr). Kills it after ``timeout``."""
    out, err = cwd / ".forked-stdout", cwd / ".forked-stderr"
    child = _forkserver().Process(target=_child, args=(argv, env, str(cwd), str(out), str(err)))
    child.start()
    try:
        child.join(timeout)
        if child.exitcode is None:
            child.kill()
            child.join()
            raise TimeoutError(f"conformance {' '.join(argv)} did not finish within {timeout} s:\n{err.read_text(errors='replace')[-2000:]}")
        return child.exitcode, out.read_text(errors="replace"), err.read_text(errors="replace")
    finally:
        out.unlink(missing_ok=True)
        err.unlink(missing_ok=True)
