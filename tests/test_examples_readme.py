"""The commands of examples/README.md work as written after the quick start: every line of its runnable block runs,
offline, from the repository's root, with the quick start's venv python."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "examples" / "README.md"
MARK = "<!-- runnable:"
VENV_PYTHON = ".venv/bin/python"


def runnable_commands() -> list[list[str]]:
    """The lines of the fenced block right after the ``<!-- runnable: ... -->`` mark, split as a shell would
    (comments dropped)."""
    text = README.read_text()
    block = re.search(re.escape(MARK) + r".*?-->\n```bash\n(.*?)```", text, re.S)
    assert block is not None, f"no runnable block in {README}"
    return [words for line in block.group(1).splitlines() if (words := shlex.split(line, comments=True))]


COMMANDS = runnable_commands()


def test_every_python_command_in_the_readme_uses_the_quick_starts_venv() -> None:
    text = README.read_text()
    assert VENV_PYTHON in text
    # Commands are in backticks or in the block; a bare `python ...` would not find the package after the quick start.
    for command in re.findall(r"`([^`\n]+)`", text) + [shlex.join(words) for words in COMMANDS]:
        first = command.split()[0]
        assert first not in ("python", "python3", "pytest"), command
    assert all(words[0] == VENV_PYTHON for words in COMMANDS)


def test_every_example_has_a_runnable_command() -> None:
    examples = {
        path.name
        for path in (ROOT / "examples").iterdir()
        if (path.suffix == ".py" or path.is_dir()) and not path.name.startswith(("_", "."))
    }
    named = {  # examples/demo.py -> demo.py, examples.multi_router_app -> multi_router_app
        Path(word.replace(".", "/") if word.startswith("examples.") else word).name
        for words in COMMANDS
        for word in words
        if word.startswith("examples")
    }
    assert examples - named == set()


@pytest.mark.parametrize("words", COMMANDS, ids=[" ".join(words[1:]) for words in COMMANDS])
def test_the_readme_command_runs(words: list[str]) -> None:
    # The venv's python is the one running these tests (the quick start's second line); any other layout (a CI
    # without .venv) runs the same command with this interpreter.
    command = [sys.executable, *words[1:]]
    if command[1:3] == ["-m", "pytest"]:
        command += ["-q", "-p", "no:cacheprovider"]  # leave no .pytest_cache in the repository
    result = subprocess.run(command, capture_output=True, text=True, timeout=90, cwd=ROOT, stdin=subprocess.DEVNULL)
    try:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "Traceback" not in result.stderr
        assert result.stdout.strip()
    finally:
        for saved in re.findall(r"saved .* to (\S+\.wav)$", result.stdout, re.M):  # audio_file.py's temporary file
            if Path(saved).parent != ROOT:
                Path(saved).unlink(missing_ok=True)
