"""Registration: routing keys, annotation checks, injection, the API dialect, router trees.

Everything a router refuses, it refuses when the handler is registered (for app methods:
when the class statement runs), never at dispatch.
"""

import re
from typing import Any

import anyio
import pytest

from realtime_dispatch import Connection, RealtimeApp, Router, UnknownEvent, events, on, on_error
from realtime_dispatch.transports import memory_pair

pytestmark = pytest.mark.anyio

Frame = events.ServerEvent | bytes


# --- helpers ------------------------------------------------------------------------------------


def delta(text: str = "x") -> events.ResponseOutputTextDelta:
    return events.ResponseOutputTextDelta.build(delta=text)


def done(response_id: str = "resp_1") -> events.ResponseDone:
    return events.ResponseDone.build(response=events.Response(id=response_id))


def created() -> events.ResponseCreated:
    return events.ResponseCreated.build(response=events.Response())


def cleared() -> events.InputAudioBufferCleared:
    return events.InputAudioBufferCleared.build()


UNKNOWN_FRAME = b'{"type":"response.brand_new_thing","event_id":"e1","payload":[1,2]}'


async def feed(app: RealtimeApp, *frames: Frame) -> None:
    """Run ``app`` over ``frames`` then a server close; return when the app has stopped."""
    client, server = memory_pair()
    for frame in frames:
        if isinstance(frame, bytes):
            await server.send_raw(frame)
        else:
            await server.send_event(frame)
    await server.close()
    try:
        with anyio.fail_after(5):
            await app.run_async(client)
    finally:
        await client.aclose()


def app_with(*routers: Router) -> RealtimeApp:
    app = RealtimeApp()
    app.router.include_routers(*routers)
    return app


def noop(event: Any) -> None:
    pass


def types_of(seen: list[Any]) -> list[str]:
    return [event.type for event in seen]


# --- decorators return the function -------------------------------------------------------------


def test_router_on_returns_the_function_unchanged() -> None:
    router = Router()

    async def handler(event: events.ResponseOutputTextDelta) -> None:
        pass

    assert router.on("response.output_text.delta")(handler) is handler
    assert [h.fn for h in router.handlers] == [handler]
    assert router.handlers[0].keys == ("response.output_text.delta",)


def test_app_on_returns_the_function_unchanged() -> None:
    async def handler(self: Any, event: events.ResponseDone) -> None:
        pass

    async def failure(self: Any, exc: Exception) -> None:
        pass

    class App(RealtimeApp):
        h = on("response.done")(handler)
        err = on_error(ValueError)(failure)

    assert App.__dict__["h"] is handler
    assert App.__dict__["err"] is failure


async def test_app_method_stays_callable_as_written() -> None:
    class App(RealtimeApp):
        @on("response.output_text.delta")
        def text(self, event: events.ResponseOutputTextDelta) -> str:
            return event.delta.upper()

    assert App().text(delta("abc")) == "ABC"


# --- app methods are checked when the class statement runs -------------------------------------


def define_unknown_name() -> None:
    class App(RealtimeApp):
        @on("response.output_text.delt")
        async def h(self, event: Any) -> None: ...


def define_unknown_parameter() -> None:
    class App(RealtimeApp):
        @on("response.done")
        async def h(self, event: Any, foo: Any) -> None: ...


def define_contradicting_annotation() -> None:
    class App(RealtimeApp):
        @on("response.output_text.delta")
        async def h(self, event: events.ResponseDone) -> None: ...


def define_beta_name() -> None:
    class App(RealtimeApp):
        @on("response.text.delta")
        async def h(self, event: Any) -> None: ...


def define_bad_wildcard() -> None:
    class App(RealtimeApp):
        @on("resp*")
        async def h(self, event: Any) -> None: ...


