"""GPT-Live and Realtime Translation: decode and dispatch against a bare msgspec loop and the openai SDK, same run.

Run from the repository root::

    python -m benchmarks.bench_live                       # both protocols, decode and dispatch, under 2 minutes
    python -m benchmarks.bench_live --quick               # ~11 s, noisier figures
    python -m benchmarks.bench_live --protocol live --only decode

A measurement, not a test: it prints figures and never fails on them. It aborts only if a
decoder or a dispatcher gets something wrong (checked once, before any timing). The frames
are ``corpus_live.py``'s; each is first validated strictly against the SDK's own union
(``openai.types.live.ServerEvent`` and, for the nested Responses events of ``response.event``,
``openai.types.responses.ResponseStreamEvent``; ``RealtimeTranslationServerEvent``).

**Decode**, one call per frame on the same ``bytes`` frames, timed by ``bench_decode.measure``
(warm-up, interleaved repeats cut into slices, the fastest slice for ratios):

1. ``live.decode`` / ``translation.decode``: the public decoder (``Codec.decode``).
2. Bare msgspec: a fresh ``msgspec.json.Decoder(Union[*SERVER_EVENTS.values()])``, called
   directly. The receive loop calls the codec's ``server_decoder``, which is this decoder.
3. Minimal structs (extra): the same tags, structs keeping only ``event_id`` and ``delta``.
4. openai SDK: the real ``parse_event`` of ``AsyncLiveConnection`` (``openai.resources.live``)
   or ``AsyncTranslationsConnection`` (``openai.resources.realtime.translations``), bound to a
   connection around a websocket that is never used: ``json.loads`` then
   ``construct_type_unchecked(..., ServerEvent)``, what the SDK's ``recv()`` runs per frame.

**Dispatch**, decode + route + an inline async handler per routed event, with
``bench_dispatch``'s in-memory transports and timing (short runs taking turns, best of each):

1. a ``LiveApp`` / ``TranslationApp`` with a few ``@on`` handlers, on a transport whose
   ``receive`` returns the next frame at once (the ready event first, then the session's frames
   over and over; ``session.closed`` is left out, since nothing may follow it);
2. a hand-written ``match event.type`` loop over a reused bare msgspec decoder (the floor), and
   the same loop over the public ``decode``;
3. the SDK: ``dispatch_events()`` with ``conn.on(...)`` handlers, on a fake websocket (asyncio only).
"""

from __future__ import annotations

import argparse
import collections
import importlib
import json
import statistics
import sys
import typing
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, cast

import anyio
import msgspec
import pydantic

from realtime_dispatch import LiveApp, TranslationApp, on
from realtime_dispatch.events import ServerEvent, UnknownEvent, live, translation
from realtime_dispatch.transports import TransportClosed

from . import bench_decode, bench_dispatch, corpus_live
from .bench_decode import Decoder, Timing
from .corpus import frame_type

Runner = Callable[[list[bytes], int], Coroutine[Any, Any, int]]

# --- the apps: a few counting handlers each ----------------------------------------------------


class LiveBench(LiveApp):
    slow_handler_threshold = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    @on("session.output_audio.delta")
    async def audio(self, event: live.OutputAudioDeltaEvent) -> None:
        self.count += 1

    @on("session.output_transcript.delta")
    async def transcript(self, event: live.OutputTranscriptDeltaEvent) -> None:
        self.count += 1

    @on("session.input_transcript.delta")
    async def user_text(self, event: live.InputTranscriptDeltaEvent) -> None:
        self.count += 1

    @on("response.event")
    async def nested(self, event: live.ResponseEvent) -> None:
        self.count += 1

    @on("session.usage.updated")
    async def usage(self, event: live.SessionUsageUpdatedEvent) -> None:
        self.count += 1


