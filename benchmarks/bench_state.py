"""What the conversation tracker costs: time per event, and memory over a long session.

1. ``Conversation.observe`` per event on the realistic GA voice session of
   ``benchmarks/corpus.py`` (decoded once, up front; decoding is not timed), a fresh
   ``Conversation`` per pass, with and without ``keep_audio``.
   Per event type group: each call timed on its own, in its real place in the session, and the
   median taken (robust to the VM's slow spells), less the cost of the timer itself.
2. Resident size of one ``Conversation`` (tracemalloc, after ``gc.collect``) after 1,000,
   10,000 and 100,000 synthetic turns, to show it stays flat once ``max_items`` is reached.

Run from the repository root:

    python -m benchmarks.bench_state [--quick]
"""

from __future__ import annotations

import argparse
import collections
import gc
import platform
import statistics
import time
import tracemalloc
from collections.abc import Callable, Iterator, Sequence

import msgspec

from benchmarks.corpus import build_corpus
from realtime_dispatch import events
from realtime_dispatch._state import Conversation

_consume = collections.deque[object](maxlen=0).extend


# --- time per event ----------------------------------------------------------------------------


def best_ns_per_event(run: Callable[[], int], n_events: int, *, repeats: int, min_s: float) -> float:
    """Fastest of ``repeats`` timed runs (each lasting at least ``min_s``), in ns per event.

    The fastest run is the steadiest figure on a shared VM; slow spells only ever add time.
    """
    run()  # warm up
    best = float("inf")
    for _ in range(repeats):
        elapsed = 0
        done = 0
        while elapsed < min_s * 1e9:
            elapsed += run()
            done += n_events
        best = min(best, elapsed / done)
    return best


def session_pass(evs: Sequence[events.ServerEvent], keep_audio: bool) -> Callable[[], int]:
    def run() -> int:
        start = time.perf_counter_ns()
        conv = Conversation(keep_audio=keep_audio)
        _consume(map(conv.observe, evs))
        return time.perf_counter_ns() - start

    return run


def floor_pass(evs: Sequence[events.ServerEvent]) -> Callable[[], int]:
    """The same loop calling a method that does nothing: the harness and call cost."""

    class Noop:
        def observe(self, event: events.ServerEvent) -> None:
            pass

    def run() -> int:
        start = time.perf_counter_ns()
        noop = Noop()
        _consume(map(noop.observe, evs))
        return time.perf_counter_ns() - start

    return run


def per_call_ns(evs: Sequence[events.ServerEvent], keep_audio: bool | None, passes: int) -> list[list[int]]:
    """Each event's observe() time in each pass (a fresh Conversation per pass; None: a no-op, the timer floor)."""
    clock = time.perf_counter_ns
    samples: list[list[int]] = [[] for _ in evs]
    for _ in range(passes):
        observe = (lambda event: None) if keep_audio is None else Conversation(keep_audio=keep_audio).observe
        for event, times in zip(evs, samples, strict=True):
            start = clock()
            observe(event)
            times.append(clock() - start)
    return samples


GROUPS: dict[str, tuple[str, ...]] = {
    "audio delta": ("response.output_audio.delta",),
    "transcript delta": ("response.output_audio_transcript.delta",),
    "text delta": ("response.output_text.delta",),
    "input transcription delta": ("conversation.item.input_audio_transcription.delta",),
    "item added/done": ("conversation.item.added", "conversation.item.done"),
    "response.created/done": ("response.created", "response.done"),
    "not observed (ignored)": ("rate_limits.updated", "session.updated", "error", "response.output_audio.done"),
}


# --- memory over a long session ------------------------------------------------------------------

_AUDIO_20MS = events.pcm_to_base64(bytes(960))  # 1,280 base64 characters, as on the wire
_WORDS = ["the", "quick", "brown", "fox", "jumps", "over", "a", "lazy", "dog", "while", "it", "rains", "in", "Lisbon"]