@pytest.mark.parametrize(
    ("define", "error", "match"),
    [
        (define_unknown_name, ValueError, "response.output_text.delta"),
        (define_unknown_parameter, TypeError, "foo"),
        (define_contradicting_annotation, TypeError, "ResponseDone"),
        (define_beta_name, ValueError, "response.output_text.delta"),
        (define_bad_wildcard, ValueError, "wildcard"),
    ],
    ids=["unknown-name", "unknown-parameter", "contradicting-annotation", "beta-name", "bad-wildcard"],
)
def test_app_method_mistakes_raise_when_the_class_is_defined(define: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        define()


def define_timeout_without_background() -> None:
    class App(RealtimeApp):
        @on("response.done", timeout=1.0)
        async def h(self) -> None: ...


def define_concurrency_without_background() -> None:
    class App(RealtimeApp):
        @on("response.done", concurrency=2)
        async def h(self) -> None: ...


def define_error_handler_for_non_exception() -> None:
    class App(RealtimeApp):
        @on_error(int)  # type: ignore[arg-type]
        async def h(self, exc: Any) -> None: ...


@pytest.mark.parametrize(
    ("define", "error", "match"),
    [
        (define_timeout_without_background, ValueError, "background"),
        (define_concurrency_without_background, ValueError, "background"),
        (define_error_handler_for_non_exception, TypeError, "not an exception class"),
    ],
    ids=["timeout-without-background", "concurrency-without-background", "on_error-non-exception"],
)
def test_app_method_option_mistakes_raise_when_the_class_is_defined(
    define: Any, error: type[Exception], match: str
) -> None:
    # The same mistakes raise at decoration time on a Router; on an app the class statement
    # is the registration, so they must not wait until the app is instantiated.
    with pytest.raises(error, match=match):
        define()


# --- no global registry -------------------------------------------------------------------------


async def test_app_classes_do_not_share_handlers() -> None:
    log: list[str] = []

    class First(RealtimeApp):
        @on("response.done")
        async def h(self) -> None:
            log.append("first")

    class Second(RealtimeApp):
        @on("response.done")
        async def h(self) -> None:
            log.append("second")

    class Bare(RealtimeApp):
        pass

    await feed(First(), done())
    assert log == ["first"]
    await feed(Second(), done())
    assert log == ["first", "second"]
    await feed(Bare(), done())
    assert log == ["first", "second"]
    assert RealtimeApp().router.handlers == []


async def test_each_instance_has_its_own_bound_handlers() -> None:
    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[tuple[App, str]] = []

        @on("response.done")
        async def h(self, event: events.ResponseDone) -> None:
            self.seen.append((self, event.response.id or ""))

    one, two = App(), App()
    assert one.router.handlers[0].fn != two.router.handlers[0].fn
    await feed(one, done("r1"))
    await feed(two, done("r2"), done("r3"))
    assert one.seen == [(one, "r1")]
    assert two.seen == [(two, "r2"), (two, "r3")]


async def test_subclasses_inherit_handlers_and_overrides_replace_them() -> None:
    log: list[str] = []

    class Base(RealtimeApp):
        @on("response.done")
        def h(self) -> None:
            log.append(type(self).__name__ + ".base_h")

        @on("response.done")
        def g(self) -> None:
            log.append(type(self).__name__ + ".base_g")

    class PlainOverride(Base):
        def h(self) -> None:  # no decorator: no longer a handler
            log.append("never")

    class Rerouted(Base):
        @on("response.created")
        def g(self) -> None:
            log.append(type(self).__name__ + ".created_g")

    class Inherits(Base):
        pass

    for app in (Base(), PlainOverride(), Rerouted(), Inherits()):
        await feed(app, done(), created())
    assert log == [
        "Base.base_h",
        "Base.base_g",
        "PlainOverride.base_g",
        "Rerouted.base_h",
        "Rerouted.created_g",
        "Inherits.base_h",
        "Inherits.base_g",
    ]


# --- keys ---------------------------------------------------------------------------------------


async def test_exact_ga_name_gets_only_that_type() -> None:
    router = Router()
    seen: list[Any] = []
    router.on("response.output_text.delta")(lambda event: seen.append(event))
    await feed(app_with(router), delta("a"), done(), cleared(), UNKNOWN_FRAME, delta("b"))
    assert [e.delta for e in seen] == ["a", "b"]


async def test_event_class_key() -> None:
    router = Router()
    seen: list[Any] = []

    @router.on(events.ResponseDone)
    def h(event: events.ResponseDone) -> None:
        seen.append(event)

    assert router.handlers[0].keys == ("response.done",)
    await feed(app_with(router), delta(), done("r1"), created(), done("r2"))
    assert [e.response.id for e in seen] == ["r1", "r2"]
    assert all(isinstance(e, events.ResponseDone) for e in seen)


def test_a_non_event_class_is_not_a_key() -> None:
    router = Router()
    with pytest.raises(TypeError, match="not a server event class"):
        router.on(events.ResponseCreate)(noop)  # type: ignore[call-overload]


async def test_prefix_wildcard() -> None:
    router = Router()
    seen: list[events.ServerEvent] = []

    @router.on("response.*")
    def h(event: events.ServerEvent) -> None:
        seen.append(event)

    await feed(app_with(router), cleared(), created(), delta(), UNKNOWN_FRAME, done(), cleared())
    assert types_of(seen) == [
        "response.created",
        "response.output_text.delta",
        "response.brand_new_thing",
        "response.done",
    ]
    assert isinstance(seen[2], UnknownEvent)


async def test_star_gets_every_event_including_unknown_types() -> None:
    router = Router()
    seen: list[events.ServerEvent] = []
    router.on("*")(lambda event: seen.append(event))
    other_unknown = b'{"type":"brand.new","x":1}'
    await feed(app_with(router), cleared(), delta(), UNKNOWN_FRAME, other_unknown, done())
    assert types_of(seen) == [
        "input_audio_buffer.cleared",
        "response.output_text.delta",
        "response.brand_new_thing",
        "brand.new",
        "response.done",
    ]
    assert isinstance(seen[2], UnknownEvent)
    assert isinstance(seen[3], UnknownEvent)
    assert seen[3].raw == other_unknown


async def test_several_keys_at_once() -> None:
    router = Router()
    seen: list[events.ServerEvent] = []

    @router.on("response.created", events.ResponseDone, "input_audio_buffer.*")
    def h(event: events.ServerEvent) -> None:
        seen.append(event)

    await feed(app_with(router), delta(), created(), cleared(), done(), delta())
    assert types_of(seen) == ["response.created", "input_audio_buffer.cleared", "response.done"]


async def test_overlapping_keys_call_a_handler_once_per_event() -> None:
    router = Router()
    seen: list[events.ServerEvent] = []

    @router.on("response.done", "response.*", "*", events.ResponseDone)
    def h(event: events.ServerEvent) -> None:
        seen.append(event)

    await feed(app_with(router), done(), cleared())
    assert types_of(seen) == ["response.done", "input_audio_buffer.cleared"]


async def test_bare_on_takes_the_key_from_the_annotation() -> None:
    router = Router()
    seen: list[events.ServerEvent] = []

    @router.on()
    def h(event: events.ResponseDone) -> None:
        seen.append(event)

    assert router.handlers[0].keys == ("response.done",)
    await feed(app_with(router), delta(), done(), created())
    assert types_of(seen) == ["response.done"]


async def test_bare_on_with_a_union_annotation_means_several_keys() -> None:
    router = Router()
    seen: list[events.ServerEvent] = []

    @router.on()
    def h(event: events.ResponseDone | events.ResponseCreated) -> None:
        seen.append(event)

    assert set(router.handlers[0].keys) == {"response.done", "response.created"}
    await feed(app_with(router), delta(), done(), cleared(), created())
    assert types_of(seen) == ["response.done", "response.created"]


async def test_bare_on_on_an_app_method() -> None:
    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[events.ServerEvent] = []

        @on()
        async def h(self, event: events.ResponseCreated | events.InputAudioBufferCleared) -> None:
            self.seen.append(event)

    app = App()
    await feed(app, delta(), created(), done(), cleared())
    assert types_of(app.seen) == ["response.created", "input_audio_buffer.cleared"]


def test_bare_on_without_an_event_annotation_raises() -> None:
    router = Router()

    def h(event: Any) -> None: ...

    with pytest.raises(TypeError, match="annotate"):
        router.on()(h)


async def test_unknown_event_class_key_gets_only_unknown_types() -> None:
    router = Router()
    seen: list[UnknownEvent] = []

    @router.on(UnknownEvent)
    def h(event: UnknownEvent) -> None:
        seen.append(event)

    await feed(app_with(router), delta(), UNKNOWN_FRAME, done(), cleared(), b'{"type":"zzz"}')
    assert types_of(seen) == ["response.brand_new_thing", "zzz"]
    assert [e.raw for e in seen] == [UNKNOWN_FRAME, b'{"type":"zzz"}']


@pytest.mark.parametrize(
    ("key", "suggestion"),
    [
        ("response.output_text.delt", "response.output_text.delta"),
        ("respons.done", "response.done"),
        ("session.update", "session.updated"),
    ],
)
def test_unknown_name_raises_naming_close_matches(key: str, suggestion: str) -> None:
    router = Router()
    with pytest.raises(ValueError, match=f"did you mean.*'{re.escape(suggestion)}'") as info:
        router.on(key)(noop)
    assert key in str(info.value)
    assert router.handlers == []


def test_unknown_name_without_close_match_raises() -> None:
    with pytest.raises(ValueError, match="unknown event type 'completely-different'"):
        Router().on("completely-different")(noop)


@pytest.mark.parametrize("key", ["resp*", "*.delta", "response.*.delta", "response*", "**", "*response.done"])
def test_bad_wildcard_forms_raise(key: str) -> None:
    router = Router()
    with pytest.raises(ValueError, match="wildcard"):
        router.on(key)(noop)
    assert router.handlers == []


@pytest.mark.parametrize("key", ["nothing.*", "response.output_text.delta.*", "responses.*"])
def test_wildcard_matching_nothing_raises(key: str) -> None:
    with pytest.raises(ValueError, match="matches no known event type"):
        Router().on(key)(noop)


def test_non_string_key_raises() -> None:
    with pytest.raises(TypeError, match="routing key"):
        Router().on(5)(noop)  # type: ignore[call-overload]


# --- the API dialect ----------------------------------------------------------------------------


def define_ga_app_with_beta_name() -> None:
    class App(RealtimeApp):
        @on("response.audio_transcript.delta")
        async def h(self, event: Any) -> None: ...


def define_ga_app_with_beta_class() -> None:
    class App(RealtimeApp):
        @on(events.ResponseTextDelta)
        async def h(self, event: events.ResponseTextDelta) -> None: ...


def define_ga_app_with_beta_annotation() -> None:
    class App(RealtimeApp):
        @on()
        async def h(self, event: events.ResponseAudioDelta) -> None: ...


@pytest.mark.parametrize(
    ("define", "ga_name"),
    [
        (define_beta_name, "response.output_text.delta"),
        (define_ga_app_with_beta_name, "response.output_audio_transcript.delta"),
        (define_ga_app_with_beta_class, "response.output_text.delta"),
        (define_ga_app_with_beta_annotation, "response.output_audio.delta"),
    ],
    ids=["text", "transcript", "class-key", "annotation-key"],
)
def test_beta_name_on_a_ga_app_raises_with_the_ga_name(define: Any, ga_name: str) -> None:
    with pytest.raises(ValueError, match=rf"beta event name.*'{ga_name}'"):
        define()


def test_beta_name_in_a_router_included_into_a_ga_app_raises() -> None:
    router = Router()

    @router.on("response.text.delta")
    def h(event: Any) -> None: ...

    app = RealtimeApp()
    with pytest.raises(ValueError, match=re.escape("'response.output_text.delta'")):
        app.include_router(router)
    assert app.router.routers == []
    assert router.parent is None


def test_beta_name_in_a_nested_router_included_into_a_ga_app_raises() -> None:
    parent, child = Router("parent"), Router("child")
    child.on("response.audio.delta")(lambda: None)
    parent.include_router(child)
    with pytest.raises(ValueError, match=re.escape("'response.output_audio.delta'")):
        RealtimeApp().include_router(parent)


def test_beta_handler_added_to_an_already_included_router_raises() -> None:
    app = RealtimeApp()
    parent, child = Router("parent"), Router("child")
    app.include_router(parent)
    parent.include_router(child)
    with pytest.raises(ValueError, match=re.escape("'response.output_text.delta'")):
        child.on("response.text.delta")(lambda: None)
    with pytest.raises(ValueError, match=re.escape("'session.updated'")):
        app.on("transcription_session.updated")(lambda: None)
    assert child.handlers == []


def test_beta_names_are_fine_on_a_router_without_an_app() -> None:
    router = Router()
    router.on("response.text.delta")(lambda: None)
    assert router.handlers[0].keys == ("response.text.delta",)


class BetaApp(RealtimeApp):
    api = "beta"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    @on("response.text.delta")
    async def text(self, event: events.ResponseTextDelta) -> None:
        self.seen.append(event.delta)


async def test_beta_app_accepts_beta_names() -> None:
    router = Router()
    extra: list[str] = []
    router.on("response.audio_transcript.delta")(lambda event: extra.append(event.delta))
    app = BetaApp()
    app.include_router(router)
    await feed(
        app,
        events.ResponseTextDelta.build(delta="beta"),
        events.ResponseAudioTranscriptDelta.build(delta="words"),
    )
    assert app.seen == ["beta"]
    assert extra == ["words"]


def define_beta_app_with_ga_only_name() -> None:
    class App(RealtimeApp):
        api = "beta"

        @on("conversation.item.added")
        async def h(self, event: Any) -> None: ...


def define_beta_app_with_ga_renamed_name() -> None:
    class App(RealtimeApp):
        api = "beta"

        @on("response.output_text.delta")
        async def h(self, event: Any) -> None: ...


def test_beta_app_rejects_ga_only_names() -> None:
    with pytest.raises(ValueError, match=re.escape("'conversation.item.added' is GA-only")):
        define_beta_app_with_ga_only_name()
    with pytest.raises(ValueError, match=re.escape("GA-only; the beta API sends 'response.text.delta'")):
        define_beta_app_with_ga_renamed_name()
    router = Router()
    router.on("conversation.item.done")(lambda: None)
    with pytest.raises(ValueError, match="GA-only"):
        BetaApp().include_router(router)
    with pytest.raises(ValueError, match="GA-only"):
        BetaApp().on("mcp_list_tools.completed")(lambda: None)


# --- annotations and injection ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "annotation"),
    [
        ("response.output_text.delta", events.ResponseDone),
        (events.ResponseCreated, events.ResponseDone),
        ("response.done", events.ResponseCreated | events.ResponseOutputTextDelta),
        ("response.*", events.ResponseDone),
        ("*", events.ResponseOutputTextDelta),
        ("response.*", events.ResponseDone | events.ResponseCreated),
        (UnknownEvent, events.ResponseDone),
        ("response.done", UnknownEvent),
    ],
    ids=["name", "class", "union", "narrow-on-prefix", "narrow-on-star", "union-on-prefix", "unknown", "unknown-ann"],
)
def test_annotation_contradicting_the_key_raises(key: Any, annotation: Any) -> None:
    router = Router()

    def h(event: Any) -> None: ...

    h.__annotations__["event"] = annotation
    with pytest.raises(TypeError, match="annotated to take"):
        router.on(key)(h)
    assert router.handlers == []


