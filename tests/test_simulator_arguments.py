"""The simulator calls tools with arguments that fit their JSON schemas (``arguments_for``)."""

from __future__ import annotations

import datetime
import enum
import re
import uuid
from typing import Annotated, Any, Literal

import msgspec
import pytest

from realtime_dispatch import events
from realtime_dispatch._tools import tool_spec
from realtime_dispatch.simulator import EchoResponder, Reply
from realtime_dispatch.simulator._arguments import arguments_for

# --- a minimal JSON-schema check: required, types, enums, const, bounds, lengths, formats -----------

_TYPES: dict[str, Any] = {
    "object": dict,
    "array": list,
    "string": str,
    "boolean": bool,
    "null": type(None),
}
_FORMATS = {
    "date": r"\d{4}-\d{2}-\d{2}",
    "date-time": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})",
    "email": r"[^@\s]+@[^@\s]+\.[a-z]+",
    "uri": r"[a-z][a-z0-9+.-]*://\S+",
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
}


def errors(value: Any, schema: Any, root: dict[str, Any], path: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (an empty list when it validates)."""
    if schema is True or schema == {}:
        return []
    if schema is False:
        return [f"{path}: not allowed"]
    if "$ref" in schema:
        target: Any = root
        for token in schema["$ref"][2:].split("/"):
            target = target[token]
        found = errors(value, target, root, path)
        rest = {key: member for key, member in schema.items() if key != "$ref"}
        return found + (errors(value, rest, root, path) if rest else [])
    found = []
    for part in schema.get("allOf", []):
        found += errors(value, part, root, path)
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema and all(errors(value, option, root, path) for option in schema[keyword]):
            found.append(f"{path}: matches no {keyword} option")
    if "const" in schema and value != schema["const"]:
        found.append(f"{path}: {value!r} is not the const {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{path}: {value!r} not in {schema['enum']!r}")
    kinds = schema.get("type")
    if kinds is not None:
        kinds = kinds if isinstance(kinds, list) else [kinds]
        if not any(fits(value, kind) for kind in kinds):
            return [*found, f"{path}: {value!r} is not of type {kinds}"]
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                found.append(f"{path}: missing required {key!r}")
        for key, member in value.items():
            if key in properties:
                found += errors(member, properties[key], root, f"{path}.{key}")
            elif "additionalProperties" in schema:
                found += errors(member, schema["additionalProperties"], root, f"{path}.{key}")
        if len(value) < schema.get("minProperties", 0):
            found.append(f"{path}: fewer than minProperties")
    if isinstance(value, list):
        prefix, items = schema.get("prefixItems", []), schema.get("items", {})
        if isinstance(items, list):  # draft 7 tuples
            prefix, items = items, schema.get("additionalItems", {})
        for index, member in enumerate(value):
            sub = prefix[index] if index < len(prefix) else items
            found += errors(member, sub, root, f"{path}[{index}]")
        if not schema.get("minItems", 0) <= len(value) <= schema.get("maxItems", len(value)):
            found.append(f"{path}: {len(value)} items outside minItems/maxItems")
        if schema.get("uniqueItems") and len({msgspec.json.encode(member) for member in value}) < len(value):
            found.append(f"{path}: items not unique")
    if isinstance(value, str):
        if not schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", len(value)):
            found.append(f"{path}: length {len(value)} outside minLength/maxLength")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            found.append(f"{path}: {value!r} does not match {schema['pattern']!r}")
        fmt = _FORMATS.get(schema.get("format", ""))
        if fmt is not None and not re.fullmatch(fmt, value):
            found.append(f"{path}: {value!r} is not a {schema['format']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            found.append(f"{path}: {value} < minimum")
        if "maximum" in schema and value > schema["maximum"]:
            found.append(f"{path}: {value} > maximum")
        low, high = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
        low = schema.get("minimum") if low is True else low  # draft 4: a boolean beside minimum
        high = schema.get("maximum") if high is True else high
        if isinstance(low, (int, float)) and low is not False and value <= low:
            found.append(f"{path}: {value} <= exclusiveMinimum")
        if isinstance(high, (int, float)) and high is not False and value >= high:
            found.append(f"{path}: {value} >= exclusiveMaximum")
        if "multipleOf" in schema and (value / schema["multipleOf"]) % 1:
            found.append(f"{path}: {value} not a multiple of {schema['multipleOf']}")
    return found


def fits(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def test_the_checker_rejects_what_it_should() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": 3}, "u": {"enum": ["a"]}},
              "required": ["n", "u"], "additionalProperties": False}  # fmt: skip
    assert errors({"n": 1, "u": "a"}, schema, schema) == []
    assert len(errors({"n": 4, "u": "b", "x": 1}, schema, schema)) == 3
    assert errors({"n": "1", "u": "a"}, schema, schema) == ["$.n: '1' is not of type ['integer']"]
    assert errors({}, schema, schema) == ["$: missing required 'n'", "$: missing required 'u'"]


# --- the project's own tool schemas (msgspec), decoded into the tool's argument struct -------------


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Address(msgspec.Struct):
    street: str
    zip_code: Annotated[str, msgspec.Meta(pattern=r"^\d{5}$")]
    city: str
    country: str = "FR"
    tags: list[str] = []


class Passenger(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=2, max_length=40)]
    email: str
    age: Annotated[int, msgspec.Meta(ge=18, le=120)]
    address: Address | None = None


class Node(msgspec.Struct):
    label: str
    children: list[Node] = []


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"] = "celsius") -> str:
    """Look up the weather."""
    return ""


def book_flight(
    origin: str,
    destination: str,
    date: datetime.date,
    passengers: Annotated[list[Passenger], msgspec.Meta(min_length=2, max_length=4)],
    cabin: Literal["economy", "business"],
    departs_after: datetime.datetime | None,
    budget: Annotated[float, msgspec.Meta(gt=0, lt=5000)],
    seats: Annotated[int, msgspec.Meta(ge=1, le=9)] = 1,
    unit: Unit = Unit.CELSIUS,
    note: str | None = None,
) -> str:
    return ""


def search(
    query: Annotated[str, msgspec.Meta(min_length=1)],
    limit: Annotated[int, msgspec.Meta(ge=10, le=50, multiple_of=5)],
    filters: dict[str, int],
    location: tuple[float, float],
    request_id: uuid.UUID,
    ratio: Annotated[float, msgspec.Meta(ge=2.5)],
    tags: Annotated[set[str], msgspec.Meta(min_length=3)],
    mode: Literal["fast"],
    tree: Node,
    at: datetime.datetime,
    flag: bool,
    maybe: int | None = None,
) -> str:
    return ""


def no_arguments() -> str:
    return ""


@pytest.mark.parametrize("fn", [get_weather, book_flight, search, no_arguments])
def test_arguments_for_this_projects_tool_schemas_decode_into_their_structs(fn: Any) -> None:
    spec = tool_spec(fn)
    arguments = arguments_for(spec.parameters)
    assert errors(arguments, spec.parameters, spec.parameters) == []
    decoded = msgspec.json.decode(msgspec.json.encode(arguments), type=spec.arguments)
    assert isinstance(decoded, spec.arguments)
    assert arguments_for(spec.parameters) == arguments  # deterministic


def test_plausible_values_for_common_names_formats_and_constraints() -> None:
    arguments = arguments_for(tool_spec(book_flight).parameters)
    assert arguments["origin"] == "London, UK"
    assert arguments["destination"] == "Paris, France"
    assert arguments["date"] == "2026-01-15"
    assert len(arguments["passengers"]) == 2
    assert arguments["passengers"][0]["age"] == 18
    assert arguments["passengers"][0]["email"] == "alice@example.com"
    assert arguments["cabin"] in ("economy", "business")  # the first of the enum, however msgspec orders it
    assert arguments["departs_after"] == "2026-01-15T12:00:00Z"
    assert 0 < arguments["budget"] < 5000
    assert "seats" not in arguments  # optional: left to its default
    assert "note" not in arguments
    assert arguments_for(tool_spec(get_weather).parameters) == {"city": "Paris"}
    assert arguments_for(tool_spec(no_arguments).parameters) == {}
    found = arguments_for(tool_spec(search).parameters)
    assert found["limit"] == 10
    assert found["mode"] == "fast"
    assert found["query"] == "weather today"
    assert len(found["tags"]) == 3


HANDWRITTEN: list[dict[str, Any]] = [
    {},
    {"type": "object", "properties": {}},
    {
        "type": "object",
        "properties": {
            "location": {"type": "string", "description": "City and country"},
            "unit": {"type": "string", "enum": ["metric", "imperial"]},
            "when": {"type": "string", "format": "date-time"},
            "contact": {"type": "string", "format": "email"},
            "link": {"type": "string", "format": "uri"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "short": {"type": "string", "maxLength": 3},
            "long": {"type": "string", "minLength": 20},
            "kind": {"const": "fixed"},
            "level": {"type": "integer", "default": 3},
            "count": {"type": "integer", "minimum": 5, "exclusiveMaximum": 6},
            "old_style": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "exclusiveMinimum": True,
                "exclusiveMaximum": True,
            },
            "price": {"type": "number", "multipleOf": 0.25, "minimum": 3},
            "nullable": {"type": ["null", "string"]},
            "choice": {"oneOf": [{"type": "integer", "minimum": 7}, {"type": "string"}]},
            "both": {
                "allOf": [
                    {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
                ]
            },
            "unique": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "uniqueItems": True},
            "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}], "items": False},
            "bag": {"type": "object", "additionalProperties": {"type": "number"}, "minProperties": 2},
            "person": {"$ref": "#/$defs/Person"},
        },
        "required": [
            "location",
            "unit",
            "when",
            "contact",
            "link",
            "code",
            "short",
            "long",
            "kind",
            "count",
            "old_style",
            "price",
            "nullable",
            "choice",
            "both",
            "unique",
            "pair",
            "bag",
            "person",
        ],
        "additionalProperties": False,
        "$defs": {
            "Person": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "manager": {"anyOf": [{"$ref": "#/$defs/Person"}, {"type": "null"}]},
                },
                "required": ["name", "manager"],
            },
        },
    },
    {  # draft-7 definitions and tuple items
        "type": "object",
        "definitions": {"Point": {"type": "array", "items": [{"type": "number"}, {"type": "number"}]}},
        "properties": {"at": {"$ref": "#/definitions/Point"}, "query": {"type": "string"}},
        "required": ["at"],
    },
]


@pytest.mark.parametrize("schema", HANDWRITTEN)
def test_arguments_for_handwritten_schemas_validate(schema: dict[str, Any]) -> None:
    arguments = arguments_for(schema)
    assert isinstance(arguments, dict)
    assert errors(arguments, schema, schema) == []
    assert arguments_for(schema) == arguments


def test_recursive_schemas_end() -> None:
    schema = HANDWRITTEN[2]
    arguments = arguments_for(schema)
    depth, person = 0, arguments["person"]
    while person is not None:
        depth, person = depth + 1, person["manager"]
    assert 1 <= depth <= 10
    assert arguments["kind"] == "fixed"
    assert "level" not in arguments
    assert arguments["count"] == 5
    assert arguments["code"] == "ABC"


@pytest.mark.anyio
async def test_echo_responder_calls_a_tool_with_arguments_that_fit() -> None:
    spec = tool_spec(book_flight)
    session = events.Session(tools=[spec.definition()], tool_choice="auto")
    user = events.ConversationItem.message("user", "please book_flight for two")
    reply = await EchoResponder().respond([user], session)
    assert isinstance(reply, Reply)
    [(name, arguments)] = reply.tool_calls
    assert name == "book_flight"
    assert msgspec.json.decode(arguments, type=spec.arguments).destination == "Paris, France"