def synthetic_turns(count: int) -> Iterator[events.ServerEvent]:
    """Server-VAD voice turns in the recorded GA order; every fifth answer calls a tool first.

    Events are built one at a time and dropped after observing, so only the tracker holds memory.
    """
    eid = "event_bench"
    prev: str | None = None
    for n in range(count):
        user, resp = f"item_u{n:07d}", f"resp_{n:07d}"
        user_item = events.ConversationItem(
            id=user, type="message", role="user", status="completed", content=[events.ContentPart(type="input_audio")]
        )
        yield events.InputAudioBufferCommitted(event_id=eid, item_id=user, previous_item_id=prev)
        yield events.ConversationItemAdded(event_id=eid, item=user_item, previous_item_id=prev)
        yield events.ConversationItemDone(event_id=eid, item=user_item, previous_item_id=prev)
        yield events.ResponseCreated(event_id=eid, response=events.Response(id=resp, status="in_progress", output=[]))
        said = _WORDS[n % 7 : n % 7 + 6]
        for word in said:
            yield events.InputAudioTranscriptionDelta(event_id=eid, item_id=user, content_index=0, delta=" " + word)
        yield events.InputAudioTranscriptionCompleted(
            event_id=eid, item_id=user, content_index=0, transcript=" ".join(said)
        )
        prev = user
        outputs = []
        if n % 5 == 0:
            call = f"item_c{n:07d}"
            item = events.ConversationItem(id=call, type="function_call", status="in_progress", name="get_weather")
            yield events.ResponseOutputItemAdded(event_id=eid, response_id=resp, output_index=0, item=item)
            yield events.ConversationItemAdded(event_id=eid, item=item, previous_item_id=prev)
            for piece in ('{"city"', ':"Lis', 'bon"}'):
                yield events.ResponseFunctionCallArgumentsDelta(
                    event_id=eid, response_id=resp, item_id=call, output_index=0, call_id="call_x", delta=piece
                )
            yield events.ResponseFunctionCallArgumentsDone(
                event_id=eid,
                response_id=resp,
                item_id=call,
                output_index=0,
                call_id="call_x",
                arguments='{"city":"Lisbon"}',
            )
            outputs.append(call)
            prev = call
        answer = f"item_a{n:07d}"
        shell = events.ConversationItem(id=answer, type="message", role="assistant", status="in_progress", content=[])
        yield events.ResponseOutputItemAdded(event_id=eid, response_id=resp, output_index=len(outputs), item=shell)
        yield events.ConversationItemAdded(event_id=eid, item=shell, previous_item_id=prev)
        yield events.ResponseContentPartAdded(
            event_id=eid,
            response_id=resp,
            item_id=answer,
            output_index=len(outputs),
            content_index=0,
            part=events.ContentPart(type="audio", transcript=""),
        )
        spoken = _WORDS[n % 5 : n % 5 + 12]
        for i, word in enumerate(spoken):
            yield events.ResponseOutputAudioTranscriptDelta(
                event_id=eid, response_id=resp, item_id=answer, output_index=0, content_index=0, delta=" " + word
            )
            if i % 2 == 0:
                yield events.ResponseOutputAudioDelta(
                    event_id=eid, response_id=resp, item_id=answer, output_index=0, content_index=0, delta=_AUDIO_20MS
                )
        transcript = " " + " ".join(spoken)
        yield events.ResponseOutputAudioTranscriptDone(
            event_id=eid, response_id=resp, item_id=answer, output_index=0, content_index=0, transcript=transcript
        )
        final = events.ConversationItem(
            id=answer,
            type="message",
            role="assistant",
            status="completed",
            content=[events.ContentPart(type="output_audio", transcript=transcript)],
        )
        yield events.ConversationItemDone(event_id=eid, item=final, previous_item_id=None)
        yield events.ResponseOutputItemDone(event_id=eid, response_id=resp, output_index=len(outputs), item=final)
        outputs.append(answer)
        usage = events.Usage(
            total_tokens=300,
            input_tokens=120,
            output_tokens=180,
            input_token_details=events.InputTokenDetails(text_tokens=20, audio_tokens=100, cached_tokens=64),
            output_token_details=events.OutputTokenDetails(text_tokens=30, audio_tokens=150),
        )
        done = events.Response(
            id=resp, status="completed", output=[events.ConversationItem(id=i) for i in outputs], usage=usage
        )
        yield events.ResponseDone(event_id=eid, response=done)
        prev = answer