def test_annotations_that_fit_the_key_are_accepted() -> None:
    router = Router()

    def wide(event: events.ServerEvent) -> None: ...

    def union(event: events.ResponseDone | events.ResponseCreated) -> None: ...

    def unknown_or_done(event: events.ResponseDone | UnknownEvent) -> None: ...

    router.on("*")(wide)
    router.on("response.*")(wide)
    router.on("response.done", "response.created")(union)
    router.on("response.done", UnknownEvent)(unknown_or_done)
    assert len(router.handlers) == 4


def test_an_unresolvable_annotation_elsewhere_does_not_disable_the_event_check() -> None:
    # With `from __future__ import annotations` every annotation is a string. One that
    # only resolves for type checkers (an import under TYPE_CHECKING, a class local to a
    # function) on an unrelated, defaulted parameter must not switch off the check of the
    # event annotation.
    router = Router()

    def h(event: Any, conn: Any, extra: Any = None) -> None: ...

    h.__annotations__.update(
        event="events.ResponseDone", conn="Connection", extra="OnlyImportedUnderTypeChecking | None"
    )
    with pytest.raises(TypeError, match="annotated to take ResponseDone"):
        router.on("response.output_text.delta")(h)
    assert router.handlers == []


def test_annotation_contradicting_the_key_on_an_app_method_raises() -> None:
    with pytest.raises(TypeError, match="annotated to take ResponseDone"):
        define_contradicting_annotation()


