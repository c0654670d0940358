"""A seeded mutation fuzzer over the recorded corpus (tests/data/recorded/).

Every mutator takes a ``random.Random`` and a frame and returns a new frame (bytes, or a
``str`` for the surrogate cases that only a ``str`` input can carry). ``Fuzzer`` stacks one to
three of them per frame and counts what it made, so a run is reproducible from its seed and
its size can be reported.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

from conftest import recorded_frames

from realtime_dispatch import events

CORPUS: list[bytes] = [
    frame
    for _, _, frame in recorded_frames("ga-*.jsonl")
    + recorded_frames("beta-*.jsonl")
    + recorded_frames("non-openai/*.jsonl")
]
"""Every recorded server frame, in file order."""

SMALL: list[bytes] = [frame for frame in CORPUS if len(frame) < 4000]
"""Frames small enough to parse and re-serialise per mutation (the beta audio frames are 50 kB)."""

KNOWN_TYPES = sorted(events.SERVER_EVENTS) + sorted(events.CLIENT_EVENTS)

INVALID_UTF8 = [b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xc0\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf", b"\xf4\x90\x80\x80"]
"""Bytes that are not UTF-8: stray continuation bytes, overlong forms, surrogates (CESU-8), past U+10FFFF."""

LONE_SURROGATES = [b"\\ud800", b"\\udfff", b"\\ud83d", b"\\udc00\\ud800", b"\\ud800x"]
"""JSON escapes of unpaired surrogates: well-formed escapes of text that cannot exist."""

TOKENS = [b"\\", b'"', b"{", b"}", b"[", b"]", b",", b":", b"\x00", b"\t", b"null", b"-", b"1e999", b"\\u0000"]

ODD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**64,
    -(2**63) - 1,
    1.5,
    1e308,
    "",
    "x" * 300,
    "\u0000",
    "\U0001f600",
    [],
    {},
    [1, "a", None],
    {"type": "response.done"},
    {"nested": {"deeper": [[[]]]}},
]
"""Values of every JSON type, some at the edges of their type (for swapping a value's type)."""

Mutator = Callable[[random.Random, bytes], bytes | str]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found: list[tuple[Any, ...]] = []
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return found
    for key, item in items:
        found.append((*prefix, key))
        found.extend(_paths(item, (*prefix, key)))
    return found


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        value = value[key]
    return value


def _set(value: Any, path: tuple[Any, ...], new: Any) -> None:
    for key in path[:-1]:
        value = value[key]
    value[path[-1]] = new


def _parsed(frame: bytes) -> Any | None:
    try:
        return json.loads(frame)
    except (ValueError, RecursionError):  # not JSON, or nested past Python's own limit
        return None


def _dump(value: Any, rng: random.Random) -> bytes:
    return json.dumps(value, ensure_ascii=rng.random() < 0.5, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _position(rng: random.Random, frame: bytes) -> int:
    return rng.randint(0, len(frame))


# --- byte-level mutators -------------------------------------------------------------------------


def truncate(rng: random.Random, frame: bytes) -> bytes:
    return frame[: rng.randrange(max(len(frame), 1))]


def flip_bytes(rng: random.Random, frame: bytes) -> bytes:
    if not frame:
        return bytes([rng.randrange(256)])
    data = bytearray(frame)
    for _ in range(rng.randint(1, 4)):
        data[rng.randrange(len(data))] ^= rng.randint(1, 255)
    return bytes(data)


def insert_bytes(rng: random.Random, frame: bytes) -> bytes:
    insert = rng.choice(TOKENS) if rng.random() < 0.5 else rng.randbytes(rng.randint(1, 8))
    at = _position(rng, frame)
    return frame[:at] + insert + frame[at:]


def delete_bytes(rng: random.Random, frame: bytes) -> bytes:
    if not frame:
        return frame
    start = rng.randrange(len(frame))
    return frame[:start] + frame[start + rng.randint(1, 16) :]


def invalid_utf8(rng: random.Random, frame: bytes) -> bytes:
    at = _position(rng, frame)
    return frame[:at] + rng.choice(INVALID_UTF8) + frame[at:]


def garbage(rng: random.Random, frame: bytes) -> bytes:
    return rng.randbytes(rng.randint(0, 300))


def empty(rng: random.Random, frame: bytes) -> bytes:
    return rng.choice([b"", b" ", b"\n", b"\r\n\t ", b"\x00", b"\xef\xbb\xbf"])


def splice(rng: random.Random, frame: bytes) -> bytes:
    other = rng.choice(SMALL)
    return frame[: _position(rng, frame)] + other[_position(rng, other) :]


def duplicate(rng: random.Random, frame: bytes) -> bytes:
    return frame + rng.choice([b"", b" ", b"\n", b","]) + frame


# --- JSON-level mutators (the frame stays well-formed JSON where it was) -------------------------


def swap_type(rng: random.Random, frame: bytes) -> bytes:
    """Replace one value anywhere in the frame by a value of another JSON type."""
    value = _parsed(frame)
    paths = _paths(value)
    if not paths:
        return flip_bytes(rng, frame)
    path = rng.choice(paths)
    old = _get(value, path)
    choices = [v for v in ODD_VALUES if type(v) is not type(old)] + [rng.choice(KNOWN_TYPES)]
    _set(value, path, rng.choice(choices))
    return _dump(value, rng)


def delete_member(rng: random.Random, frame: bytes) -> bytes:
    value = _parsed(frame)
    paths = _paths(value)
    if not paths:
        return delete_bytes(rng, frame)
    path = rng.choice(paths)
    parent = _get(value, path[:-1])
    del parent[path[-1]]
    return _dump(value, rng)


def change_type(rng: random.Random, frame: bytes) -> bytes:
    """Give the frame the ``type`` of another event (server or client), or an odd one."""
    value = _parsed(frame)
    if not isinstance(value, dict):
        return insert_bytes(rng, frame)
    value["type"] = rng.choice([*KNOWN_TYPES, "", "x", 5, None, ["response.done"], "response.done\u0000"])
    return _dump(value, rng)


def deep_nesting(rng: random.Random, frame: bytes) -> bytes:
    """Add a member nested up to 150,000 levels deep (past any recursion limit)."""
    opening, closing, inner = rng.choice([(b"[", b"]", b""), (b'{"a":', b"}", b"1"), (b'[{"a":', b"}]", b"1")])
    depth = rng.choice([1, 64, 1000, rng.randint(1, 150_000)])
    nested = opening * depth + inner + closing * depth
    if frame.endswith(b"}") and len(frame) > 2:
        return frame[:-1] + b',"zz":' + nested + b"}"
    return nested


def huge_number(rng: random.Random, frame: bytes) -> bytes:
    """Replace a number (or add one) by one with thousands of digits or an out-of-range exponent."""
    value = _parsed(frame)
    if not isinstance(value, dict):
        return frame + b"9" * rng.randint(1, 5000)
    numbers = [p for p in _paths(value) if type(_get(value, p)) in (int, float)]
    path = rng.choice(numbers) if numbers else ("n",)
    _set(value, path, "__huge__")
    digits = rng.choice(["", "-"]) + "9" * rng.randint(1, 6000) + rng.choice(["", ".5", "e999", "e-999", "E+99999"])
    return _dump(value, rng).replace(b'"__huge__"', digits.encode())


def bad_string(rng: random.Random, frame: bytes) -> bytes:
    """Put invalid UTF-8 or a lone surrogate escape inside a string: a declared field's, or an
    undeclared member's (which a decoder may skip without reading)."""
    value = _parsed(frame)
    if not isinstance(value, dict):
        return invalid_utf8(rng, frame)
    marker = "__bad_string__"
    strings = [p for p in _paths(value) if isinstance(_get(value, p), str) and p != ("type",)]
    if strings and rng.random() < 0.5:
        _set(value, rng.choice(strings), marker)
    else:
        value[rng.choice(["zz", "extra", "rate_limits_x"])] = marker
    bad = rng.choice(INVALID_UTF8 + LONE_SURROGATES)
    return _dump(value, rng).replace(marker.encode(), b"a" + bad + b"b")


def surrogate_text(rng: random.Random, frame: bytes) -> str:
    """A ``str`` frame carrying a lone surrogate code point (only text input can)."""
    text = frame.decode("utf-8", "replace")
    at = rng.randint(0, len(text))
    return text[:at] + rng.choice(["\ud800", "\udfff", "\udc80\ud800"]) + text[at:]


MUTATORS: dict[str, Mutator] = {
    "truncate": truncate,
    "flip_bytes": flip_bytes,
    "insert_bytes": insert_bytes,
    "delete_bytes": delete_bytes,
    "invalid_utf8": invalid_utf8,
    "garbage": garbage,
    "empty": empty,
    "splice": splice,
    "duplicate": duplicate,
    "swap_type": swap_type,
    "delete_member": delete_member,
    "change_type": change_type,
    "deep_nesting": deep_nesting,
    "huge_number": huge_number,
    "bad_string": bad_string,
    "surrogate_text": surrogate_text,
}
BYTES_MUTATORS = {name: fn for name, fn in MUTATORS.items() if name != "surrogate_text"}
"""The mutators whose output is bytes: what a transport can carry."""


class Fuzzer:
    """Seeded stacks of one to ``depth`` mutators over recorded frames; counts what it made."""

    def __init__(self, seed: int | str, mutators: dict[str, Mutator] | None = None, *, depth: int = 3) -> None:
        self.rng = random.Random(seed)
        self.mutators = mutators or BYTES_MUTATORS
        self.depth = depth
        self.applied: Counter[str] = Counter()
        self.made = 0

    def mutate(self, frame: bytes, first: str | None = None) -> bytes | str:
        """``frame`` with a random stack of mutations (``first`` applied first, if given)."""
        names = [first] if first else []
        names += self.rng.choices(list(self.mutators), k=self.rng.randint(0 if first else 1, self.depth - 1))
        data: bytes | str = frame
        for name in names:
            if isinstance(data, str):  # only surrogate_text makes text; mutate its UTF-8-safe form
                data = data.encode("utf-8", "surrogatepass")
            data = MUTATORS[name](self.rng, data)
            self.applied[name] += 1
        self.made += 1
        return data

    def frames(self, count: int, source: list[bytes] | None = None, first: str | None = None) -> Iterator[bytes | str]:
        corpus = source or (SMALL if first in _JSON_LEVEL else CORPUS)
        for _ in range(count):
            yield self.mutate(self.rng.choice(corpus), first)


_JSON_LEVEL = {"swap_type", "delete_member", "change_type", "huge_number", "bad_string", "splice"}


def outcome(decode: Callable[[Any], Any], data: bytes | str) -> Any:
    """What ``decode`` makes of ``data``: the event, or the ``DecodeError`` it raised. Any other
    exception propagates (and fails the test that asked)."""
    try:
        return decode(data)
    except events.DecodeError as exc:
        return exc