def resident_bytes(turns: int, **options: int | bool) -> tuple[int, int, Conversation]:
    """(bytes the Conversation holds, events observed, the Conversation) after ``turns`` synthetic turns."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    conv = Conversation(**options)  # type: ignore[arg-type]
    observed = 0
    for event in synthetic_turns(turns):
        conv.observe(event)
        observed += 1
    gc.collect()
    size = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    return size, observed, conv


# --- report ----------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter timing, and memory up to 10,000 turns")
    args = parser.parse_args(argv)
    repeats, min_s = (3, 0.05) if args.quick else (7, 0.3)

    frames = build_corpus()
    evs = [events.decode(frame) for frame in frames]
    assert not any(isinstance(ev, events.UnknownEvent) for ev in evs)
    print(f"Python {platform.python_version()} on {platform.machine()}, msgspec {msgspec.__version__}")
    print(f"corpus: {len(evs)} events of one GA voice session (benchmarks/corpus.py)")
    observed = sum(ev.type in Conversation.EVENT_TYPES for ev in evs)
    print(f"  of which {observed} have a type in Conversation.EVENT_TYPES\n")

    floor = best_ns_per_event(floor_pass(evs), len(evs), repeats=repeats, min_s=min_s)
    print("observe(), whole session, fresh Conversation per pass (best run, ns per event):")
    print(f"  {'harness (a no-op observe)':34} {floor:8.0f}")
    for keep in (False, True):
        ns = best_ns_per_event(session_pass(evs, keep), len(evs), repeats=repeats, min_s=min_s)
        label = f"Conversation(keep_audio={keep})"
        print(f"  {label:34} {ns:8.0f}   ({ns - floor:.0f} over the harness)")

    passes = 20 if args.quick else 200
    print(f"\nobserve() by event group: median of per-call timings over {passes} fresh passes, minus the timer, ns:")
    noop = statistics.median(per_call_ns(evs, None, passes)[0])
    for keep in (False, True):
        print(f"  keep_audio={keep}")
        samples = per_call_ns(evs, keep, passes)
        for group, types in GROUPS.items():
            chosen = [t for ev, times in zip(evs, samples, strict=True) if ev.type in types for t in times]
            if chosen:
                print(f"    {group:28} {len(chosen) // passes:4d} events {statistics.median(chosen) - noop:8.0f}")

    print("\nresident size of one Conversation after N synthetic turns (tracemalloc, after gc.collect()):")
    counts = (1_000, 10_000) if args.quick else (1_000, 10_000, 100_000)
    configs: list[tuple[str, dict[str, int | bool]]] = [
        ("max_items=200", {}),
        ("max_items=200, keep_audio, 256 KiB", {"keep_audio": True, "max_audio_bytes": 256 * 1024}),
    ]
    for label, options in configs:
        print(f"  {label}")
        for turns in counts:
            size, n_events, conv = resident_bytes(turns, **options)
            print(
                f"    {turns:>7,} turns ({n_events:>9,} events): {size / 1024:8.1f} KiB   "
                f"items={len(conv)} responses={len(conv.responses)} kept audio={conv.audio_bytes_kept:,} B "
                f"dropped={conv.audio_bytes_dropped:,} B"
            )


if __name__ == "__main__":
    main()