@pytest.mark.parametrize("kind", ["positional", "keyword-only", "two-events"])
def test_unknown_parameter_raises_at_registration(kind: str) -> None:
    router = Router()

    def unknown(event: Any, foo: Any) -> None: ...

    def keyword_only(*, event: Any) -> None: ...

    def two_events(event: Any, other: events.ResponseDone) -> None: ...

    fn = {"positional": unknown, "keyword-only": keyword_only, "two-events": two_events}[kind]
    match = {"positional": "'foo'", "keyword-only": "positional", "two-events": "twice"}[kind]
    with pytest.raises(TypeError, match=match):
        router.on("response.done")(fn)
    assert router.handlers == []


def test_parameters_with_defaults_are_left_alone() -> None:
    router = Router()

    def h(event: Any, foo: int = 3, *, bar: str = "") -> None: ...

    router.on("response.done")(h)
    assert len(router.handlers) == 1


class InjectedApp(RealtimeApp):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, tuple[Any, ...]]] = []


async def test_injection_by_annotation() -> None:
    router = Router()
    app = InjectedApp()
    app.include_router(router)
    live: list[Connection] = []

    @router.on("response.done")
    async def h(a: InjectedApp, c: Connection, e: events.ResponseDone) -> None:
        live.append(app.connection)
        app.calls.append(("router", (a, c, e)))

    event = done("r9")
    await feed(app, event)
    [(_, (a, c, e))] = app.calls
    assert a is app
    assert c is live[0]
    assert isinstance(c, Connection)
    assert isinstance(e, events.ResponseDone)
    assert e.event_id == event.event_id