class TranslationBench(TranslationApp):
    slow_handler_threshold = 10.0

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    @on("session.output_audio.delta")
    async def audio(self, event: translation.OutputAudioDeltaEvent) -> None:
        self.count += 1

    @on("session.output_transcript.delta")
    async def transcript(self, event: translation.OutputTranscriptDeltaEvent) -> None:
        self.count += 1

    @on("session.input_transcript.delta")
    async def source_text(self, event: translation.InputTranscriptDeltaEvent) -> None:
        self.count += 1


# --- the protocols, as data --------------------------------------------------------------------


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    frames: Callable[[], list[bytes]]
    categories: tuple[str, ...]
    category: Callable[[bytes], str]
    server_events: typing.Mapping[str, type[ServerEvent]]
    decode: Decoder
    fast_path: Decoder  # the codec's server_decoder: what the receive loop calls
    sdk_union: Any
    sdk_connection: str  # module:class of the SDK's async connection
    app: Callable[[], LiveBench | TranslationBench]
    routed: tuple[str, ...]  # the types the handlers take, in every setup
    ready: str  # sent once, before the repeated frames

    def sdk_connect(self, websocket: object) -> Any:
        """The SDK's async connection around ``websocket`` (a stand-in: nothing is opened)."""
        module, _, name = self.sdk_connection.partition(":")
        return getattr(importlib.import_module(module), name)(websocket)

    def sdk_parse_event(self) -> Decoder:
        return cast(Decoder, self.sdk_connect(bench_decode._UnusedWebSocket()).parse_event)

    def sdk_classes(self) -> dict[str, type[Any]]:
        """Wire type -> the SDK model it must parse to, read off the SDK's union."""
        members = typing.get_args(typing.get_args(self.sdk_union)[0])
        return {typing.get_args(m.model_fields["type"].annotation)[0]: m for m in members}


def _live() -> Bench:
    from openai.types.live import ServerEvent as SdkServerEvent

    return Bench(
        name="live",
        title="GPT-Live",
        frames=corpus_live.build_live_corpus,
        categories=corpus_live.LIVE_CATEGORIES,
        category=corpus_live.live_category,
        server_events=live.SERVER_EVENTS,
        decode=live.decode,
        fast_path=live.PRIMARY.server_decoder.decode,
        sdk_union=SdkServerEvent,
        sdk_connection="openai.resources.live.live:AsyncLiveConnection",
        app=LiveBench,
        routed=(
            "session.output_audio.delta",
            "session.output_transcript.delta",
            "session.input_transcript.delta",
            "response.event",
            "session.usage.updated",
        ),
        ready="session.started",
    )


def _translation() -> Bench:
    from openai.types.realtime import RealtimeTranslationServerEvent

    return Bench(
        name="translation",
        title="Realtime Translation",
        frames=corpus_live.build_translation_corpus,
        categories=corpus_live.TRANSLATION_CATEGORIES,
        category=corpus_live.translation_category,
        server_events=translation.SERVER_EVENTS,
        decode=translation.decode,
        fast_path=translation.codec.server_decoder.decode,
        sdk_union=RealtimeTranslationServerEvent,
        sdk_connection="openai.resources.realtime.translations.translations:AsyncTranslationsConnection",
        app=TranslationBench,
        routed=("session.output_audio.delta", "session.output_transcript.delta", "session.input_transcript.delta"),
        ready="session.created",
    )


BENCHES = {"live": _live, "translation": _translation}


# --- sanity --------------------------------------------------------------------------------------


