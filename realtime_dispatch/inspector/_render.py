"""A ``SessionView`` as one self-contained HTML page: a timeline, a turn table and a summary.

The page needs nothing but itself: inline CSS, inline JS, no URL of any kind (a Content-Security-Policy
forbids every fetch). The turn table and the summary are HTML written here (readable without JS); the
timeline is drawn by the inline script from the view's JSON (``<script type="application/json"
id="session-data">``, exactly ``view.to_json()``). The script draws one SVG per lane row for the visible
window only: the spans and marks in view (found by binary search), with neighbours narrower than a few
pixels merged into one "N items" bar, so a one-hour session draws a few thousand elements at most, whatever
its size. Hovering, clicking and dragging are handled by a few listeners on the timeline (delegated: no
listener per span).

Untrusted text (a recording's labels, transcripts, event JSON) never becomes markup: the HTML written here
escapes it, the JSON payload has ``</`` and ``<!--`` escaped (``<\\/``, ``\\u003c!--``: no ``</script>``
can end it early), and the script puts text in the page with ``textContent`` only.

DOM hooks (for the browser test; the numbers are those shown):

- ``[data-lane="<lane>"]``: one per lane of ``view.lanes``, top to bottom, with ``data-span-count`` and
  ``data-mark-count`` (the spans and marks on that lane) and an ``<svg class="track">`` the script fills.
- ``#turns tbody tr[data-turn="<Turn.index>"]``: one per turn; its cells carry ``data-field`` (``index``,
  ``start``, ``voice_latency``, ``response_latency``, ``tool_time``, ``tools``, ``interrupted``,
  ``interrupted_at_ms``, ``status``) and ``data-value``: the exact value (``repr``: seconds for the
  latencies, ``start`` and ``tool_time``, the int for ``index`` and ``interrupted_at_ms``; empty for None),
  ``true``/``false`` for ``interrupted``, the status itself; ``tools`` has none (its text is the names, ", ").
- ``#timeline[data-drawn]``: how many bars and marks the script drew for the window in view (set once drawn);
  ``#window``: the window's times and that count, as text; ``#tip`` the tooltip, ``#details`` a clicked item's.
- ``#turns tfoot``: ``data-field`` ``voice_latency_p50``, ``voice_latency_p95``, ``response_latency_p50``,
  ``response_latency_p95``; ``#summary`` the same four, and ``duration``, ``frames``, ``turns``, ``model``,
  ``cost``; ``#usage`` (when there is a summary): ``usage.<key>`` and ``price.<key>``.

Number rules (``format_ms`` and friends; the cell's text is exactly this):

- latencies and tool time: milliseconds, no decimals: ``format(seconds * 1000, ".0f")``; None is ``—``;
  a turn without tools shows ``—`` for its tool time;
- ``start``: seconds, 2 decimals (``format(start, ".2f")``); ``duration``: seconds, 1 decimal from 10 s, else 3
  (``format_duration``);
- ``interrupted``: ``yes`` or ``no``; ``interrupted_at_ms``: the int, or ``—``;
- ``cost``: US dollars, 4 decimals (``format(cost, ".4f")``), or ``—`` when unknown;
- ``frames``, ``turns`` and usage values: ``format(value, ",.0f")`` when whole, else ``format(value, ",.2f")``;
  prices: ``format(value, "g")``.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ._view import SessionView, Turn

__all__ = ("format_count", "format_duration", "format_ms", "render")

NONE = "—"  # what a missing number shows


def format_ms(seconds: float | None) -> str:
    """A duration in seconds as the page shows it: whole milliseconds, or ``—``."""
    return NONE if seconds is None else format(seconds * 1000, ".0f")


def format_duration(seconds: float) -> str:
    """The session's duration, in seconds: 1 decimal from 10 s, else 3 (a fast simulated session is short)."""
    return format(seconds, ".1f" if seconds >= 10 else ".3f")


def format_count(value: float) -> str:
    """A count (frames, tokens, seconds of usage): with thousands separators, decimals only when not whole."""
    return format(value, ",.0f") if float(value).is_integer() else format(value, ",.2f")


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _value(seconds: float | int | None) -> str:
    return "" if seconds is None else repr(seconds)


def _script_json(data: Any) -> str:
    """JSON that can sit inside ``<script>``: no ``</`` nor ``<!--`` (escaped as ``<\\/`` and ``\\u003c!--``), and
    only ASCII (no line separators that old parsers choke on, no lone surrogates to encode)."""
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"), allow_nan=False)
    # In a script, only "</" (which could be "</script") and "<!--" (which changes how "</script" is parsed) matter;
    # both can only be inside JSON strings, where "\/" and "\u003c" mean the same characters.
    return text.replace("</", "<\\/").replace("<!--", "\\u003c!--")