async def test_injection_by_name() -> None:
    router = Router()
    app = InjectedApp()
    app.include_router(router)
    live: list[Connection] = []

    @router.on("response.done")
    def by_name(connection: Any, app: Any, event: Any) -> None:
        live.append(app.connection)
        app.calls.append(("name", (connection, app, event)))

    @router.on("response.done")
    async def short(event: Any, conn: Any) -> None:
        app.calls.append(("short", (event, conn)))

    await feed(app, done("r1"))
    assert [name for name, _ in app.calls] == ["name", "short"]
    (connection, got_app, event), (event2, conn) = (args for _, args in app.calls)
    assert got_app is app
    assert connection is live[0] is conn
    assert event is event2
    assert event.response.id == "r1"


async def test_injection_into_app_methods() -> None:
    class App(RealtimeApp):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[tuple[str, tuple[Any, ...]]] = []

        @on("response.done")
        async def only_self(self) -> None:
            self.calls.append(("self", ()))

        @on("response.done")
        async def conn_event(self, conn: Connection, event: events.ResponseDone) -> None:
            self.calls.append(("conn_event", (conn, event)))

        @on("response.done")
        def own_class(self, app: "App", e: events.ResponseDone) -> None:
            self.calls.append(("own_class", (app, e)))

    app = App()
    await feed(app, done("r1"))
    assert [name for name, _ in app.calls] == ["self", "conn_event", "own_class"]
    conn, event = app.calls[1][1]
    assert isinstance(conn, Connection)
    assert event.response.id == "r1"
    assert app.calls[2][1] == (app, event)


