"""``inspector.render``: one self-contained HTML page (no URL, no way out of its JSON payload), with the DOM hooks the
browser test reads and the numbers the page shows; ``realtime-dispatch inspect`` and the demo's report."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.request import url2pathname

import pytest

from realtime_dispatch._cli import main
from realtime_dispatch.inspector import LANES, Event, Mark, SessionView, Span, Summary, Turn, render
from realtime_dispatch.inspector._render import format_count, format_ms

HOSTILE = "</script><img src=x onerror=alert(1)>"


def session_view(*, hostile: str = "hello") -> SessionView:
    """A small session as the analysis would see it: three turns (one calls a tool, one is cut by a barge-in),
    an error, a reconnect."""
    events = [
        Event(0.0, "connect", "connect", '{"url":"ws://127.0.0.1/v1/realtime?model=gpt-realtime"}'),
        Event(0.42, "in", "input_audio_buffer.speech_started", '{"type":"input_audio_buffer.speech_started"}'),
        Event(1.9, "in", "input_audio_buffer.speech_stopped", '{"type":"input_audio_buffer.speech_stopped"}'),
        Event(2.31, "in", "response.output_audio.delta", '{"type":"response.output_audio.delta","delta":"<elided>"}'),
        Event(
            2.5,
            "in",
            "response.output_text.delta",
            json.dumps({"type": "response.output_text.delta", "delta": hostile}),
        ),
        Event(5.0, "in", "response.function_call_arguments.done", '{"type":"response.function_call_arguments.done"}'),
        Event(9.1, "in", "error", '{"type":"error","error":{"message":"bad <b>thing</b>"}}'),
        Event(12.0, "close", "close", '{"code":1006}'),
        Event(12.4, "connect", "connect", '{"url":"ws://127.0.0.1/v1/realtime"}'),
        Event(13.2, "out", "conversation.item.truncate", '{"type":"conversation.item.truncate","audio_end_ms":850}'),
    ]
    spans = [
        Span("user speech", 0.42, 1.9, "speech 1.5 s", "speech", events=(1, 2)),
        Span("user transcript", 1.95, 2.2, "What time is it?", "transcript"),
        Span("assistant audio", 2.31, 3.9, "audio 1.6 s", "audio", events=(3,)),
        Span("assistant text", 2.5, 3.0, hostile, "text", events=(4,)),
        Span("tools", 5.0, 5.35, "get_time", "tool", outcome="ok", events=(5,)),
        Span("assistant audio", 6.0, 7.2, "audio 1.2 s", "audio"),
        Span("user speech", 12.5, 13.1, "speech 0.6 s", "speech"),
        Span("assistant audio", 12.3, 14.0, "audio 1.7 s (cut)", "audio", cut_at=13.2, events=(9,)),
        Span("connection", 0.0, 12.0, "connection 1", "connection", events=(0, 7)),
        Span("connection", 12.4, None, "connection 2", "connection", events=(8,)),
    ]
    marks = [
        Mark("errors", 9.1, "error: bad <b>thing</b>", "error", event=6),
        Mark("connection", 12.4, "reconnected", "connection", event=8),
    ]
    turns = [
        Turn(1, 0.0, 1.9, 2.31, 0.41, 1.95, 0.3456, 0.0, (), False, None, "resp_1", "completed"),
        Turn(2, 4.0, None, 6.0, None, 4.5, 0.5004999, 0.35, ("get_time",), False, None, "resp_2", "completed"),
        Turn(3, 12.0, 13.1, 12.3, None, 12.2, 0.1, 0.0, (), True, 850, "resp_3", "cancelled"),
    ]
    summary = Summary(
        duration=14.25,
        frames=1234,
        turns=3,
        voice_latency_p50=0.41,
        voice_latency_p95=0.41,
        response_latency_p50=0.3456,
        response_latency_p95=0.5004999,
        usage={"input_tokens": 1200.0, "output_tokens": 345.0, "session_seconds": 14.25},
        cost=0.01234,
        model="gpt-realtime",
        prices={"input_tokens": 4e-06, "output_tokens": 1.6e-05},
    )
    return SessionView(
        source="session.jsonl",
        protocol="ga",
        lanes=LANES,
        spans=spans,
        marks=marks,
        turns=turns,
        events=events,
        summary=summary,
        notes=["the last response was still open when the recording ended"],
    )


class Page(HTMLParser):
    """Elements with their attributes, the text of each ``data-field`` element, the scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.fields: list[tuple[dict[str, str | None], str]] = []
        self._stack: list[tuple[str, dict[str, str | None], list[str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        self.elements.append((tag, attributes))
        self._stack.append((tag, attributes, []))

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            name, attributes, text = self._stack.pop()
            if self._stack:
                self._stack[-1][2].extend(text)
            if name == "script":
                self.scripts.append((attributes, "".join(text)))
            if "data-field" in attributes:
                self.fields.append((attributes, "".join(text)))
            if name == tag:
                return

    def handle_data(self, data: str) -> None:
        if self._stack:
            self._stack[-1][2].append(data)


def parse(page: str) -> Page:
    parser = Page()
    parser.feed(page)
    parser.close()
    return parser


def payload(page: str) -> object:
    scripts = [text for attributes, text in parse(page).scripts if attributes.get("id") == "session-data"]
    assert len(scripts) == 1
    return json.loads(scripts[0])


def test_the_page_is_self_contained() -> None:
    page = render(session_view())
    parsed = parse(page)
    assert not [tag for tag, _ in parsed.elements if tag in ("link", "iframe", "img", "object", "embed")]
    for tag, attributes in parsed.elements:
        for name in ("src", "href", "action", "srcset", "xlink:href"):
            assert attributes.get(name) is None, (tag, attributes)
    assert [attributes.get("type") for attributes, _ in parsed.scripts] == ["application/json", None]
    assert "http://" not in page
    assert "https://" not in page
    assert not re.search(r"""(src|href)\s*=\s*["']?//""", page)
    assert "@import" not in page
    assert "url(http" not in page
    assert "default-src 'none'" in page  # a Content-Security-Policy: nothing may be fetched


def test_the_payload_is_the_view_and_round_trips() -> None:
    view = session_view()
    assert payload(render(view)) == json.loads(json.dumps(view.to_json()))


def test_recorded_text_cannot_break_out_of_the_script_or_the_markup() -> None:
    view = session_view(hostile=HOSTILE)
    view.source = HOSTILE
    view.notes.append(HOSTILE)
    view.turns[0] = Turn(1, 0.0, 1.9, 2.31, 0.41, 1.95, 0.3, 0.0, (HOSTILE,), False, None, "r", HOSTILE)
    page = render(view)
    assert "</script><img" not in page
    assert "<img src" not in page.replace(HOSTILE.replace("</", "<\\/"), "")
    assert page.count("</script>") == 2  # the payload's and the script's own: nothing else ends a script
    parsed = parse(page)
    assert not [tag for tag, _ in parsed.elements if tag == "img"]
    assert payload(page) == json.loads(json.dumps(view.to_json()))  # the hostile text is intact, as data
    assert HOSTILE in json.dumps(payload(page))
    tools = [text for attributes, text in parsed.fields if attributes.get("data-field") == "tools"]
    assert tools[0] == HOSTILE  # shown as text


def test_every_lane_has_a_row_with_its_counts() -> None:
    view = session_view()
    parsed = parse(render(view))
    rows = [attributes for _, attributes in parsed.elements if "data-lane" in attributes]
    assert [row["data-lane"] for row in rows] == list(LANES)
    for row in rows:
        lane = row["data-lane"]
        assert row["data-span-count"] == str(sum(span.lane == lane for span in view.spans))
        assert row["data-mark-count"] == str(sum(mark.lane == lane for mark in view.marks))


def turn_rows(page: str) -> dict[str, dict[str, tuple[str, str | None]]]:
    """``data-turn`` -> ``data-field`` -> (text shown, data-value), read from each row's HTML."""
    rows = {}
    for match in re.finditer(r'<tr data-turn="([^"]+)"[^>]*>(.*?)</tr>', page, re.S):
        cells = {}
        for cell in re.finditer(r'<td data-field="([^"]+)"(?: data-value="([^"]*)")?[^>]*>(.*?)</td>', match[2]):
            cells[cell[1]] = (parse_text(cell[3]), cell[2])
        rows[match[1]] = cells
    return rows


def parse_text(fragment: str) -> str:
    import html

    return html.unescape(fragment)


def test_each_turn_row_shows_its_numbers_by_the_documented_rule() -> None:
    view = session_view()
    rows = turn_rows(render(view))
    assert list(rows) == [str(turn.index) for turn in view.turns]
    for turn in view.turns:
        cells = rows[str(turn.index)]
        assert cells["voice_latency"] == (
            format_ms(turn.voice_latency),
            "" if turn.voice_latency is None else repr(turn.voice_latency),
        )
        assert cells["response_latency"][0] == format(turn.response_latency * 1000, ".0f")  # type: ignore[operator]
        assert float(cells["response_latency"][1] or "nan") == turn.response_latency
        assert cells["tool_time"][0] == (format_ms(turn.tool_time) if turn.tools else "—")
        assert cells["tools"][0] == (", ".join(turn.tools) or "—")
        assert cells["interrupted"] == ("yes" if turn.interrupted else "no", "true" if turn.interrupted else "false")
        assert cells["interrupted_at_ms"][0] == ("—" if turn.interrupted_at_ms is None else str(turn.interrupted_at_ms))
        assert cells["status"][0] == turn.status
        assert cells["start"][0] == format(turn.start, ".2f")
    assert rows["1"]["voice_latency"][0] == "410"
    assert rows["1"]["response_latency"][0] == "346"  # 345.6 ms
    assert rows["2"]["voice_latency"][0] == "—"
    assert rows["2"]["response_latency"][0] == "500"
    assert rows["2"]["tool_time"][0] == "350"
    assert rows["3"]["interrupted_at_ms"][0] == "850"


def summary_fields(page: str, section: str) -> dict[str, tuple[str, str | None]]:
    if section == "summary":
        block = re.search(r'<section id="summary".*?</section>', page, re.S)
    else:
        block = re.search(r"<tfoot>.*?</tfoot>", page, re.S)
    assert block is not None
    return {
        match[1]: (parse_text(match[3]), match[2])
        for match in re.finditer(r'<\w+ data-field="([^"]+)"(?: data-value="([^"]*)")?[^>]*>([^<]*)<', block[0])
    }


def test_the_summary_and_the_footer_show_the_percentiles_usage_and_cost() -> None:
    view = session_view()
    page = render(view)
    summary = view.summary
    assert summary is not None
    shown = summary_fields(page, "summary")
    assert shown["duration"] == ("14.2", "14.25")  # 1 decimal from 10 s (half to even on the binary value)
    assert shown["frames"] == ("1,234", "1234")
    assert shown["turns"] == ("3", "3")
    assert shown["voice_latency_p50"] == ("410", "0.41")
    assert shown["response_latency_p95"] == ("500", "0.5004999")
    assert shown["cost"] == ("0.0123", "0.01234")
    assert shown["model"][0] == "gpt-realtime"
    foot = summary_fields(page, "tfoot")
    assert set(foot) == {"voice_latency_p50", "voice_latency_p95", "response_latency_p50", "response_latency_p95"}
    assert foot["response_latency_p50"] == (format_ms(summary.response_latency_p50), "0.3456")
    assert 'data-field="usage.input_tokens" data-value="1200.0"' in page
    assert f">{format_count(14.25)}<" in page
    assert format_count(1200.0) == "1,200"
    assert 'data-field="price.output_tokens" data-value="1.6e-05"' in page
    assert "an estimate" in page.lower()
    assert "--prices FILE" in page
    assert "the last response was still open" in page  # the notes


def test_a_view_without_summary_turns_or_spans_renders() -> None:
    view = SessionView(
        source="empty.jsonl", protocol="live", lanes=LANES, timed=False, notes=["this file has no timestamps"]
    )
    page = render(view)
    assert "No turns in this recording." in page
    assert "no timestamps" in page
    assert payload(page) == view.to_json()


def large_view(spans: int = 20_000) -> SessionView:
    """About an hour of conversation: ``spans`` spans and marks over the lanes, a bounded list of events."""
    events = [
        Event(i * 1.8, "in", "response.output_audio_transcript.delta",
              json.dumps({"type": "response.output_audio_transcript.delta", "delta": "word " * 40, "item_id": f"i{i}"}))
        for i in range(2000)
    ]  # fmt: skip
    lanes = ["user speech", "user transcript", "assistant audio", "assistant text", "tools"]
    kinds = {"user speech": "speech", "user transcript": "transcript", "assistant audio": "audio",
             "assistant text": "text", "tools": "tool"}  # fmt: skip
    view_spans = [
        Span(lanes[i % 5], round(i * 0.18, 6), round(i * 0.18 + 0.9, 6), f"a label for span {i}", kinds[lanes[i % 5]],  # type: ignore[arg-type]
             cut_at=round(i * 0.18 + 0.5, 6) if i % 50 == 2 else None, events=(i % 2000, (i + 1) % 2000))
        for i in range(spans - 500)
    ]  # fmt: skip
    marks = [Mark("errors", round(i * 7.2, 6), f"error {i}", "error", event=i) for i in range(500)]
    turns = [
        Turn(i, i * 3.6, i * 3.6 + 1, i * 3.6 + 1.5, 0.5, i * 3.6 + 1.1, 0.3, 0.0, (), i % 7 == 0,
             300 if i % 7 == 0 else None, f"resp_{i}", "completed")
        for i in range(1000)
    ]  # fmt: skip
    summary = Summary(3600.0, 200_000, 1000, 0.5, 0.9, 0.3, 0.6, {"input_tokens": 1e6}, 1.5, "gpt-realtime", {})
    return SessionView("long.jsonl", "ga", LANES, view_spans, marks, turns, events, summary)


def test_a_one_hour_session_weighs_under_5_mb() -> None:
    page = render(large_view())
    size = len(page.encode())
    assert size < 5_000_000, size


def write_recording(path: Path) -> None:
    lines = [
        {"dir": "connect", "connection": 1, "t": 0.0, "frame": {"url": "ws://127.0.0.1:1/v1/realtime"}},
        {"dir": "in", "connection": 1, "t": 0.01, "frame": {"type": "session.created", "event_id": "e1",
                                                             "session": {"type": "realtime", "model": "gpt-realtime"}}},
        {"dir": "out", "connection": 1, "t": 0.02, "frame": {"type": "response.create"}},
        {"dir": "in", "connection": 1, "t": 0.3, "frame": {"type": "response.output_text.delta", "event_id": "e2",
                                                            "response_id": "r1", "item_id": "i1", "output_index": 0,
                                                            "content_index": 0, "delta": HOSTILE}},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_inspect_writes_the_report_next_to_the_recording(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recording = tmp_path / "session.jsonl"
    write_recording(recording)
    assert main(["inspect", str(recording)]) == 0
    report = tmp_path / "session.html"
    out = capsys.readouterr().out
    assert report.as_uri() in out
    page = report.read_text()
    assert "</script><img" not in page
    assert "data-lane=" in page
    assert main(["inspect", str(recording), "-o", str(tmp_path / "other.html")]) == 0
    assert (tmp_path / "other.html").is_file()


def test_inspect_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["inspect", str(tmp_path / "missing.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("realtime-dispatch inspect: error: ")
    assert "missing.jsonl" in err
    bad = tmp_path / "bad.jsonl"
    bad.write_text("this is not JSON\n{}\n")
    assert main(["inspect", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "not JSONL" in err
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    assert main(["inspect", str(binary)]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["inspect", str(tmp_path)]) == 2  # a directory
    assert capsys.readouterr().err.count("\n") == 1
    good = tmp_path / "good.jsonl"
    write_recording(good)
    prices = tmp_path / "prices.json"
    prices.write_text("[1, 2]")
    assert main(["inspect", str(good), "--prices", str(prices)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "prices" in err


def test_the_demo_writes_its_report_and_says_where(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from realtime_dispatch import demo

    report = tmp_path / "demo.html"
    assert demo.main(["--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[-1].startswith(f"report: {report.resolve().as_uri()}  (")  # the last line
    assert (tmp_path / "demo.jsonl").is_file()  # the recording, next to it
    rows = turn_rows(report.read_text())
    assert [cells["tools"][0] for cells in rows.values()].count("get_time") == 1
    assert demo.main(["--no-report"]) == 0
    assert "report:" not in capsys.readouterr().out


def test_the_demo_writes_a_report_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("report: file:///")]
    assert len(lines) == 1
    path = Path(url2pathname(lines[0].split()[1].removeprefix("file://")))
    try:
        assert path.is_file()
        assert path.suffix == ".html"
    finally:
        for file in path.parent.iterdir():
            file.unlink()
        path.parent.rmdir()


def test_inspect_takes_prices_from_a_file_or_a_mapping(tmp_path: Path) -> None:
    from realtime_dispatch.inspector import inspect

    recording = tmp_path / "session.jsonl"
    write_recording(recording)
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-realtime": {"text_in": 1.5, "text_out": 2.5}}))
    assert main(["inspect", str(recording), "--prices", str(prices)]) == 0
    page = (tmp_path / "session.html").read_text()
    assert 'data-field="price.text_in" data-value="1.5"' in page
    assert "the prices of prices.json" in page
    report = inspect(recording, tmp_path / "flat.html", prices={"text_in": 3.0})
    assert 'data-field="price.text_in" data-value="3.0"' in report.read_text()