def render(view: SessionView, *, prices_note: str | None = None) -> str:
    """The report of ``view``: one HTML page, self-contained. ``prices_note``: where the prices of the estimated
    cost come from (their date and source), said next to it."""
    summary = view.summary
    lanes = list(view.lanes)
    spans_per_lane = dict.fromkeys(lanes, 0)
    marks_per_lane = dict.fromkeys(lanes, 0)
    for span in view.spans:
        if span.lane in spans_per_lane:
            spans_per_lane[span.lane] += 1
    for mark in view.marks:
        if mark.lane in marks_per_lane:
            marks_per_lane[mark.lane] += 1
    rows = "\n".join(
        f'<div class="lane-row" data-lane="{_e(lane)}" data-span-count="{spans_per_lane[lane]}"'
        f' data-mark-count="{marks_per_lane[lane]}"><div class="lane-name"><span class="swatch'
        f' k-{_e(_LANE_KIND.get(lane, "other"))}"></span>{_e(lane)}<span class="count">'
        f'{spans_per_lane[lane] + marks_per_lane[lane]}</span></div><svg class="track"></svg></div>'
        for lane in lanes
    )
    badges = [f'<span class="badge">{_e(view.protocol)}</span>']
    if not view.timed:
        badges.append('<span class="badge warn">no timestamps</span>')
    notes = "".join(f"<li>{_e(note)}</li>" for note in view.notes)
    notes_block = f'<section class="notes"><ul>{notes}</ul></section>' if notes else ""
    return _TEMPLATE.format(
        title=_e(view.source or "session"),
        badges="".join(badges),
        stats=_stats(view),
        notes=notes_block,
        axis_hint="wheel: zoom · drag: pan" if view.timed else "frame order (no timestamps)",
        legend=_LEGEND,
        rows=rows,
        turns=_turn_table(view),
        usage=_usage(view, prices_note) if summary is not None else "",
        payload=_script_json(view.to_json()),
        style=_STYLE,
        script=_SCRIPT,
    )


_LANE_KIND = {
    "user speech": "speech",
    "user transcript": "transcript",
    "assistant audio": "audio",
    "assistant text": "text",
    "tools": "tool",
    "errors": "error",
    "connection": "connection",
}

_LEGEND = (
    "".join(
        f'<span class="key"><span class="swatch k-{kind}"></span>{text}</span>'
        for kind, text in (
            ("speech", "user speech"),
            ("transcript", "transcript"),
            ("audio", "assistant audio"),
            ("text", "assistant text"),
            ("tool", "tool call"),
            ("error", "error"),
            ("connection", "connection"),
        )
    )
    + '<span class="key"><span class="swatch cut"></span>cut by an interruption</span>'
)


def _field(name: str, shown: str, value: str | None = None, tag: str = "span", extra: str = "") -> str:
    data_value = "" if value is None else f' data-value="{_e(value)}"'
    return f'<{tag} data-field="{_e(name)}"{data_value}{extra}>{_e(shown)}</{tag}>'


def _stats(view: SessionView) -> str:
    """The strip of headline numbers under the title (``#summary``)."""
    summary = view.summary
    if summary is None:
        return (
            '<section id="summary" class="stats"><div class="stat"><div class="label">summary</div>'
            '<div class="big">not available</div></div></section>'
        )
    cost = NONE if summary.cost is None else format(summary.cost, ".4f")
    cells = [
        ("duration", _field("duration", format_duration(summary.duration), _value(summary.duration)), "s"),
        ("turns", _field("turns", format_count(summary.turns), _value(summary.turns)), ""),
        ("frames", _field("frames", format_count(summary.frames), _value(summary.frames)), ""),
        (
            "voice latency p50 / p95",
            _field("voice_latency_p50", format_ms(summary.voice_latency_p50), _value(summary.voice_latency_p50))
            + '<span class="sep">/</span>'
            + _field("voice_latency_p95", format_ms(summary.voice_latency_p95), _value(summary.voice_latency_p95)),
            "ms",
        ),
        (
            "response latency p50 / p95",
            _field(
                "response_latency_p50", format_ms(summary.response_latency_p50), _value(summary.response_latency_p50)
            )
            + '<span class="sep">/</span>'
            + _field(
                "response_latency_p95", format_ms(summary.response_latency_p95), _value(summary.response_latency_p95)
            ),
            "ms",
        ),
        (
            "estimated cost",
            ('<span class="unit">$</span>' if summary.cost is not None else "")
            + _field("cost", cost, _value(summary.cost)),
            "",
        ),
        ("model", _field("model", summary.model or NONE, summary.model or ""), ""),
    ]
    parts = [
        f'<div class="stat"><div class="label">{_e(label)}</div><div class="big">{shown}'
        + (f' <span class="unit">{unit}</span>' if unit else "")
        + "</div></div>"
        for label, shown, unit in cells
    ]
    return f'<section id="summary" class="stats">{"".join(parts)}</section>'


def _bar(seconds: float | None, longest: float) -> str:
    """An inline bar behind a latency cell, as long as its share of the longest."""
    if seconds is None or longest <= 0:
        return ""
    return f' style="--w:{min(100.0, 100 * seconds / longest):.0f}%"'


def _turn_row(turn: Turn, longest: float) -> str:
    """One turn's row: kept small (a long session has a thousand turns), its look set by column in the CSS."""
    has_tools = bool(turn.tools) or turn.tool_time > 0
    status = turn.status or NONE
    cells = [
        _field("index", str(turn.index), _value(turn.index), "td"),
        _field("start", format(turn.start, ".2f"), _value(turn.start), "td"),
        _field(
            "voice_latency",
            format_ms(turn.voice_latency),
            _value(turn.voice_latency),
            "td",
            _bar(turn.voice_latency, longest),
        ),
        _field(
            "response_latency",
            format_ms(turn.response_latency),
            _value(turn.response_latency),
            "td",
            _bar(turn.response_latency, longest),
        ),
        _field("tool_time", format_ms(turn.tool_time) if has_tools else NONE, _value(turn.tool_time), "td"),
        _field("tools", ", ".join(turn.tools) or NONE, None, "td"),
        _field(
            "interrupted",
            "yes" if turn.interrupted else "no",
            "true" if turn.interrupted else "false",
            "td",
            ' class="cut-yes"' if turn.interrupted else "",
        ),
        _field(
            "interrupted_at_ms",
            NONE if turn.interrupted_at_ms is None else str(turn.interrupted_at_ms),
            _value(turn.interrupted_at_ms),
            "td",
        ),
        _field("status", status, turn.status or "", "td", "" if status == "completed" else f' class="s-{_e(status)}"'),
    ]
    return f'<tr data-turn="{turn.index}">{"".join(cells)}</tr>'