def check(bench: Bench, frames: Sequence[bytes]) -> None:
    """Every frame is one the SDK accepts (strictly), and every decoder agrees on it; else exit."""
    floor = bench_decode.msgspec_floor(bench.server_events)
    minimal = bench_decode.minimal_floor(bench.server_events)
    sdk = bench.sdk_parse_event()
    strict: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(bench.sdk_union)
    nested = None
    if bench.name == "live":
        from openai.types.responses import ResponseStreamEvent

        nested = pydantic.TypeAdapter(ResponseStreamEvent)
    sdk_classes = bench.sdk_classes()
    problems: list[str] = []
    for i, frame in enumerate(frames):
        wire = json.loads(frame)
        where = f"frame {i} ({wire['type']})"
        try:
            strict.validate_json(frame, strict=True)
            if nested is not None and wire["type"] == "response.event":
                nested.validate_python(wire["event"], strict=True)
        except pydantic.ValidationError as exc:
            problems.append(f"{where}: the SDK's union rejects it: {exc}")
        event = bench.decode(frame)
        if isinstance(event, UnknownEvent) or type(event) is not bench.server_events.get(wire["type"]):
            problems.append(f"{where}: decode returned {type(event).__name__}")
            continue
        if msgspec.json.decode(msgspec.json.encode(event)) != wire:
            problems.append(f"{where}: our event does not encode back to the frame")
        if floor(frame) != event or bench.fast_path(frame) != event:
            problems.append(f"{where}: the bare msgspec decoder (or the codec's fast path) disagrees with decode")
        if type(minimal(frame)).__struct_config__.tag != wire["type"]:  # type: ignore[attr-defined]
            problems.append(f"{where}: the minimal-structs floor picked the wrong struct")
        parsed = sdk(frame)
        if type(parsed) is not sdk_classes.get(wire["type"]):
            problems.append(f"{where}: SDK parse_event returned {type(parsed).__name__}")
        elif cast(Any, parsed).to_dict(mode="json", exclude_unset=True) != wire:
            problems.append(f"{where}: the SDK's event does not hold the frame's fields")
    if problems:
        shown = "\n  ".join(problems[:20])
        more = f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        sys.exit(f"{bench.title}: sanity check failed, not timing anything:\n  {shown}{more}")


def print_composition(bench: Bench, frames: Sequence[bytes]) -> None:
    counts = collections.Counter(map(frame_type, frames))
    sizes: dict[str, int] = collections.defaultdict(int)
    for f in frames:
        sizes[frame_type(f)] += len(f)
    total = sum(map(len, frames))
    print(f"corpus: {len(frames)} frames, {total / 1e6:.2f} MB, mean {total / len(frames):,.0f} B/frame")
    print(f"  {'count':>5}  {'share':>6}  {'mean B':>7}  type")
    for event_type, n in counts.most_common():
        print(f"  {n:>5}  {n / len(frames):>6.1%}  {sizes[event_type] / n:>7,.0f}  {event_type}")
    nested = collections.Counter(t for f in frames if (t := corpus_live.nested_type(f)) is not None)
    if nested:
        print("  response.event carries: " + ", ".join(f"{t} {n}" for t, n in nested.most_common()))


# --- decode ----------------------------------------------------------------------------------


def run_decode(bench: Bench, frames: list[bytes], args: argparse.Namespace) -> dict[str, float]:
    floor = bench_decode.msgspec_floor(bench.server_events)
    minimal = bench_decode.minimal_floor(bench.server_events)
    sdk = bench.sdk_parse_event()
    ours_name, sdk_name = f"{bench.name}.decode", "openai SDK parse_event"
    decoders: dict[str, Decoder] = {ours_name: bench.decode, "bare msgspec": floor, "minimal structs": minimal}
    decoders[sdk_name] = sdk
    timing = {"repeats": args.repeats, "target_s": args.target, "slice_s": args.slice_ms / 1000}
    results = bench_decode.measure({**decoders, "harness": len}, frames, **timing)
    harness = results.pop("harness")
    width = max(map(len, decoders)) + 1
    print("decode, whole corpus, µs/frame: best slice | median slice | best repeat (mean over the repeat)")
    for name, r in results.items():
        print(f"{name + ':':<{width}} {r.best:8.3f} | {r.median:8.3f} | {r.best_repeat:8.3f}   ({r.slices} slices)")
    print(f"{'harness:':<{width}} {harness.best:8.3f}   (the loop and a call of a C builtin; included in the above)")
    x, y, z = (results[n] for n in (ours_name, "bare msgspec", sdk_name))
    print(f"ratio vs SDK: {z.best / x.best:.0f}x faster (medians: {z.median / x.median:.0f}x)")
    print(f"ratio vs bare msgspec: {x.best / y.best:.2f} (medians: {x.median / y.median:.2f}); ", end="")
    print(f"decode over the floor: {(x.best - y.best) * 1000:+.0f} ns/frame")
    if not args.no_categories:
        _decode_categories(bench, frames, decoders, timing)
    return {"decode": x.best, "floor": y.best, "sdk": z.best}


