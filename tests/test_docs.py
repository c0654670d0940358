"""The documentation stays true: the generated events reference is current and relative links
resolve. The Python examples of every page are compiled, run and type-checked by test_docs_code.py."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted([*DOCS.glob("*.md"), ROOT / "README.md"])

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_HTML_ID = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def _prose(text: str) -> str:
    """The text without fenced blocks and code spans, where link syntax is not a link."""
    return _CODE_SPAN.sub("", _FENCE.sub("", text))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: the text, lowercased, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link in a heading: its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = _FENCE.sub("", path.read_text(encoding="utf-8"))
    found: set[str] = set(_HTML_ID.findall(text))
    seen: dict[str, int] = {}
    for heading in _HEADING.findall(text):
        slug = _slug(heading)
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def links(path: Path) -> list[str]:
    return _LINK.findall(_prose(path.read_text(encoding="utf-8")))


def test_events_reference_is_current() -> None:
    result = subprocess.run(
        [sys.executable, "scripts/gen_events_doc.py", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_events_reference_covers_every_event_and_model() -> None:
    from realtime_dispatch import events
    from realtime_dispatch.events import _models

    text = (DOCS / "events-reference.md").read_text(encoding="utf-8")
    headings = set(re.findall(r"^#{3,4} (\w+)$", text, re.MULTILINE))
    classes = {cls.__name__ for cls in (*events.SERVER_EVENTS.values(), *events.CLIENT_EVENTS.values())}
    classes |= {
        name
        for name in _models.__all__
        if isinstance(getattr(_models, name), type) and name != "Model" and not name.startswith("pcm_")
    }
    assert classes - headings == set()
    for wire in (*events.SERVER_EVENTS, *events.CLIENT_EVENTS):
        assert f"Wire type: `{wire}`" in text
    # Links to a class use its heading's anchor: no other heading may come first with the same one.
    slugs = [_slug(heading) for heading in _HEADING.findall(_FENCE.sub("", text))]
    for name in classes:
        assert slugs.count(name.lower()) == 1, name


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        file = (page.parent / path_part).resolve() if path_part else page
        if not file.exists():
            broken.append(f"{target}: no such file")
            continue
        if anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target}: no heading or anchor #{anchor} in {file.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_index_lists_every_page() -> None:
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = {target.partition("#")[0] for target in links(DOCS / "index.md")}
    missing = sorted(p.name for p in DOCS.glob("*.md") if p.name != "index.md" and p.name not in listed)
    assert not missing, f"docs/index.md does not link {', '.join(missing)}"
    assert index.startswith("# ")
