"""Every ```python block of README.md and docs/*.md runs as written, or says that it is a fragment.

The convention: a block whose first line is a comment ``# fragment: needs <what>`` cannot run alone (it
continues the block above it, awaits at top level, or uses names from your own code, a file or a package
that is not a dependency). A fragment must still compile, top-level ``await`` allowed. Every other block
is runnable, and is checked three ways:

- A block that defines ``test_*`` functions is a pytest module: it is written to a temporary file and run
  by pytest in a subprocess (the anyio plugin: every backend it finds, asyncio and trio here).
- Any other block is run as a script (``__name__ == "__main__"``) in a subprocess, in an empty temporary
  directory, with the built-in simulator serving on 127.0.0.1 (port 0) in the same process and
  ``OPENAI_WEBSOCKET_BASE_URL`` (which ``openai()`` already honours) and ``OPENAI_BASE_URL`` (which the openai
  SDK honours, for the migration page's "before" code) pointing at it, plus a dummy ``OPENAI_API_KEY``:
  ``openai("gpt-realtime")`` then talks to the simulator, offline. Nothing is added to the library for this.
- All runnable blocks are type-checked by one mypy run, with the settings the project uses for its tests and
  examples: ``strict``, except that unannotated functions are allowed (their bodies are still checked).

docs/index.md states the convention for writers.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FRAGMENT = re.compile(r"#\s*fragment:\s*needs\s+\S")
TIMEOUT = 30

_BLOCK = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_TEST = re.compile(r"^(?:async\s+)?def\s+test_\w*\(", re.MULTILINE)

# Runs a script block with the simulator serving in a daemon thread of the same process.
_RUNNER = """
import os, runpy, sys, threading

import anyio

from realtime_dispatch.simulator import Simulator

urls = []
ready = threading.Event()


async def serve():
    async with Simulator().serve(host="127.0.0.1", port=0) as url:
        urls.append(url)
        ready.set()
        await anyio.sleep_forever()


threading.Thread(target=anyio.run, args=(serve,), daemon=True).start()
if not ready.wait(10):
    sys.exit("the simulator did not start")
os.environ["OPENAI_WEBSOCKET_BASE_URL"] = urls[0]  # openai()
os.environ["OPENAI_BASE_URL"] = "http" + urls[0].removeprefix("ws")  # the openai SDK of the migration page
os.environ["OPENAI_API_KEY"] = "sk-docs-test"
sys.argv = [sys.argv[1]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@dataclass(frozen=True)
class Block:
    page: str  # relative to the repository
    line: int  # of the first line of code
    code: str

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}"

    @property
    def fragment(self) -> bool:
        first = self.code.lstrip().partition("\n")[0]
        return bool(FRAGMENT.match(first))

    @property
    def is_test(self) -> bool:
        return bool(_TEST.search(self.code))

    @property
    def module(self) -> str:
        stem = re.sub(r"\W", "_", Path(self.page).stem)
        return f"{'test_' if self.is_test else ''}doc_{stem}_{self.line}"


def blocks() -> list[Block]:
    found = []
    for path in PAGES:
        text = path.read_text(encoding="utf-8")
        for match in _BLOCK.finditer(text):
            line = text.count("\n", 0, match.start()) + 2
            found.append(Block(path.relative_to(ROOT).as_posix(), line, match.group(1)))
    return found


BLOCKS = blocks()
RUNNABLE = [block for block in BLOCKS if not block.fragment]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AZURE_OPENAI_"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, env=_env(), timeout=TIMEOUT, check=False)


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.id)
def test_block_compiles(block: Block) -> None:
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT if block.fragment else 0
    compile(block.code, block.id, "exec", flags=flags)


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda b: b.id)
def test_block_runs(block: Block, tmp_path: Path) -> None:
    file = tmp_path / f"{block.module}.py"
    file.write_text(block.code, encoding="utf-8")
    if block.is_test:
        pytest_args = ["-q", "-p", "no:cacheprovider", "-p", "anyio", "--rootdir", str(tmp_path), file.name]
        args = [sys.executable, "-m", "pytest", *pytest_args]
    else:
        args = [sys.executable, "-c", _RUNNER, file.name]
    result = _run(args, tmp_path)
    assert result.returncode == 0, f"{block.id} failed:\n{result.stdout}\n{result.stderr}"


def test_runnable_blocks_type_check(tmp_path: Path) -> None:
    for block in RUNNABLE:
        (tmp_path / f"{block.module}.py").write_text(block.code, encoding="utf-8")
    (tmp_path / "mypy.ini").write_text(
        "[mypy]\nstrict = True\npython_version = 3.11\nwarn_unreachable = True\n"
        "disallow_untyped_defs = False\ndisallow_incomplete_defs = False\n",
        encoding="utf-8",
    )
    files = sorted(p.name for p in tmp_path.glob("*.py"))
    cache = str(tmp_path / ".mypy_cache")
    args = [sys.executable, "-m", "mypy", "--config-file", "mypy.ini", "--cache-dir", cache, *files]
    result = subprocess.run(args, capture_output=True, text=True, cwd=tmp_path, env=_env(), timeout=300, check=False)
    where = {f"{block.module}.py": block for block in RUNNABLE}

    def page_line(match: re.Match[str]) -> str:  # a file's line -> the page's line
        block = where.get(match.group(1))
        return f"{block.page}:{block.line + int(match.group(2)) - 1}:" if block else match.group(0)

    report = re.sub(r"^(\w+\.py):(\d+):", page_line, result.stdout, flags=re.MULTILINE)
    assert result.returncode == 0, report


def test_fragments_say_what_they_need() -> None:
    """A comment that looks like the marker but does not parse as one is a typo, not a runnable block."""
    loose = [b.id for b in BLOCKS if not b.fragment and "fragment" in b.code.lstrip().partition("\n")[0]]
    assert not loose, f"write '# fragment: needs <what>' as the first line: {loose}"