def _turn_table(view: SessionView) -> str:
    if not view.turns:
        return '<p class="empty">No turns in this recording.</p>'
    latencies = [t for turn in view.turns for t in (turn.voice_latency, turn.response_latency) if t is not None]
    longest = max(latencies, default=0.0)
    body = "\n".join(_turn_row(turn, longest) for turn in view.turns)
    summary = view.summary
    foot = ""
    if summary is not None:
        foot_rows = []
        for name in ("p50", "p95"):
            voice = getattr(summary, f"voice_latency_{name}")
            response = getattr(summary, f"response_latency_{name}")
            foot_rows.append(
                f'<tr><th colspan="2" scope="row">{name}</th>'
                + _field(f"voice_latency_{name}", format_ms(voice), _value(voice), "td", ' class="num"')
                + _field(f"response_latency_{name}", format_ms(response), _value(response), "td", ' class="num"')
                + '<td colspan="5"></td></tr>'
            )
        foot = f"<tfoot>{''.join(foot_rows)}</tfoot>"
    return (
        '<div class="scroll"><table id="turns"><thead><tr><th scope="col">#</th>'
        '<th scope="col" class="num">start (s)</th>'
        '<th scope="col" class="num" title="end of user speech → first assistant audio">voice latency (ms)</th>'
        '<th scope="col" class="num" title="response.create sent → first output delta">response latency (ms)</th>'
        '<th scope="col" class="num" title="tool calls: arguments done → output sent, summed">tool time (ms)</th>'
        '<th scope="col">tools</th><th scope="col">interrupted</th>'
        '<th scope="col" class="num" title="where the assistant audio was cut (audio_end_ms)">cut at (ms)</th>'
        f'<th scope="col">status</th></tr></thead><tbody>{body}</tbody>{foot}</table></div>'
    )


def _kv_row(key: str, field: str, shown: str, value: float) -> str:
    cell = _field(field, shown, _value(value), "td", ' class="num"')
    return f'<tr><th scope="row">{_e(key)}</th>{cell}</tr>'


def _usage(view: SessionView, prices_note: str | None) -> str:
    summary = view.summary
    assert summary is not None
    usage = "".join(_kv_row(key, f"usage.{key}", format_count(value), value) for key, value in summary.usage.items())
    prices = "".join(_kv_row(key, f"price.{key}", format(value, "g"), value) for key, value in summary.prices.items())
    usage = usage or '<tr><td colspan="2" class="muted">no usage reported</td></tr>'
    prices = prices or '<tr><td colspan="2" class="muted">no price for this model</td></tr>'
    cost = "unknown (no price for this model)" if summary.cost is None else f"${summary.cost:.4f}"
    source = f" {_e(prices_note)}" if prices_note else ""
    return (
        '<section class="card" id="usage"><h2>Usage and cost</h2><div class="cols">'
        f'<div><h3>Usage reported</h3><table class="kv">{usage}</table></div>'
        '<div><h3>Prices used</h3><p class="muted small">USD per 1M tokens (voice_minute: per minute)</p>'
        f'<table class="kv">{prices}</table></div>'
        f'<div><h3>Estimated cost</h3><p class="big">{_e(cost)}</p><p class="muted">An estimate: the usage the'
        f" service reported times the prices listed.{source} Override them with <code>--prices FILE</code>"
        ' (<code>inspect(prices=...)</code>): <code>{"MODEL": {"text_in": 4.0, ...}}</code>.</p></div>'
        "</div></section>"
    )