# --- router trees -------------------------------------------------------------------------------


async def test_nested_routers_receive_events() -> None:
    top, middle, leaf = Router("top"), Router("middle"), Router("leaf")
    seen: list[str] = []
    leaf.on("response.done")(lambda: seen.append("leaf"))
    assert middle.include_router(leaf) is leaf
    top.include_router(middle)
    app = RealtimeApp()
    assert app.include_router(top) is top
    await feed(app, done())
    assert seen == ["leaf"]
    assert leaf.parent is middle
    assert list(app.router.walk()) == [app.router, top, middle, leaf]


def test_a_router_included_twice_in_one_tree_raises() -> None:
    a, b, child = Router("a"), Router("b"), Router("child")
    a.include_router(child)
    with pytest.raises(RuntimeError, match="already included"):
        a.include_router(child)
    b.include_router(child)  # another tree: a router is a blueprint (tests/test_router_blueprint.py)
    with pytest.raises(RuntimeError, match="already included"):
        a.include_router(b)  # child would be in a's tree twice
    assert a.routers == [child]
    assert b.routers == [child]


def test_cycles_raise() -> None:
    a, b, c = Router("a"), Router("b"), Router("c")
    a.include_router(b)
    b.include_router(c)
    with pytest.raises(RuntimeError, match="cycle"):
        c.include_router(a)
    with pytest.raises(RuntimeError, match="cycle"):
        a.include_router(a)
    assert c.routers == []
    assert a.parent is None


