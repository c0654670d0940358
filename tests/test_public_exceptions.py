"""Every exception the package exports names the public module it is imported from, in reprs and tracebacks."""

from __future__ import annotations

import pickle
import traceback
from types import ModuleType

import pytest

import realtime_dispatch
import realtime_dispatch.transports


def exported_exceptions(module: ModuleType) -> list[type[BaseException]]:
    return [
        value
        for name in module.__all__
        if isinstance(value := getattr(module, name), type) and issubclass(value, BaseException)
    ]


PUBLIC = [(realtime_dispatch, exc) for exc in exported_exceptions(realtime_dispatch)] + [
    (realtime_dispatch.transports, exc) for exc in exported_exceptions(realtime_dispatch.transports)
]


def test_there_are_exceptions_to_check() -> None:
    names = {exc.__name__ for _, exc in PUBLIC}
    assert {"ConfigError", "NotConnected", "ConnectionFailed", "DecodeError", "TransportClosed"} <= names


@pytest.mark.parametrize(("module", "exc"), PUBLIC, ids=lambda value: getattr(value, "__name__", ""))
def test_an_exported_exception_shows_its_public_path(module: ModuleType, exc: type[BaseException]) -> None:
    assert exc.__module__ == module.__name__
    assert repr(exc) == f"<class '{module.__name__}.{exc.__qualname__}'>"
    assert getattr(module, exc.__qualname__) is exc  # the path it shows leads back to it (pickle relies on it)
    try:
        raise exc.__new__(exc)
    except BaseException as raised:
        shown = traceback.format_exception_only(raised)[-1]
    assert shown.startswith(f"{module.__name__}.{exc.__qualname__}")


def test_a_public_exception_still_pickles() -> None:
    error = realtime_dispatch.ConfigError("bad key")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is realtime_dispatch.ConfigError
    assert copy.args == ("bad key",)
