"""Plausible, deterministic arguments for a function tool, from its JSON schema.

``arguments_for(schema)`` builds the arguments the simulated model calls a tool with: the
required members (optional ones are left out), values of the right type inside the schema's constraints, ``default`` or
``const`` where the schema gives one, the first of an ``enum``/``anyOf``/``oneOf``, and
name-based values for common string members (``city`` -> ``"Paris"``). No randomness: the
same schema always gives the same arguments.
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ("arguments_for",)

_MAX_DEPTH = 8  # recursive schemas: below this, null where allowed and only the items minItems asks for

# Values for string members by name (lower-cased, without ``_``/``-``).
_BY_NAME = {
    "city": "Paris",
    "town": "Paris",
    "location": "Paris, France",
    "place": "Paris, France",
    "destination": "Paris, France",
    "origin": "London, UK",
    "address": "1 Main Street, Springfield",
    "street": "1 Main Street",
    "country": "France",
    "countrycode": "FR",
    "region": "Europe",
    "state": "California",
    "zip": "75001",
    "zipcode": "75001",
    "postcode": "75001",
    "postalcode": "75001",
    "name": "Alice",
    "firstname": "Alice",
    "lastname": "Smith",
    "fullname": "Alice Smith",
    "username": "alice",
    "user": "alice",
    "query": "weather today",
    "search": "weather today",
    "q": "weather today",
    "question": "What is the weather today?",
    "topic": "weather",
    "keyword": "weather",
    "title": "Meeting notes",
    "subject": "Meeting notes",
    "message": "Hello there",
    "text": "Hello there",
    "content": "Hello there",
    "body": "Hello there",
    "description": "A short description",
    "note": "A short note",
    "comment": "Looks good",
    "email": "alice@example.com",
    "phone": "+1 555 0100",
    "phonenumber": "+1 555 0100",
    "url": "https://example.com",
    "website": "https://example.com",
    "language": "en",
    "lang": "en",
    "locale": "en-US",
    "timezone": "Europe/Paris",
    "tz": "Europe/Paris",
    "currency": "EUR",
    "color": "blue",
    "colour": "blue",
    "unit": "celsius",
    "units": "metric",
    "id": "abc123",
    "date": "2026-01-15",
    "time": "12:00",
    "day": "Monday",
    "month": "January",
    "category": "general",
    "type": "default",
    "status": "active",
    "product": "coffee",
    "item": "coffee",
    "company": "Acme",
    "symbol": "ACME",
    "ticker": "ACME",
}
_FORMATS = {
    "date": "2026-01-15",
    "date-time": "2026-01-15T12:00:00Z",
    "time": "12:00:00",
    "duration": "PT1H",
    "email": "alice@example.com",
    "idn-email": "alice@example.com",
    "uri": "https://example.com",
    "url": "https://example.com",
    "iri": "https://example.com",
    "uri-reference": "https://example.com",
    "hostname": "example.com",
    "idn-hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "decimal": "1.0",
}
_MOMENT_WORDS = frozenset({"at", "after", "before", "since", "until", "timestamp", "datetime", "when", "deadline"})
_FALLBACKS = ("example", "12345", "abc", "ABC", "a1", "A", "1", "x")


def arguments_for(schema: dict[str, Any]) -> dict[str, Any]:
    """Arguments (a JSON object) that validate against the function tool's ``parameters`` schema."""
    value = _Generator(schema).value(schema, "", 0)
    return value if isinstance(value, dict) else {}