def test_include_router_takes_a_router() -> None:
    with pytest.raises(TypeError, match="Router"):
        Router().include_router(RealtimeApp())  # type: ignore[arg-type]


async def test_include_routers_includes_each_in_order() -> None:
    one, two, three = Router("one"), Router("two"), Router("three")
    seen: list[str] = []
    one.on("response.done")(lambda: seen.append("one"))
    two.on("response.done")(lambda: seen.append("two"))
    three.on("response.done")(lambda: seen.append("three"))
    app = RealtimeApp()
    app.router.include_routers(two, one, three)
    assert app.router.routers == [two, one, three]
    await feed(app, done())
    assert seen == ["two", "one", "three"]


async def test_nothing_can_be_added_while_the_app_runs() -> None:
    app = RealtimeApp()
    sub = Router("sub")
    app.include_router(sub)
    late = Router("late")
    client, server = memory_pair()
    with anyio.fail_after(5):
        async with app.connect(client):
            with pytest.raises(RuntimeError, match="running"):
                app.include_router(late)
            with pytest.raises(RuntimeError, match="running"):
                sub.include_router(late)
            with pytest.raises(RuntimeError, match="running"):
                app.on("response.done")(lambda: None)
            with pytest.raises(RuntimeError, match="running"):
                sub.on("response.done")(lambda: None)
            with pytest.raises(RuntimeError, match="running"):
                sub.on_error(ValueError)(lambda: None)
            with pytest.raises(RuntimeError, match="running"):
                app.add_middleware(lambda event, call_next: call_next(event))
            await server.close()
    assert late.parent is None
    assert sub.handlers == []
    assert app.router.handlers == []
    # Once stopped, the app is open for registration again.
    app.include_router(late)
    assert late.parent is sub.parent is app.router


@pytest.mark.parametrize("option", [{"concurrency": 2}, {"timeout": 1.0}, {"concurrency": 1, "timeout": 0.5}])
def test_concurrency_and_timeout_need_background(option: dict[str, Any]) -> None:
    router = Router()
    with pytest.raises(ValueError, match="background=True"):
        router.on("response.done", **option)(lambda: None)
    with pytest.raises(ValueError, match="background=True"):
        router.on("response.done", background=False, **option)(lambda: None)
    assert router.handlers == []
    router.on("response.done", background=True, **option)(lambda: None)
    assert len(router.handlers) == 1


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Router().on("response.done", background=True, concurrency=0)(lambda: None)
