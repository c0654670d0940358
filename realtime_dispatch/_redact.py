"""One rule for keeping secrets out of everything the library shows: logs, traces,
recordings and exception messages.

``redact(value)`` scrubs a JSON-like value (dicts, lists, strings) or a header mapping;
``redact_text(text)`` scrubs free text (a server's error message, a close reason, an HTTP body).
A secret becomes ``REDACTED`` (``"<redacted>"``); its label (a field or header name, a query
parameter, the ``openai-insecure-api-key.`` subprotocol prefix) is kept, to show what was there.

Structured values (``redact``):

- a string under a field or header whose name looks like a credential (``is_credential_name``:
  it contains ``key``, ``token``, ``secret``, ``auth``, ``subscription``, ``passw`` or ``cookie``,
  in any case: ``Authorization``, ``api-key``, ``Ocp-Apim-Subscription-Key``, ``X-My-Token``,
  ``client_secret``), and every string below such a field when it holds a dict or a list
  (``client_secret: {"value": "<redacted>", "expires_at": 1}``);
- every value under a ``headers`` field (MCP tools' ``headers``: their credentials have any
  name), header names kept;
- not token counts and settings (``input_tokens``, ``max_output_tokens``, ``*_token_details``,
  ``token_limits``), ``keywords``, nor the ``token`` of a log probability (a dict with a
  ``logprob``);
- every other string goes through ``redact_text``; numbers, booleans and None are kept.

Free text (``redact_text``):

- OpenAI keys and ephemeral client secrets: ``sk-...`` (``sk-proj-...`` too), ``ek_...``,
  with at least 3 characters after the prefix, masked ones (``sk-abc...xyz``, ``sk-****ab``)
  included;
- ``Bearer <token>`` (3 characters or more), and JSON web tokens (``eyJ...``: Entra ID tokens) anywhere;
- the key of the ``openai-insecure-api-key.<key>`` WebSocket subprotocol;
- credential-named URL query parameters (``?api-key=...``, ``&token=...``), JSON pairs
  (``"api_key": "..."``) and header lines (``Authorization: ...`` at the start of a line).

Ids (``evt_...``, ``resp_...``, ``item_...``, ``call_...``) and ordinary text are left alone.
Both functions are idempotent.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

__all__ = ("REDACTED", "is_credential_name", "redact", "redact_text", "shown_frame")

REDACTED = "<redacted>"

_CREDENTIAL_NAME = re.compile(
    r"key(?!word)|token(?!s|_details|_limits)|secret|auth|subscription|passw|cookie", re.IGNORECASE
)

_KEY_CHAR = r"[A-Za-z0-9_\-*]"
# Whole secrets, replaced by REDACTED. A dot (or an ellipsis) counts only inside a key, as in a
# masked "sk-abc...xyz": the full stop after a key is kept.
_SECRETS = re.compile(
    rf"\b(?:sk-|ek_)(?:{_KEY_CHAR}|[.…](?=[.…]*{_KEY_CHAR})){{3,}}"
    r"|\bBearer\s+[A-Za-z0-9\-._~+/*…]{3,}=*"
    r"|\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"
)
_SUBPROTOCOL = re.compile(r"(openai-insecure-api-key\.)[^\s,;\"']+")
_QUERY = re.compile(r"([?&])([A-Za-z0-9_.\-\[\]%]+)=([^&#\s\"'<>]+)")
_JSON_PAIR = re.compile(r"\"([^\"\\\n]{1,100})\"(\s*:\s*)\"((?:[^\"\\\n]|\\.)+)\"")
_HEADER_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_\-]*)([ \t]*:[ \t]*)(\S[^\r\n]*?)(?=[ \t]*\r?$)", re.MULTILINE)


def is_credential_name(name: str) -> bool:
    """Whether a field, header or query parameter with this name holds a credential."""
    return _CREDENTIAL_NAME.search(name) is not None


def redact_text(text: str) -> str:
    """``text`` with the secrets it quotes replaced (see the module's docstring)."""
    text = _SECRETS.sub(REDACTED, text)
    text = _SUBPROTOCOL.sub(rf"\1{REDACTED}", text)
    if "=" in text:
        text = _QUERY.sub(_labelled, text)
    if ":" in text:
        text = _JSON_PAIR.sub(lambda m: f'"{m[1]}"{m[2]}"{REDACTED}"' if is_credential_name(m[1]) else m[0], text)
        text = _HEADER_LINE.sub(lambda m: f"{m[1]}{m[2]}{REDACTED}" if is_credential_name(m[1]) else m[0], text)
    return text


def _labelled(match: re.Match[str]) -> str:
    return f"{match[1]}{match[2]}={REDACTED}" if is_credential_name(match[2]) else match[0]


def redact(value: Any) -> Any:
    """``value`` (a JSON-like value or a header mapping) with its secrets replaced: a new value,
    dicts for mappings; the input is not changed. A mapping given directly is read as headers or
    fields by name: only credential-named ones are redacted (a ``headers`` field inside has all
    its values redacted)."""
    return _redact(value, False)


def _redact(value: Any, secret: bool) -> Any:
    if isinstance(value, str):
        return REDACTED if secret and value else redact_text(value)
    if isinstance(value, Mapping):
        logprob = "logprob" in value
        shown: dict[Any, Any] = {}
        for key, item in value.items():
            name = str(key)
            credential = is_credential_name(name) and not (logprob and name == "token")
            hidden = secret or credential or name.lower() == "headers"
            shown[key] = _redact(item, hidden)
        return shown
    if isinstance(value, list):
        return [_redact(item, secret) for item in value]
    if isinstance(value, tuple):
        return tuple(_redact(item, secret) for item in value)
    return value


def shown_frame(raw: bytes | bytearray | memoryview | str, limit: int = 200) -> str:
    """A frame for a log line: scrubbed of secrets first, then cut to ``limit`` characters."""
    text = bytes(raw).decode("utf-8", "replace") if not isinstance(raw, str) else raw
    return repr(redact_text(text)[:limit])