class _Generator:
    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def resolve(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """``schema`` with ``$ref`` followed (its own keywords win) and ``allOf`` merged in."""
        while isinstance(schema.get("$ref"), str) and depth < 64:
            target = self.pointer(schema["$ref"])
            schema = {**target, **{key: value for key, value in schema.items() if key != "$ref"}}
            depth += 1
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts:
            merged: dict[str, Any] = {key: value for key, value in schema.items() if key != "allOf"}
            for part in parts:
                if isinstance(part, dict):
                    part = self.resolve(part, depth + 1)
                    properties = {**part.get("properties", {}), **merged.get("properties", {})}
                    required = [*merged.get("required", []), *part.get("required", [])]
                    merged = {**part, **merged}
                    if properties:
                        merged["properties"] = properties
                    if required:
                        merged["required"] = list(dict.fromkeys(required))
            schema = merged
        return schema

    def pointer(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            return {}  # a remote reference: nothing to go on
        node: Any = self.root
        for token in ref[1:].split("/")[1:]:
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    def value(self, schema: Any, name: str, depth: int) -> Any:
        if not isinstance(schema, dict):
            return "example" if schema is not False else None
        schema = self.resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        if "default" in schema:
            return schema["default"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for keyword in ("anyOf", "oneOf"):
            options = schema.get(keyword)
            if isinstance(options, list) and options:
                return self.value(self.choose(options, depth), name, depth)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((option for option in kind if option != "null"), kind[0] if kind else None)
        if kind is None:
            if "properties" in schema or "additionalProperties" in schema:
                kind = "object"
            elif "items" in schema or "prefixItems" in schema:
                kind = "array"
            else:
                return _string({}, name)
        if kind == "object":
            return self.object(schema, depth)
        if kind == "array":
            return self.array(schema, name, depth)
        if kind == "string":
            return _string(schema, name)
        if kind == "integer":
            return _integer(schema)
        if kind == "number":
            return _number(schema)
        if kind == "boolean":
            return True
        return None

    def choose(self, options: list[Any], depth: int) -> Any:
        """The first option that is not ``null`` (or, deep in a recursive schema, ``null`` if allowed)."""
        nulls = [option for option in options if isinstance(option, dict) and option.get("type") == "null"]
        if depth >= _MAX_DEPTH and nulls:
            return nulls[0]
        return next((option for option in options if option not in nulls), options[0])

    def object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, dict) else {}
        required = schema.get("required")
        required = set(required) if isinstance(required, list) else set()
        result: dict[str, Any] = {}
        for key, member in properties.items():
            if key in required:  # optional members are left out, as their defaults say
                result[key] = self.value(member, key, depth + 1)
        extra = schema.get("additionalProperties")
        wanted = schema.get("minProperties", 0)
        if isinstance(wanted, int) and len(result) < wanted and extra is not False:
            for number in range(len(result), wanted):
                result[f"key{number + 1}"] = self.value(extra if isinstance(extra, dict) else {}, "", depth + 1)
        return result

    def array(self, schema: dict[str, Any], name: str, depth: int) -> list[Any]:
        prefix = schema.get("prefixItems")
        items = schema.get("items")
        if isinstance(items, list):  # draft 4-7 tuples
            prefix, items = items, schema.get("additionalItems")
        result = [self.value(member, name, depth + 1) for member in prefix] if isinstance(prefix, list) else []
        minimum = schema.get("minItems", 0)
        maximum = schema.get("maxItems")
        count = max(minimum if isinstance(minimum, int) else 0, 1 if depth < _MAX_DEPTH else 0)
        if isinstance(maximum, int):
            count = min(count, maximum)
        if items is False or (items is None and isinstance(prefix, list)):
            return result
        while len(result) < count:
            element = self.value(items if isinstance(items, dict) else {}, name, depth + 1)
            if schema.get("uniqueItems") and element in result:
                element = _vary(element, len(result))
            result.append(element)
        return result


def _vary(value: Any, index: int) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + index
    if isinstance(value, str):
        return f"{value}{index + 1}"
    return value


def _string(schema: dict[str, Any], name: str) -> str:
    fmt = schema.get("format")
    key = re.sub(r"[^a-z0-9]", "", name.lower())
    words = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower().replace("-", "_").split("_")
    candidates = []
    if isinstance(fmt, str) and fmt in _FORMATS:
        candidates.append(_FORMATS[fmt])
    elif words[-1] in _MOMENT_WORDS:  # schemas of datetimes do not always say ``format``
        candidates.append(_FORMATS["date-time"])
    elif words[-1] == "time" and len(words) > 1:
        candidates.append(_FORMATS["time"])
    elif key in _BY_NAME:
        candidates.append(_BY_NAME[key])
    elif key.endswith(("city", "location")):
        candidates.append("Paris")
    elif key.endswith("email"):
        candidates.append("alice@example.com")
    elif key.endswith(("url", "uri", "link")):
        candidates.append("https://example.com")
    elif key.endswith("name"):
        candidates.append("Alice")
    elif key.endswith("id"):
        candidates.append("abc123")
    elif key.endswith("date"):
        candidates.append("2026-01-15")
    candidates += _FALLBACKS
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            compiled = None
        if compiled is not None:
            matching = [candidate for candidate in candidates if compiled.search(candidate)]
            candidates = matching or candidates
    value = candidates[0]
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(high, int) and len(value) > high:
        value = value[:high]
    if isinstance(low, int) and len(value) < low:
        value = value + "x" * (low - len(value))
    return value


def _bounds(schema: dict[str, Any]) -> tuple[float | None, bool, float | None, bool]:
    """(low, low is exclusive, high, high is exclusive), draft 4 booleans or draft 6+ numbers."""
    low, high = schema.get("minimum"), schema.get("maximum")
    low_open = high_open = False
    exclusive_min, exclusive_max = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if exclusive_min is True:
        low_open = True
    elif isinstance(exclusive_min, (int, float)) and (low is None or exclusive_min >= low):
        low, low_open = exclusive_min, True
    if exclusive_max is True:
        high_open = True
    elif isinstance(exclusive_max, (int, float)) and (high is None or exclusive_max <= high):
        high, high_open = exclusive_max, True
    return low, low_open, high, high_open


def _integer(schema: dict[str, Any]) -> int:
    low, low_open, high, high_open = _bounds(schema)
    lowest = None if low is None else (math.floor(low) + 1 if low_open else math.ceil(low))
    highest = None if high is None else (math.ceil(high) - 1 if high_open else math.floor(high))
    value = 1
    if lowest is not None and value < lowest:
        value = lowest
    if highest is not None and value > highest:
        value = highest
    step = schema.get("multipleOf")
    if isinstance(step, int) and step > 0 and value % step:
        up = math.ceil(value / step) * step
        value = up if highest is None or up <= highest else math.floor(value / step) * step
    return value


def _number(schema: dict[str, Any]) -> float:
    low, low_open, high, high_open = _bounds(schema)
    value = 1.0
    too_low = low is not None and (value < low or (low_open and value <= low))
    too_high = high is not None and (value > high or (high_open and value >= high))
    if too_low or too_high:
        if low is not None and high is not None:
            value = (low + high) / 2
        elif low is not None:
            value = float(low + 1)
        else:
            assert high is not None
            value = float(high - 1)
    step = schema.get("multipleOf")
    if isinstance(step, (int, float)) and step > 0:
        value = math.ceil(value / step) * step
    return float(value)