_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; \
script-src 'unsafe-inline'; img-src data:">
<title>{title} · session report</title>
<style>{style}</style>
</head>
<body>
<header class="top">
<div><div class="kicker">realtime-dispatch · session report</div><h1>{title}</h1></div>
<div class="badges">{badges}</div>
</header>
{stats}
{notes}
<section class="card" id="timeline-card">
<div class="toolbar">
<h2>Timeline</h2>
<div class="buttons" id="controls">
<button type="button" data-act="zoom-out" title="zoom out (-)">&minus;</button>
<button type="button" data-act="zoom-in" title="zoom in (+)">+</button>
<button type="button" data-act="left" title="pan left (←)">←</button>
<button type="button" data-act="right" title="pan right (→)">→</button>
<button type="button" data-act="fit" title="fit the session (0)">fit</button>
</div>
<div class="window" id="window"></div>
</div>
<div class="legend">{legend}</div>
<noscript><p class="muted">The timeline is drawn by JavaScript; the summary and the turn table need none.</p></noscript>
<div class="timeline" id="timeline">
<div class="axis-row"><div class="lane-name hint">{axis_hint}</div><svg id="axis"></svg></div>
<div id="tracks">
{rows}
</div>
</div>
<div id="details" hidden><div class="details-head"><span>Details</span>\
<button type="button" id="details-close" title="close">&times;</button></div><div id="details-body"></div></div>
</section>
<section class="card" id="turns-card">
<h2>Turns</h2>
<p class="muted">Voice latency: end of user speech → first assistant audio.
Response latency: <code>response.create</code>
→ first output delta. Click a turn to see it on the timeline.</p>
{turns}
</section>
{usage}
<footer>Made by <code>realtime-dispatch inspect</code>.
Audio is elided and secrets scrubbed in the events shown.</footer>
<div id="tip" hidden></div>
<svg id="defs" width="0" height="0" aria-hidden="true"><defs>
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
<rect width="6" height="6" fill="#fde8e8"></rect><rect width="3" height="6" fill="#f19a9a"></rect></pattern>
</defs></svg>
<script type="application/json" id="session-data">{payload}</script>
<script>{script}</script>
</body>
</html>
"""

_STYLE = """
:root{--bg:#f6f7f9;--card:#fff;--ink:#1f2933;--muted:#6b7785;--line:#e3e7ec;--accent:#2563eb;
--speech:#3b82f6;--transcript:#93c5fd;--audio:#10b981;--text:#86dcb8;--tool:#f59e0b;--error:#ef4444;
--connection:#8b5cf6;--other:#94a3b8;--name:170px}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif;padding:24px 28px 40px}
h1{font-size:22px;margin:2px 0 0;font-weight:650;word-break:break-all}
h2{font-size:15px;margin:0;font-weight:650}
h3{font-size:12px;margin:0 0 6px;text-transform:uppercase;letter-spacing:.04em;color:var(--muted);font-weight:600}
code{font:12.5px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#eef1f5;padding:1px 4px;
border-radius:4px}
.top{display:flex;justify-content:space-between;align-items:flex-end;gap:16px;margin-bottom:16px}
.kicker{font-size:12px;color:var(--muted);letter-spacing:.03em}
.badges{display:flex;gap:6px;flex:none}
.badge{display:inline-block;font-size:12px;padding:2px 8px;border-radius:999px;background:#e8eefc;color:#1d4ed8;
white-space:nowrap}
.badge.warn{background:#fff4e0;color:#9a5b00}
.stats{display:flex;flex-wrap:wrap;gap:10px;margin-bottom:16px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px;min-width:120px}
.stat .label{font-size:12px;color:var(--muted)}
.stat .big{font-size:20px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap}
.unit{font-size:13px;color:var(--muted);font-weight:500}
.sep{color:var(--muted);margin:0 4px;font-weight:400}
.notes{background:#fff8e6;border:1px solid #f6dfa4;border-radius:10px;padding:8px 14px;margin-bottom:16px;
color:#6b4a00}
.notes ul{margin:0;padding-left:18px}
.card{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:14px 16px;margin-bottom:16px;
box-shadow:0 1px 2px rgba(16,24,40,.04)}
.toolbar{display:flex;align-items:center;gap:14px;flex-wrap:wrap}
.buttons{display:flex;gap:4px}
button{font:inherit;font-size:13px;border:1px solid var(--line);background:#fff;border-radius:6px;
padding:3px 10px;cursor:pointer;color:var(--ink)}
button:hover{background:#f1f4f8;border-color:#cfd6de}
.window{font-size:12px;color:var(--muted);font-variant-numeric:tabular-nums;margin-left:auto}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;color:var(--muted);margin:10px 0 8px}
.key{display:inline-flex;align-items:center;gap:5px}
.swatch{display:inline-block;width:12px;height:12px;border-radius:3px;background:var(--other);flex:none}
.swatch.k-speech{background:var(--speech)}.swatch.k-transcript{background:var(--transcript)}
.swatch.k-audio{background:var(--audio)}.swatch.k-text{background:var(--text)}
.swatch.k-tool{background:var(--tool)}.swatch.k-error{background:var(--error)}
.swatch.k-connection{background:var(--connection)}
.swatch.cut{background:repeating-linear-gradient(45deg,#f19a9a 0 3px,#fde8e8 3px 6px)}
.timeline{border:1px solid var(--line);border-radius:8px;overflow:hidden;user-select:none}
.axis-row,.lane-row{display:flex;align-items:stretch}
.axis-row{background:#fafbfc;border-bottom:1px solid var(--line);height:28px}
.lane-name{width:var(--name);flex:none;padding:0 10px;display:flex;align-items:center;gap:7px;font-size:13px;
border-right:1px solid var(--line);white-space:nowrap;overflow:hidden}
.lane-name.hint{font-size:11px;color:var(--muted)}
.lane-name .count{margin-left:auto;font-size:11px;color:var(--muted);font-variant-numeric:tabular-nums}
.lane-row{height:36px;border-bottom:1px solid #f0f2f5}
.lane-row:last-child{border-bottom:0}
.lane-row:nth-child(even){background:#fcfcfd}
#tracks{cursor:grab}
#tracks.dragging{cursor:grabbing}
svg.track,#axis{flex:1;min-width:0;height:100%;display:block}
#axis text{font-size:11px;fill:var(--muted);font-variant-numeric:tabular-nums}
#axis .tick{stroke:#cfd6de}
#axis .turn{fill:#8a94a3;font-size:10px}
.grid{stroke:#eef1f4}
.turn-line{stroke:#d6dbe2;stroke-dasharray:2 3}
.s{stroke:rgba(0,0,0,.08);stroke-width:1}
.s:hover,.m:hover{filter:brightness(.92)}
.k-speech{fill:var(--speech)}.k-transcript{fill:var(--transcript)}.k-audio{fill:var(--audio)}
.k-text{fill:var(--text)}.k-tool{fill:var(--tool)}.k-error{fill:var(--error)}
.k-connection{fill:var(--connection)}.k-other{fill:var(--other)}
.o-error,.o-failed,.o-cancelled{stroke:#b91c1c;stroke-width:1.5}
.open{stroke-dasharray:4 3;stroke:#64748b}
.cut{fill:url(#hatch);stroke:#e05252;stroke-width:1}
.cluster{opacity:.75}
.lbl{font-size:11px;fill:#fff;pointer-events:none;dominant-baseline:central}
.lbl.dark{fill:#1f2933}
.m line{stroke-width:1.5}
.m path{stroke:#fff;stroke-width:1}
.m.k-error line{stroke:var(--error)}.m.k-connection line{stroke:var(--connection)}
.m.k-audio line{stroke:#e05252}.m line{stroke:#64748b}
#tip{position:fixed;z-index:10;width:max-content;max-width:540px;max-height:70vh;overflow:hidden;background:#fff;
border:1px solid #d5dbe3;border-radius:8px;box-shadow:0 8px 24px rgba(16,24,40,.16);padding:10px 12px;
font-size:12.5px;pointer-events:none}
#tip .t,#details .t{font-weight:650;font-size:13.5px;margin-bottom:2px;word-break:break-word}
#tip .meta,#details .meta{color:var(--muted);font-variant-numeric:tabular-nums;margin-bottom:6px}
#tip pre,#details pre{margin:4px 0 0;font:11.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
background:#f6f8fa;border:1px solid #eceff3;border-radius:6px;padding:6px 8px;white-space:pre-wrap;
word-break:break-all}
#tip pre{max-height:180px;overflow:hidden}
.ev{margin-top:6px}.ev .h{font-variant-numeric:tabular-nums;color:#334155}
#details{margin-top:12px;border:1px solid var(--line);border-radius:8px;max-height:420px;overflow:auto;
background:#fcfcfd}
.details-head{position:sticky;top:0;display:flex;justify-content:space-between;align-items:center;padding:6px 10px;
background:#f3f5f8;border-bottom:1px solid var(--line);font-weight:600;font-size:12.5px}
#details-body{padding:8px 12px;font-size:12.5px}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
#turns{margin-top:8px}
#turns th,#turns td{padding:6px 10px;border-bottom:1px solid #eef1f4;text-align:left;white-space:nowrap}
#turns thead th{font-size:12px;color:var(--muted);font-weight:600;border-bottom:1px solid var(--line);
position:sticky;top:0;background:#fff}
#turns .num,#turns tbody td:nth-child(-n+5):not(:first-child),#turns tbody td:nth-child(8){text-align:right}
#turns tbody tr{cursor:pointer}
#turns tbody tr:hover{background:#f5f8ff}
#turns td[style]{background:linear-gradient(90deg,#9dbdf5 var(--w,0%),transparent var(--w,0%))
no-repeat right 10px bottom 3px/calc(100% - 20px) 3px}
#turns tfoot th,#turns tfoot td{font-weight:600;border-bottom:0;border-top:1px solid var(--line);
position:sticky;background:#fff}
#turns tfoot tr:first-child th,#turns tfoot tr:first-child td{bottom:33px}
#turns tfoot tr:last-child th,#turns tfoot tr:last-child td{bottom:0}
#turns tbody td:nth-child(6){white-space:normal;max-width:280px}
#turns tbody td:nth-child(7):not(.cut-yes),#turns tbody td:nth-child(1){color:var(--muted)}
.cut-yes{color:#b42318;font-weight:600}
.muted{color:var(--muted)}
.s-failed,.s-incomplete{color:#b42318}
.s-cancelled{color:#9a5b00}
#turns-card .scroll{max-height:560px;overflow:auto}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(240px,1fr));gap:20px;margin-top:10px}
table.kv th,table.kv td{padding:3px 0;border-bottom:1px solid #f0f2f5;font-weight:400;text-align:left}
table.kv td{text-align:right}
p.big{font-size:22px;font-weight:600;margin:0 0 6px}
p.small{font-size:12px;margin:-4px 0 6px}
.empty{color:var(--muted)}
footer{color:var(--muted);font-size:12px;margin-top:8px}
"""

# The timeline. Plain ES2017, no library: the view's JSON in, one SVG per lane row out, redrawn (only what is
# in view) on zoom, pan and resize; the tooltip and the details panel are filled with textContent only.
_SCRIPT = r"""
(function () {
"use strict";
var data = JSON.parse(document.getElementById("session-data").textContent);
var NS = document.getElementById("defs").namespaceURI;
var KINDS = {speech: 1, transcript: 1, audio: 1, text: 1, tool: 1, error: 1, connection: 1};
var DARK_TEXT = {transcript: 1, text: 1, tool: 1};
var lanes = data.lanes, spans = data.spans, marks = data.marks, events = data.events, turns = data.turns;
var rows = Array.prototype.slice.call(document.querySelectorAll("#tracks .lane-row"));
var svgs = rows.map(function (row) { return row.querySelector("svg.track"); });
var axis = document.getElementById("axis"), tracks = document.getElementById("tracks");
var tip = document.getElementById("tip"), win = document.getElementById("window");

var tEnd = data.summary && data.summary.duration > 0 ? data.summary.duration : 0;
spans.forEach(function (s) { tEnd = Math.max(tEnd, s.start, s.end === null ? 0 : s.end); });
marks.forEach(function (m) { tEnd = Math.max(tEnd, m.at); });
if (!(tEnd > 0)) tEnd = 1;
function endOf(s) { return s.end === null ? tEnd : s.end; }
function kindOf(k) { return KINDS[k] ? k : "other"; }

// Per lane: span indexes sorted by start, with the running maximum of their ends (to find the first span
// that reaches into the window by binary search); marks sorted by time.
var laneAt = {};
lanes.forEach(function (lane, i) { laneAt[lane] = i; });
var bySpan = lanes.map(function () { return []; }), byMark = lanes.map(function () { return []; });
spans.forEach(function (s, i) { var l = laneAt[s.lane]; if (l !== undefined) bySpan[l].push(i); });
marks.forEach(function (m, i) { var l = laneAt[m.lane]; if (l !== undefined) byMark[l].push(i); });
var index = bySpan.map(function (list) {
  list.sort(function (a, b) { return spans[a].start - spans[b].start; });
  var starts = new Float64Array(list.length), reach = new Float64Array(list.length), top = -Infinity;
  list.forEach(function (i, k) { starts[k] = spans[i].start; top = Math.max(top, endOf(spans[i])); reach[k] = top; });
  return {list: list, starts: starts, reach: reach};
});
var markIndex = byMark.map(function (list) {
  list.sort(function (a, b) { return marks[a].at - marks[b].at; });
  return {list: list, at: Float64Array.from(list.map(function (i) { return marks[i].at; }))};
});
function search(arr, x, strict) {  // the first index whose value is >= x (strict: > x)
  var lo = 0, hi = arr.length;
  while (lo < hi) {
    var mid = (lo + hi) >> 1;
    if (arr[mid] < x || (strict && arr[mid] === x)) lo = mid + 1; else hi = mid;
  }
  return lo;
}
function firstAtLeast(arr, x) { return search(arr, x, false); }
function firstAbove(arr, x) { return search(arr, x, true); }

var pad = tEnd * 0.02, v0 = -pad, v1 = tEnd + pad, width = 600, clusters = [];
function X(t) { return (t - v0) / (v1 - v0) * width; }
function T(x) { return v0 + x / width * (v1 - v0); }

function el(name, attrs, parent) {
  var node = document.createElementNS(NS, name);
  for (var key in attrs) node.setAttribute(key, attrs[key]);
  if (parent) parent.appendChild(node);
  return node;
}
function fmtT(t, step) {
  var digits = step >= 1 ? 0 : step >= 0.1 ? 1 : step >= 0.01 ? 2 : 3;
  if (Math.abs(t) < 60 || step < 0.001) return t.toFixed(digits) + "s";
  var sign = t < 0 ? "-" : "", a = Math.abs(t), m = Math.floor(a / 60), s = a - m * 60;
  var ss = s.toFixed(digits); if (s < 10) ss = "0" + ss;
  if (m >= 60) { var h = Math.floor(m / 60); m = m % 60; return sign + h + ":" + (m < 10 ? "0" : "") + m + ":" + ss; }
  return sign + m + ":" + ss;
}
function fmtDur(d) { return d < 1 ? Math.round(d * 1000) + " ms" : d.toFixed(d < 10 ? 2 : 1) + " s"; }
function tickStep() {
  var target = (v1 - v0) / Math.max(2, width / 90), p = Math.pow(10, Math.floor(Math.log10(target)));
  var steps = [1, 2, 5, 10], i = 0;
  while (steps[i] * p < target) i++;
  return steps[i] * p;
}
function truncate(text, px) {
  var n = Math.floor(px / 6.3);
  if (n < 2) return "";
  return text.length > n ? text.slice(0, n - 1) + "\u2026" : text;
}

function draw() {
  frame = 0;
  width = Math.max(100, axis.getBoundingClientRect().width);
  var h = 36, mid = h / 2, bar = 20, y = (h - bar) / 2, drawn = 0, step = tickStep();
  clusters = [];
  axis.textContent = "";
  var first = Math.ceil(v0 / step) * step, ticks = [];
  for (var t = first; t <= v1; t += step) ticks.push(t);
  ticks.forEach(function (t) {
    var x = X(t);
    el("line", {x1: x, x2: x, y1: 20, y2: 28, "class": "tick"}, axis);
    if (x < width - 40) el("text", {x: x + 3, y: 14}, axis).textContent = fmtT(Math.abs(t) < step / 1e6 ? 0 : t, step);
  });
  var turnXs = [], nextTurnX = -Infinity;
  turns.forEach(function (turn) {
    if (turn.start < v0 || turn.start > v1) return;
    var x = X(turn.start), label = "#" + turn.index;
    if (x < nextTurnX) return;  // no room for its number: the previous one's is still there
    nextTurnX = x + 10 + 6 * label.length;
    turnXs.push(x);
    el("text", {x: x + 2, y: 26, "class": "turn"}, axis).textContent = label;
  });
  svgs.forEach(function (svg, l) {
    svg.textContent = "";
    ticks.forEach(function (t) { var x = X(t); el("line", {x1: x, x2: x, y1: 0, y2: h, "class": "grid"}, svg); });
    turnXs.forEach(function (x) { el("line", {x1: x, x2: x, y1: 0, y2: h, "class": "turn-line"}, svg); });
    var ix = index[l], k = firstAtLeast(ix.reach, v0), stop = firstAbove(ix.starts, v1), run = null;
    function flush() {
      if (!run) return;
      if (run.items.length === 1) drawSpan(svg, run.items[0], y, bar);
      else {
        var c = clusters.length;
        clusters.push({items: run.items, start: run.start, end: run.end, lane: lanes[l]});
        el("rect", {x: run.x0, y: y, width: Math.max(2, run.x1 - run.x0), height: bar, rx: 3,
          "class": "s cluster k-" + kindOf(spans[run.items[0]].kind), "data-c": c}, svg);
      }
      drawn++;
      run = null;
    }
    for (; k < stop; k++) {
      var i = ix.list[k], s = spans[i], e = endOf(s);
      if (e < v0) continue;
      var x0 = X(s.start), x1 = X(e);
      if (x1 - x0 >= 4) { flush(); drawSpan(svg, i, y, bar); drawn++; continue; }
      if (run && x0 <= run.x1 + 1) {
        run.items.push(i); run.x1 = Math.max(run.x1, x1); run.end = Math.max(run.end, e);
        continue;
      }
      flush();
      run = {items: [i], x0: x0, x1: Math.max(x1, x0 + 2), start: s.start, end: e};
    }
    flush();
    var mx = markIndex[l], a = firstAtLeast(mx.at, v0), b = firstAbove(mx.at, v1), group = null;
    function flushMarks() {
      if (!group) return;
      drawMark(svg, group, h, mid);
      drawn++;
      group = null;
    }
    for (; a < b; a++) {
      var m = mx.list[a], x = X(marks[m].at);
      if (group && x - group.x < 8) { group.items.push(m); continue; }
      flushMarks();
      group = {x: x, items: [m]};
    }
    flushMarks();
  });
  win.textContent = fmtT(Math.max(v0, 0), (v1 - v0) / 10) + " \u2013 " + fmtT(v1, (v1 - v0) / 10) +
    " \u00b7 " + drawn + " drawn of " + (spans.length + marks.length);
  document.getElementById("timeline").setAttribute("data-drawn", drawn);
}

function drawSpan(svg, i, y, bar) {
  var s = spans[i], e = endOf(s), kind = kindOf(s.kind);
  var x0 = Math.max(X(s.start), -2), x1 = Math.min(X(e), width + 2), w = Math.max(2, x1 - x0);
  var cls = "s k-" + kind + (s.end === null ? " open" : "");
  if (s.outcome && s.outcome !== "ok" && kind === "tool") cls += " o-" + s.outcome.replace(/[^a-z]/g, "");
  var g = el("g", {"data-i": i}, svg);
  el("rect", {x: x0, y: y, width: w, height: bar, rx: 3, "class": cls}, g);
  if (s.cut_at !== null && s.cut_at < e) {
    var xc = Math.max(X(s.cut_at), x0);
    el("rect", {x: xc, y: y, width: Math.max(1, x1 - xc), height: bar, rx: 2, "class": "cut"}, g);
    w = xc - x0;
  }
  var text = s.label || "";
  if (kind === "tool" && s.outcome) text += " \u00b7 " + s.outcome;
  var shown = truncate(text, w - 8);
  if (!shown) return;
  var cls2 = "lbl" + (DARK_TEXT[kind] ? " dark" : "");
  el("text", {x: Math.max(x0, 0) + 5, y: y + bar / 2, "class": cls2}, g).textContent = shown;
}

function drawMark(svg, group, h, mid) {
  var m = marks[group.items[0]], kind = kindOf(m.kind), x = group.x;
  var g = el("g", {"class": "m k-" + kind, "data-m": group.items.join(",")}, svg);
  el("line", {x1: x, x2: x, y1: 3, y2: h - 3}, g);
  el("path", {d: "M" + x + " " + (mid - 6) + "l6 6l-6 6l-6-6z", "class": "k-" + kind}, g);
  el("rect", {x: x - 7, y: 0, width: 14, height: h, fill: "transparent"}, g);
  if (group.items.length < 2) return;
  el("text", {x: x + 8, y: mid, "class": "lbl dark"}, g).textContent = "\u00d7" + group.items.length;
}

var frame = 0;
function redraw() { if (!frame) frame = requestAnimationFrame(draw); }
function setWindow(a, b) {
  var span = Math.max(b - a, 0.002), lo = -tEnd * 0.5, hi = tEnd * 1.5;
  if (span > hi - lo) span = hi - lo;
  if (a < lo) a = lo;
  if (a + span > hi) a = hi - span;
  v0 = a; v1 = a + span;
  redraw();
}
function zoom(factor, at) {
  if (at === undefined) at = (v0 + v1) / 2;
  setWindow(at - (at - v0) * factor, at + (v1 - at) * factor);
}
function pan(fraction) { var d = (v1 - v0) * fraction; setWindow(v0 + d, v1 + d); }
function fit() { setWindow(-pad, tEnd + pad); }

// --- hovering, details ---------------------------------------------------------------------------
function line(parent, cls, text) {
  var d = document.createElement("div");
  d.className = cls; d.textContent = text; parent.appendChild(d);
  return d;
}
function pretty(json) { try { return JSON.stringify(JSON.parse(json), null, 2); } catch (err) { return json; } }
function addEvents(parent, list, max, long) {
  list.slice(0, max).forEach(function (n) {
    var ev = events[n];
    if (!ev) return;
    var box = line(parent, "ev", "");
    line(box, "h", ev.t.toFixed(3) + " s \u00b7 " + ev.direction + " \u00b7 " + ev.type);
    var pre = document.createElement("pre"), text = pretty(ev.json);
    pre.textContent = long || text.length < 1200 ? text : text.slice(0, 1200) + "\n\u2026";
    box.appendChild(pre);
  });
  if (list.length > max) line(parent, "meta", "\u2026 and " + (list.length - max) + " more event(s): click to see all");
}
function describe(target, into, long) {
  into.textContent = "";
  var node = target.closest("[data-i],[data-m],[data-c]");
  if (!node) return false;
  var max = long ? 50 : 2;
  if (node.hasAttribute("data-i")) {
    var s = spans[+node.getAttribute("data-i")], e = endOf(s);
    line(into, "t", s.label || s.kind);
    var meta = s.lane + " \u00b7 " + s.start.toFixed(3) + " \u2192 ";
    meta += (s.end === null ? "(still open at the end)" : e.toFixed(3)) + " s \u00b7 " + fmtDur(e - s.start);
    if (s.cut_at !== null) {
      meta += " \u00b7 cut at " + s.cut_at.toFixed(3) + " s (" + fmtDur(e - s.cut_at) + " not heard)";
    }
    if (s.outcome) meta += " \u00b7 " + s.outcome;
    line(into, "meta", meta);
    addEvents(into, s.events, max, long);
  } else if (node.hasAttribute("data-m")) {
    var ids = node.getAttribute("data-m").split(",").map(Number);
    ids.slice(0, long ? 50 : 3).forEach(function (id) {
      var m = marks[id];
      line(into, "t", m.label || m.kind);
      line(into, "meta", m.lane + " \u00b7 at " + m.at.toFixed(3) + " s");
      if (m.event !== null) addEvents(into, [m.event], 1, long);
    });
    if (ids.length > 3 && !long) line(into, "meta", "\u2026 and " + (ids.length - 3) + " more here: zoom in");
  } else {
    var c = clusters[+node.getAttribute("data-c")];
    line(into, "t", c.items.length + " items, too close to draw apart");
    line(into, "meta", c.lane + " \u00b7 " + c.start.toFixed(3) + " \u2192 " + c.end.toFixed(3) + " s \u00b7 zoom in");
    c.items.slice(0, long ? 200 : 6).forEach(function (i) {
      line(into, "meta", spans[i].start.toFixed(3) + " s  " + spans[i].label);
    });
  }
  return true;
}
var dragging = null;
tracks.addEventListener("mousemove", function (ev) {
  if (dragging || !describe(ev.target, tip, false)) { tip.hidden = true; return; }
  tip.hidden = false;
  var r = tip.getBoundingClientRect(), x = ev.clientX + 14, y = ev.clientY + 14;
  if (x + r.width > window.innerWidth - 8) x = Math.max(8, ev.clientX - r.width - 14);
  if (y + r.height > window.innerHeight - 8) y = Math.max(8, ev.clientY - r.height - 14);
  tip.style.left = x + "px"; tip.style.top = y + "px";
});
tracks.addEventListener("mouseleave", function () { tip.hidden = true; });
var details = document.getElementById("details"), detailsBody = document.getElementById("details-body");
document.getElementById("details-close").addEventListener("click", function () { details.hidden = true; });

// --- zoom and pan ----------------------------------------------------------------------------------
function wheel(ev) {
  ev.preventDefault();
  var r = axis.getBoundingClientRect();
  if (Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) { pan(ev.deltaX / width); return; }
  zoom(Math.exp(Math.max(-0.5, Math.min(0.5, ev.deltaY * (ev.deltaMode ? 0.05 : 0.0015)))), T(ev.clientX - r.left));
}
tracks.addEventListener("wheel", wheel, {passive: false});
axis.addEventListener("wheel", wheel, {passive: false});
tracks.addEventListener("pointerdown", function (ev) {
  if (ev.button !== 0) return;
  dragging = {x: ev.clientX, v0: v0, v1: v1, moved: false, target: ev.target, id: ev.pointerId};
  tip.hidden = true;
});
window.addEventListener("pointermove", function (ev) {
  if (!dragging) return;
  var dx = ev.clientX - dragging.x;
  if (!dragging.moved && Math.abs(dx) < 3) return;
  if (!dragging.moved) { dragging.moved = true; tracks.classList.add("dragging"); }
  var dt = dx / width * (dragging.v1 - dragging.v0);
  setWindow(dragging.v0 - dt, dragging.v1 - dt);
});
window.addEventListener("pointerup", function () {
  if (!dragging) return;
  if (!dragging.moved && describe(dragging.target, detailsBody, true)) details.hidden = false;
  tracks.classList.remove("dragging");
  dragging = null;
});
document.getElementById("controls").addEventListener("click", function (ev) {
  var b = ev.target.closest("button");
  if (!b) return;
  var act = b.getAttribute("data-act");
  if (act === "zoom-in") zoom(0.5); else if (act === "zoom-out") zoom(2);
  else if (act === "left") pan(-0.25); else if (act === "right") pan(0.25); else if (act === "fit") fit();
});
document.addEventListener("keydown", function (ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || /INPUT|TEXTAREA|SELECT/.test(ev.target.tagName)) return;
  var k = ev.key;
  if (k === "+" || k === "=") zoom(0.5); else if (k === "-" || k === "_") zoom(2);
  else if (k === "ArrowLeft") pan(-0.25); else if (k === "ArrowRight") pan(0.25);
  else if (k === "0" || k === "f") fit(); else if (k === "Escape") details.hidden = true; else return;
  ev.preventDefault();
});
var turnsTable = document.querySelector("#turns tbody");
if (turnsTable) turnsTable.addEventListener("click", function (ev) {
  var row = ev.target.closest("tr[data-turn]");
  if (!row) return;
  var n = +row.getAttribute("data-turn"), at = -1;
  turns.forEach(function (t, k) { if (t.index === n) at = k; });
  if (at < 0) return;
  var a = turns[at].start, b = at + 1 < turns.length ? turns[at + 1].start : tEnd;
  if (!(b > a)) b = a + 1;
  setWindow(a - (b - a) * 0.05, b + (b - a) * 0.05);
  document.getElementById("timeline-card").scrollIntoView({behavior: "smooth", block: "start"});
});
window.addEventListener("resize", redraw);
draw();
})();
"""