def _decode_categories(bench: Bench, frames: list[bytes], decoders: dict[str, Decoder], timing: Any) -> None:
    print("\nper category, µs/frame (best slice); ratio = decode / floor; SDK/dec = SDK / decode")
    row = "  {:<19} {:>6} {:>7}  {:>8} {:>8} {:>6} {:>6}  {:>8}  {:>9} {:>8}"
    print(row.format("category", "frames", "mean B", "decode", "floor", "ratio", "+ns", "minimal", "SDK", "SDK/dec"))
    for cat in bench.categories:
        subset = [f for f in frames if bench.category(f) == cat]
        if not subset:
            continue
        r: dict[str, Timing] = bench_decode.measure(decoders, subset, **timing)
        d, fl, mn, s = (t.best for t in r.values())
        cells = (f"{d:.3f}", f"{fl:.3f}", f"{d / fl:.2f}", f"{(d - fl) * 1000:+.0f}", f"{mn:.3f}", f"{s:.2f}")
        print(row.format(cat, len(subset), f"{sum(map(len, subset)) / len(subset):,.0f}", *cells, f"{s / d:.0f}x"))


# --- dispatch --------------------------------------------------------------------------------


def runners(bench: Bench, ready: bytes) -> dict[str, Runner]:
    """The four setups; each takes (frames, passes), plays ``ready`` then the frames ``passes`` times,
    and returns how many events its handlers took."""
    routed = frozenset(bench.routed)
    floor = bench_decode.msgspec_floor(bench.server_events)

    async def app(frames: list[bytes], passes: int) -> int:
        instance = bench.app()
        await instance.run_async(bench_dispatch.ListTransport([ready, *frames * passes], 1))
        return instance.count

    def match_loop(decode: Decoder) -> Runner:
        # What you would write by hand: receive, decode, match on the type, await a handler. One loop
        # serves both protocols: Translation's three routed types are the first three cases.
        async def loop(frames: list[bytes], passes: int) -> int:
            transport = bench_dispatch.ListTransport([ready, *frames * passes], 1)
            counter = bench_dispatch.Counter()

            async def handle(event: Any) -> None:
                counter.n += 1

            while True:
                try:
                    frame = await transport.receive()
                except TransportClosed:
                    return counter.n
                event: Any = decode(frame)
                match event.type:
                    case (
                        "session.output_audio.delta"
                        | "session.output_transcript.delta"
                        | "session.input_transcript.delta"
                        | "response.event"
                        | "session.usage.updated"
                    ):
                        await handle(event)

        return loop

    async def sdk(frames: list[bytes], passes: int) -> int:
        connection = bench.sdk_connect(bench_dispatch.FakeWebSocket([ready, *frames * passes], 1))
        counter = bench_dispatch.Counter()

        async def handle(event: Any) -> None:
            counter.n += 1

        for event_type in routed:
            connection.on(event_type, handle)
        await connection.dispatch_events()
        return counter.n

    return {
        f"{bench.title} app": app,
        "match loop (bare msgspec)": match_loop(floor),
        f"match loop ({bench.name}.decode)": match_loop(bench.decode),
        "openai SDK dispatch_events": sdk,
    }


def run_dispatch(bench: Bench, all_frames: list[bytes], args: argparse.Namespace) -> dict[str, float]:
    ready = all_frames[0]
    assert frame_type(ready) == bench.ready
    frames = [f for f in all_frames[1:] if frame_type(f) != "session.closed"]  # nothing may follow it
    per_pass = sum(1 for f in frames if frame_type(f) in bench.routed)
    setups = runners(bench, ready)
    *ours_and_loops, sdk_name = setups
    passes, repeats, sdk_passes = args.dispatch
    for name, runner in setups.items():
        n = sdk_passes if name == sdk_name else passes
        got = anyio.run(runner, frames, n, backend="asyncio" if name == sdk_name else args.backend)
        if got != per_pass * n:
            sys.exit(f"{bench.title} dispatch, {name}: handled {got} events, expected {per_pass * n}")
    print(f"dispatch: {len(frames)} frames a pass ({per_pass} routed to {len(bench.routed)} handlers), ", end="")
    print(f"backend {args.backend} (the SDK: asyncio); runs take turns, best of each")
    times: dict[str, list[float]] = {name: [] for name in ours_and_loops}
    for r in range(repeats):
        for name in ours_and_loops if r % 2 == 0 else reversed(ours_and_loops):
            times[name] += bench_dispatch.measure(setups[name], frames, passes, 1, args.backend)
    times[sdk_name] = bench_dispatch.measure(setups[sdk_name], frames, sdk_passes, max(3, repeats // 4), "asyncio")
    for name, values in times.items():
        print(f"{name:>34}: {min(values):8.3f} µs/event (median {statistics.median(values):.3f}, {len(values)} runs)")
    ours, bare, loop, sdk = (min(times[name]) for name in setups)
    print(f"ratio vs SDK dispatch_events: {sdk / ours:.0f}x faster")
    print(f"ratio vs match loop (bare msgspec): {ours / bare:.2f} ({(ours - bare) * 1000:+.0f} ns/event)")
    print(f"ratio vs match loop ({bench.name}.decode): {ours / loop:.2f} ({(ours - loop) * 1000:+.0f} ns/event)")
    return {"app": ours, "match": bare, "match_decode": loop, "sdk": sdk}


# --- main ------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_live", description=__doc__.splitlines()[0])
    parser.add_argument("--protocol", choices=["live", "translation", "both"], default="both")
    parser.add_argument("--only", choices=["decode", "dispatch"], help="run one half only")
    parser.add_argument("--quick", action="store_true", help="a short run (noisier figures)")
    parser.add_argument("--smoke", action="store_true", help="a tiny run that only checks the setups work (CI)")
    parser.add_argument("--backend", default="asyncio", choices=["asyncio", "trio"])
    parser.add_argument("--no-categories", action="store_true", help="skip the per-category decode table")
    parser.add_argument("--slice-ms", type=float, default=2.0, help="shortest timed decode slice in ms (default 2)")
    args = parser.parse_args(argv)
    if args.smoke:
        args.repeats, args.target, args.slice_ms, args.dispatch, args.no_categories = 1, 0.005, 1.0, (1, 1, 1), True
    elif args.quick:
        args.repeats, args.target, args.dispatch = 3, 0.05, (10, 5, 2)
    else:
        args.repeats, args.target, args.dispatch = 7, 0.3, (30, 25, 4)

    print(bench_decode._versions())
    passes, repeats, sdk_passes = args.dispatch
    decode_plan = f"{args.repeats} repeats of ~{args.target} s per decoder, slices of >= {args.slice_ms:g} ms"
    dispatch_plan = f"{repeats} runs of {passes} passes each (the SDK: {max(3, repeats // 4)} of {sdk_passes})"
    print(f"decode: {decode_plan}, interleaved; dispatch: {dispatch_plan}")
    results: dict[str, dict[str, float]] = {}
    for name in ("live", "translation") if args.protocol == "both" else (args.protocol,):
        bench = BENCHES[name]()
        frames = bench.frames()
        print(f"\n=== {bench.title} ===")
        print_composition(bench, frames)
        check(bench, frames)
        print(f"sanity: every frame validates strictly against the SDK's union; {bench.name}.decode, the bare")
        print("decoder, the codec's fast path and the SDK's parse_event agree on each (same type, same fields)\n")
        if args.only != "dispatch":
            results[f"{name} decode"] = run_decode(bench, frames, args)
            print()
        if args.only != "decode":
            results[f"{name} dispatch"] = run_dispatch(bench, frames, args)
    return results


if __name__ == "__main__":
    main()
