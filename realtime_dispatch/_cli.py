"""The ``realtime-dispatch`` command: run your app, record a session, replay or inspect a recording,
or try the demo against the built-in simulator."""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import logging
import math
import os
import signal
import ssl
import sys
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import anyio
import anyio.abc
import msgspec

from . import __version__, events
from ._app import RealtimeApp
from ._endpoints import ConfigError, Endpoint, live, openai, translation
from ._reconnect import ConnectionFailed
from .demo import DemoApp
from .demo import run as run_demo

if TYPE_CHECKING:
    from .simulator import Responder

__all__ = ("DemoApp", "main")

_REALTIME_MODEL = "gpt-realtime"


async def _demo(url: str | None, model: str, report: Path | bool = True) -> None:
    await run_demo(url, model, report=report)  # the demo's app and script: realtime_dispatch/demo.py


async def _simulate(
    host: str,
    port: int,
    responder: Responder | None = None,
    *,
    tls: ssl.SSLContext | None = None,
    ca_file: Path | None = None,
) -> None:
    from .simulator import Simulator

    async with Simulator(responder=responder).serve(host=host, port=port, tls=tls) as base_url:
        print(
            f"Realtime simulator listening at {base_url}/realtime, GPT-Live at {base_url}/live/sessions,"
            f" Realtime Translation at {base_url}/realtime/translations (Ctrl-C to stop)",
            flush=True,
        )
        if ca_file is not None:
            print(f"CA certificate: {ca_file} (trust it in your client, e.g. SSL_CERT_FILE={ca_file})", flush=True)
        await anyio.sleep_forever()


def _simulate_phone(args: argparse.Namespace, backend: str, responder: Responder | None) -> int:
    """``simulate --call-webhook``: the simulator plays OpenAI's side of phone calls (docs/simulator.md)."""
    from .simulator._phone import DEFAULT_CALLER_SCRIPT, load_caller_script, require_telephony

    if args.tls or args.certfile is not None:
        raise UsageError("--call-webhook serves ws:// and http:// only: leave out --tls and --certfile")
    # The environment may hold several secrets (a rotation): sign with the first.
    rotation = os.environ.get("OPENAI_WEBHOOK_SECRET", "").replace(",", " ").split()
    secret = args.webhook_secret or (rotation[0] if rotation else "")
    if not secret:
        raise UsageError("--call-webhook needs --webhook-secret (or OPENAI_WEBHOOK_SECRET)")
    try:
        require_telephony()
        script = load_caller_script(args.caller_script) if args.caller_script else list(DEFAULT_CALLER_SCRIPT)
    except (ImportError, OSError, ValueError) as exc:
        print(f"realtime-dispatch simulate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return _interruptible(backend, _phone, args, responder, secret, script)


async def _phone(args: argparse.Namespace, responder: Responder | None, secret: str, script: list[Any]) -> None:
    from .simulator import PhoneNetwork, Simulator

    network = PhoneNetwork(
        Simulator(responder=responder),
        webhook_url=args.call_webhook,
        webhook_secret=secret,
        caller_script=script,
        turn_delay=args.turn_delay,
        accept_delay=args.accept_delay,
        duplicate_rate=args.duplicate_rate,
        seed=args.seed,
    )
    async with network.serve(args.host, args.rest_port, websocket_port=args.port) as endpoints:
        print(
            f"Phone network: call control at {endpoints.base_url}, the simulator at {endpoints.websocket_base_url};"
            f" calls go to {args.call_webhook} (Ctrl-C to stop)\n"
            f"  OPENAI_BASE_URL={endpoints.base_url} OPENAI_WEBSOCKET_BASE_URL={endpoints.websocket_base_url}",
            flush=True,
        )
        async with anyio.create_task_group() as task_group:
            placed = await network.place_calls(args.calls, rate=args.rate, protocol="live" if args.live else "realtime")
            for record in placed:
                task_group.start_soon(_report_call, network, record.call_id)
        await anyio.sleep_forever()


async def _report_call(network: Any, call_id: str) -> None:
    """One line per call, when it ends: its webhook attempts, and when it was accepted, attached, ended."""
    await network.wait_ended([call_id], timeout=math.inf)
    record = network.record(call_id)
    statuses = ",".join(str(attempt.status or "failed") for attempt in record.attempts)

    def after(at: float | None) -> str:
        return f"+{at - record.placed_at:.3f} s" if at is not None else "never"

    print(
        f"call {call_id}: webhook {statuses}; accepted {after(record.accepted_at)}, sideband"
        f" {after(record.sideband_opened_at)}, ended {after(record.ended_at)} by {record.ended_by}",
        flush=True,
    )


def _simulate_tls(args: argparse.Namespace, backend: str, responder: Responder | None) -> int:
    """``simulate``, serving ``wss://`` with ``--tls`` (a CA and a certificate made at start, in a
    temporary directory removed on exit) or ``--certfile``/``--keyfile``; else ``ws://``."""
    from .simulator._tls import TLSUnavailable, load_tls, make_tls

    if args.keyfile is not None and args.certfile is None:
        raise UsageError("--keyfile needs --certfile")
    if args.certfile is not None:
        serve = functools.partial(_simulate, tls=load_tls(args.certfile, args.keyfile))
        return _interruptible(backend, serve, args.host, args.port, responder)
    if not args.tls:
        return _interruptible(backend, _simulate, args.host, args.port, responder)
    with tempfile.TemporaryDirectory(prefix="realtime-dispatch-tls-") as directory:
        try:
            context, ca_file = make_tls(directory)
        except TLSUnavailable as exc:
            print(f"realtime-dispatch simulate: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        serve = functools.partial(_simulate, tls=context, ca_file=ca_file)
        return _interruptible(backend, serve, args.host, args.port, responder)


async def _record(app: RealtimeApp[Any], out: Path, url: str | None, model: str, truncate_audio: int | None) -> None:
    from .testing import Recorder

    if url is not None:
        recorder = Recorder(_endpoint(app, model, url), out, truncate_audio=truncate_audio)
        await app.run_async(recorder)
    else:
        from .simulator import Simulator

        async with Simulator().serve(host="127.0.0.1", port=0) as base_url:
            print(f"(recording against the built-in simulator at {base_url})", file=sys.stderr, flush=True)
            recorder = Recorder(_endpoint(app, model, base_url), out, truncate_audio=truncate_audio)
            await app.run_async(recorder)
    print(f"recorded {len(recorder.lines)} lines, {recorder.connections} connection(s), to {out}", file=sys.stderr)


EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class UsageError(Exception):
    """A bad argument found after parsing (an app spec that does not load): usage, then exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command and return its exit status: 0 done, 1 failed, 2 bad usage or
    configuration (argparse's own errors raise ``SystemExit(2)``), 128 + the signal number when
    stopped by Ctrl-C (130) or SIGTERM (143)."""
    parser, verbs = _parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # the verb's usage, not the top-level one: `demo --bogus` is a mistake in the demo's options
        verbs[args.command].error(f"unrecognized arguments: {' '.join(unknown)}")
    level = args.log_level or ("INFO" if args.verbose else "WARNING")
    logging.basicConfig(level=getattr(logging, level), format="%(name)s: %(message)s")
    backend = "trio" if args.trio else "asyncio"
    if args.trio and not _trio_installed():
        print(
            f"realtime-dispatch {args.command}: error: --trio needs trio: pip install 'realtime-dispatch[trio]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        if args.command == "replay":
            return _replay(args.file)
        if args.command == "demo":
            report = False if args.no_report else args.report or True
            return _interruptible(backend, _demo, args.url, args.model, report)
        if args.command == "inspect":
            return _inspect(args.recording, args.output, args.prices)
        if args.command == "simulate":
            try:
                responder = _load_responder(args.responder, args.script)
            except UsageError as exc:  # one line: the spec or the script is wrong, not the command line
                print(f"realtime-dispatch simulate: error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            if args.call_webhook is not None:
                return _simulate_phone(args, backend, responder)
            return _simulate_tls(args, backend, responder)
        if args.command == "serve":
            return _serve(args, backend)
        if args.command == "run":
            app = _load_app(args.app)
            return _interruptible(backend, app.run_async, _endpoint(app, args.model, args.url))
        if args.command == "record":
            app = _load_app(args.app) if args.app else DemoApp()
            return _interruptible(backend, _record, app, args.out, args.url, args.model, args.truncate_audio)
    except UsageError as exc:
        verbs[args.command].error(str(exc))  # so a bad spec reads like any argument error: usage, exit 2
    except ConfigError as exc:
        print(f"realtime-dispatch {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ConnectionFailed, OSError, anyio.EndOfStream, anyio.BrokenResourceError) as exc:
        reason = _connection_error(exc, getattr(args, "url", None))
        print(f"realtime-dispatch {args.command}: {reason}", file=sys.stderr)
        return EXIT_FAILED
    raise AssertionError(f"unhandled command {args.command!r}")  # argparse accepts only the verbs above


def _parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--trio", action="store_true", help="run on trio instead of asyncio")
    logs = common.add_mutually_exclusive_group()
    logs.add_argument("--log-level", type=str.upper, choices=LOG_LEVELS, help="logging level (default: WARNING)")
    logs.add_argument("-v", "--verbose", action="store_true", help="the same as --log-level INFO")
    parser = argparse.ArgumentParser(
        prog="realtime-dispatch", description=__doc__.replace("``", ""), formatter_class=_HelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"realtime-dispatch {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser = functools.partial(commands.add_parser, formatter_class=_HelpFormatter)  # type: ignore[method-assign]

    run = commands.add_parser(
        "run", parents=[common], help="run your RealtimeApp (against OpenAI, OPENAI_API_KEY from the environment)"
    )
    run.add_argument("app", metavar="MODULE:APP", help="a RealtimeApp subclass or instance, e.g. myapp:VoiceApp")
    run.add_argument("--url", help="another endpoint's base URL (e.g. ws://127.0.0.1:8765/v1 for the simulator)")
    run.add_argument("--model", default=_REALTIME_MODEL, help="the model")

    record = commands.add_parser("record", parents=[common], help="record a session to JSONL (default: the demo)")
    record.add_argument("out", metavar="OUT.jsonl", type=Path)
    record.add_argument("app", metavar="MODULE:APP", nargs="?", help="the app to record (default: the demo app)")
    record.add_argument("--url", help="the endpoint's base URL (default: the built-in simulator)")
    record.add_argument("--model", default=_REALTIME_MODEL, help="the model")
    record.add_argument("--truncate-audio", type=int, metavar="N", help="keep only N characters of base64 audio")

    demo = commands.add_parser("demo", parents=[common], help="a scripted conversation against the built-in simulator")
    demo.add_argument("--url", help="a real endpoint's base URL instead (e.g. wss://api.openai.com/v1)")
    demo.add_argument("--model", default="gpt-realtime", help="the model")
    reports = demo.add_mutually_exclusive_group()
    reports.add_argument(
        "--report", metavar="REPORT.html", type=Path, help="write the session's report here (default: a temporary file)"
    )
    reports.add_argument("--no-report", action="store_true", help="do not record the session nor write its report")

    simulate = commands.add_parser(
        "simulate",
        parents=[common],
        help="run the simulator (Realtime, GPT-Live, Realtime Translation) as a server",
        description="Serve the simulator on one port: Realtime at /v1/realtime?model=..., GPT-Live at"
        " /v1/live/sessions (sidebands at /v1/live/sessions/ID/attach) and Realtime Translation at"
        " /v1/realtime/translations?model=... (see docs/simulator.md).",
    )
    simulate.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    simulate.add_argument("--port", type=_port, default=8765, help="the port to listen on; 0 picks a free one")
    certificate = simulate.add_mutually_exclusive_group()
    certificate.add_argument(
        "--tls",
        action="store_true",
        help="serve wss:// with a certificate made at start for localhost, 127.0.0.1 and ::1 (prints its CA file)",
    )
    certificate.add_argument("--certfile", type=Path, help="serve wss:// with this certificate (PEM)")
    simulate.add_argument("--keyfile", type=Path, help="the certificate's private key (default: in --certfile)")
    answers = simulate.add_mutually_exclusive_group()
    answers.add_argument(
        "--responder", metavar="MODULE:CLASS", help="your Responder class, built with no arguments (default: echo)"
    )
    answers.add_argument("--script", metavar="TURNS.json", type=Path, help="play canned turns (docs/simulator.md)")
    calls = simulate.add_argument_group(
        "phone calls", "play OpenAI's side of SIP calls (needs realtime-dispatch[telephony])"
    )
    calls.add_argument(
        "--call-webhook", metavar="URL", help="place calls: send signed realtime.call.incoming webhooks here"
    )
    calls.add_argument(
        "--webhook-secret", metavar="whsec_...", help="sign them with this (default: OPENAI_WEBHOOK_SECRET)"
    )
    calls.add_argument("--rest-port", type=_port, default=8766, help="the call-control REST API's port; 0 picks one")
    calls.add_argument("--calls", type=_count, default=1, metavar="N", help="how many calls to place (default: 1)")
    calls.add_argument("--rate", type=_positive, default=1.0, metavar="R", help="calls placed a second (default: 1)")
    calls.add_argument("--live", action="store_true", help="GPT-Live calls: live.transport.incoming webhooks")
    calls.add_argument("--duplicate-rate", type=_fraction, default=0.0, metavar="P",
                       help="deliver this share of webhooks twice, with the same webhook-id (0 to 1)")  # fmt: skip
    calls.add_argument("--seed", type=int, help="make the duplicate deliveries repeatable")
    calls.add_argument(
        "--accept-delay", type=_seconds, default=0.0, metavar="S", help="seconds an accept takes to answer"
    )
    calls.add_argument(
        "--turn-delay", type=_seconds, default=0.3, metavar="S", help="the caller's pause after each step"
    )
    calls.add_argument(
        "--caller-script",
        metavar="STEPS.json",
        type=Path,
        help='the caller\'s steps: [{"say": ...}, {"dtmf": "1"}, {"wait": 0.5}, {"hangup": true}]',
    )

    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="answer phone calls (OpenAI SIP webhooks) with your RealtimeApp, a fresh one per call",
        description="Serve a TelephonyServer under hypercorn: POST /webhook takes OpenAI's signed call webhooks"
        " (OPENAI_WEBHOOK_SECRET), calls are accepted over REST and run on their sideband (OPENAI_API_KEY;"
        " OPENAI_BASE_URL, OPENAI_WEBSOCKET_BASE_URL), GET /health reports. SIGTERM or Ctrl-C drains: no new"
        " calls, --drain-timeout for those in progress, then they are hung up (docs/telephony.md).",
    )
    serve.add_argument(
        "app", metavar="MODULE:APP", help="a RealtimeApp subclass (or a function making one), e.g. agent:PhoneAgent"
    )
    serve.add_argument("--host", default="127.0.0.1", help="the address to listen on")
    serve.add_argument("--port", type=_port, default=8000, help="the port to listen on; 0 picks a free one")
    serve.add_argument("--workers", type=_one_or_more, default=1, help="worker processes, each importing the app")
    serve.add_argument(
        "--max-calls", type=_one_or_more, default=100, help="calls per worker; more are rejected (486 Busy Here)"
    )
    serve.add_argument(
        "--drain-timeout", type=_seconds, default=30.0, metavar="S", help="seconds calls get to end at shutdown"
    )

    replay = commands.add_parser(
        "replay", parents=[common], help="list the events of a recording (server frames, or a file from record)"
    )
    replay.add_argument("file", type=Path, help="the recording (JSONL)")

    report = commands.add_parser(
        "inspect",
        parents=[common],
        help="a recording as one HTML page: its timeline, turn latencies, usage and estimated cost",
        description="Write a self-contained HTML report of a recording (a file from record or Recorder, or server"
        " frames, one per line): a timeline of its lanes, a table of its turns' latencies, its usage and"
        " an estimated cost (docs/observability.md).",
    )
    report.add_argument("recording", metavar="RECORDING.jsonl", type=Path, help="the recording (JSONL)")
    report.add_argument(
        "-o", "--output", metavar="REPORT.html", type=Path, help="the report (default: next to the recording, .html)"
    )
    report.add_argument(
        "--prices",
        metavar="PRICES.json",
        type=Path,
        help='prices instead of the built-in table: {"MODEL": {"text_in": 4.0, ...}} or one model\'s, in USD per 1M'
        " tokens (text_in, text_out, audio_in, audio_out, cached_in) or per minute (voice_minute)",
    )
    verbs = {"run": run, "record": record, "demo": demo, "simulate": simulate, "serve": serve, "replay": replay}
    return parser, {**verbs, "inspect": report}


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, when it has one worth showing (not None, not a flag's False)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _count(text: str) -> int:
    """``--calls``: 0 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is less than 0")
    return value


def _positive(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not more than 0")
    return value


def _seconds(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is less than 0")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not from 0 to 1")
    return value


def _port(text: str) -> int:
    """``--port``: a TCP port number, 0 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: 0 to 65535 (0 picks a free one)")
    return port


def _trio_installed() -> bool:
    try:
        import trio  # noqa: F401
    except ImportError:
        return False
    return True


def _connection_error(exc: BaseException, url: str | None) -> str:
    """One line on why the connection failed. A ``wss://`` URL whose TLS handshake broke off is most
    likely a plain ``ws://`` server (it answers the TLS hello with HTTP, or hangs up): say so."""
    if url is not None and url.startswith("wss://") and _in_tls_handshake(exc):
        plain = "ws://" + url.removeprefix("wss://")
        return f"TLS handshake failed: is the server plain ws://? (try --url {plain})"
    text = " ".join(str(exc).split())  # one line, even when it quotes a multi-line body
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _in_tls_handshake(exc: BaseException) -> bool:
    """Whether ``exc`` broke off a TLS handshake (an SSL protocol error, or a reset or an end of stream
    raised in one); not a certificate the client rejected, which says what it is."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return False
    if isinstance(exc, ssl.SSLError):
        return True
    traceback = exc.__traceback__
    while traceback is not None:
        code = traceback.tb_frame.f_code
        if code.co_name in ("_on_handshake_complete", "do_handshake") or (
            code.co_name == "wrap" and code.co_filename.endswith("tls.py")
        ):
            return True
        traceback = traceback.tb_next
    return False


def _load_app(spec: str) -> RealtimeApp[Any]:
    """The app ``MODULE:APP`` names: an instance, or a subclass called with no arguments."""
    target = _load_attribute(spec, "MODULE:APP (for example myapp:VoiceApp)")
    name = spec.partition(":")[2]
    if isinstance(target, RealtimeApp):
        return target
    if isinstance(target, type) and issubclass(target, RealtimeApp):
        try:
            inspect.signature(target).bind()
        except TypeError:
            raise UsageError(f"{spec} needs arguments: name an instance instead (app = {name}(...))") from None
        return target()
    raise UsageError(f"{spec} is a {type(target).__name__}, not a RealtimeApp subclass or instance")


def _load_attribute(spec: str, form: str) -> Any:
    """What ``MODULE:NAME`` names (``form`` says what the spec should look like, for the error)."""
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise UsageError(f"{spec!r} is not {form}")
    if not all(part.isidentifier() for part in module_name.split(".")):  # a path, or a relative import
        raise UsageError(f"{module_name!r} is not a module name: give a dotted name like pkg.app, not a path")
    if os.getcwd() not in sys.path:  # as `python -m` does: the app may live in the current directory
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing != module_name and not module_name.startswith(missing + "."):
            raise  # the app's module exists but imports something missing: show the real error
        raise UsageError(f"no module named {module_name!r} (looked in the current directory and sys.path)") from None
    target: Any = module
    for part in name.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"module {module_name!r} has no attribute {name!r}") from None
    return target


def _load_responder(spec: str | None, script: Path | None) -> Responder | None:
    """The simulator's responder: ``--responder MODULE:CLASS`` built with no arguments, or ``--script FILE``."""
    from .simulator import ScriptedResponder

    if script is not None:
        try:
            return ScriptedResponder.from_file(script)
        except OSError as exc:
            raise UsageError(f"cannot read the script {str(script)!r}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise UsageError(f"bad script: {exc}") from None
    if spec is None:
        return None
    try:
        target = _load_attribute(spec, "MODULE:CLASS (for example myresponders:Scripted)")
    except UsageError:
        raise
    except Exception as exc:  # the module exists but does not import: one line, not a traceback
        raise UsageError(f"cannot import {spec.partition(':')[0]!r}: {type(exc).__name__}: {exc}") from None
    if not isinstance(target, type):
        raise UsageError(f"{spec} is a {type(target).__name__}, not a class")
    try:
        inspect.signature(target).bind()
    except (TypeError, ValueError):
        raise UsageError(f"{spec} cannot be constructed with no arguments") from None
    try:
        responder = target()
    except Exception as exc:
        raise UsageError(f"{spec}() failed: {type(exc).__name__}: {exc}") from None
    if not callable(getattr(responder, "respond", None)):
        raise UsageError(f"{spec} has no respond() method: not a Responder")
    return cast("Responder", responder)


def _endpoint(app: RealtimeApp[Any], model: str, url: str | None) -> Endpoint:
    """The endpoint of the app's protocol (a GPT-Live app's model is in its session, not the URL)."""
    if app.api == "live":
        return live(base_url=url)
    if app.api == "translation":
        return translation(model if model != _REALTIME_MODEL else "gpt-realtime-translate", base_url=url)
    return openai(model, base_url=url, beta=app.api == "beta")


def _interruptible(backend: str, fn: Callable[..., Awaitable[None]], *args: Any) -> int:
    """Run ``fn`` until it returns or a SIGINT/SIGTERM stops it (cancelled: it cleans up)."""
    stopped_by: list[int] = []

    async def run() -> None:
        try:
            async with anyio.create_task_group() as task_group:
                await task_group.start(_stop_on_signal, task_group.cancel_scope, stopped_by)
                await fn(*args)
                task_group.cancel_scope.cancel()
        except BaseExceptionGroup as group:  # the task group wraps fn's error: raise it plainly
            raise _single(group) from None

    try:
        anyio.run(run, backend=backend)
    except KeyboardInterrupt:  # before the signal handler was in place
        return 128 + signal.SIGINT
    return 128 + stopped_by[0] if stopped_by else EXIT_OK


async def _stop_on_signal(
    scope: anyio.CancelScope, stopped_by: list[int], *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for received in signals:
                stopped_by.append(int(received))
                scope.cancel()
                return
    except NotImplementedError:  # no signal support on this platform or loop: Ctrl-C raises instead
        task_status.started()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def _replay(path: Path) -> int:
    """List a recording: one line per frame. Exit 1 if a frame does not decode."""
    bad = 0
    connection = 0
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = msgspec.json.decode(line)
        except msgspec.DecodeError:
            record = None
        if isinstance(record, dict) and "dir" in record and "frame" in record:  # a `record` / Recorder line
            if record["dir"] == "connect":
                connection += 1
            connection = record.get("connection", connection)
            shown, ok = _show_record(record)
            bad += not ok
            print(f"{number:5d}  #{connection} {record['dir']:<7} {shown}")
            continue
        try:
            event = events.decode(line)
        except events.DecodeError as exc:
            bad += 1
            print(f"{number:5d}  DecodeError: {exc}")
            continue
        print(f"{number:5d}  {event.type}")
    return EXIT_FAILED if bad else EXIT_OK


def _show_record(record: dict[str, Any]) -> tuple[str, bool]:
    frame = record["frame"]
    direction = record["dir"]
    if direction == "connect":
        return str(frame.get("url", "")), True
    if direction == "close":
        return f"{frame.get('code')} {frame.get('reason', '')}".rstrip(), True
    decode = events.decode if direction == "in" else events.decode_client
    try:
        return decode(msgspec.json.encode(frame)).type, True
    except events.DecodeError as exc:
        return f"DecodeError: {exc}", False


def _inspect(recording: Path, output: Path | None, prices: Path | None) -> int:
    """``inspect RECORDING``: write its report and say where. A file that is missing or is not JSONL (its first
    line is not a JSON object), or prices that cannot be read: one line, exit 2; a report that cannot be
    written: one line, exit 1."""
    from .inspector import inspect as write_report

    def fail(reason: str, status: int = EXIT_USAGE) -> int:
        print(f"realtime-dispatch inspect: error: {' '.join(reason.split())}", file=sys.stderr)
        return status

    try:
        with recording.open("rb") as file:
            first = next((line for line in file if line.strip()), None)
    except FileNotFoundError:
        return fail(f"no such file: {str(recording)!r}")
    except IsADirectoryError:
        return fail(f"{str(recording)!r} is a directory, not a recording")
    except OSError as exc:
        return fail(f"cannot read {str(recording)!r}: {exc.strerror or exc}")
    if first is None:
        return fail(f"{str(recording)!r} is empty: no frames to show")
    try:
        record = msgspec.json.decode(first)
    except msgspec.DecodeError:
        record = None
    if not isinstance(record, dict):
        return fail(
            f"{str(recording)!r} is not JSONL: its first line is not a JSON object"
            " (a recording from record or Recorder, or server frames, one per line)"
        )
    try:
        report = write_report(recording, output, prices=prices)
    except ValueError as exc:  # the prices file is not a table of prices
        return fail(str(exc))
    except OSError as exc:
        if prices is not None and exc.filename == str(prices):
            return fail(f"cannot read the prices {str(prices)!r}: {exc.strerror or exc}")
        return fail(f"cannot write the report: {exc.strerror or exc} ({exc.filename})", EXIT_FAILED)
    print(f"report: {report.resolve().as_uri()}")
    return EXIT_OK


# --- serve: answer phone calls -------------------------------------------------------------------------


def _one_or_more(text: str) -> int:
    """``--workers``, ``--max-calls``: 1 or more."""
    value = _count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is less than 1")
    return value


def _load_app_factory(spec: str) -> Callable[[], RealtimeApp[Any]]:
    """What makes the app of one call: ``MODULE:APP`` names a subclass, or a function making an app."""
    target = _load_attribute(spec, "MODULE:APP (for example agent:PhoneAgent)")
    name = spec.partition(":")[2]
    if isinstance(target, RealtimeApp):
        raise UsageError(f"{spec} is an instance: name its class, or a function making one (a fresh app per call)")
    if isinstance(target, type):
        if not issubclass(target, RealtimeApp):
            raise UsageError(f"{spec} is the class {name}, not a RealtimeApp subclass")
        try:
            inspect.signature(target).bind()
        except TypeError:
            raise UsageError(f"{spec} needs arguments: name a function that makes one instead") from None
        return cast("Callable[[], RealtimeApp[Any]]", target)
    if callable(target):
        return cast("Callable[[], RealtimeApp[Any]]", target)
    raise UsageError(f"{spec} is a {type(target).__name__}, not a RealtimeApp subclass or a function making one")


def _serve(args: argparse.Namespace, backend: str) -> int:
    """``serve MODULE:APP``: a TelephonyServer under hypercorn, in this process or ``--workers`` of them."""
    import importlib.util

    missing = [name for name in ("httpx", "hypercorn") if importlib.util.find_spec(name) is None]
    if missing:
        print(
            f"realtime-dispatch serve: error: serve needs {' and '.join(missing)}:"
            " pip install 'realtime-dispatch[telephony]'",
            file=sys.stderr,
        )
        return EXIT_USAGE
    factory = _load_app_factory(args.app)
    if not os.environ.get("OPENAI_WEBHOOK_SECRET"):
        print(
            "realtime-dispatch serve: error: set OPENAI_WEBHOOK_SECRET to your webhook's signing secret (whsec_...)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    import json

    from hypercorn.config import Config

    from .telephony import TelephonyServer
    from .telephony._server import APP_VARIABLE, OPTIONS_VARIABLE

    options = {"max_calls": args.max_calls, "drain_timeout": args.drain_timeout}
    server = TelephonyServer(factory, **options)  # ConfigError (no key, an app that takes no calls): one line
    listener = _listen(args.host, args.port)
    port = listener.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{listener.detach()}"]
    config.worker_class = backend
    config.accesslog = None
    config.graceful_timeout = 5.0
    config.shutdown_timeout = args.drain_timeout + 30.0  # the lifespan's drain: the calls' time, then hangups
    host = f"[{args.host}]" if ":" in args.host else args.host
    print(
        f"answering calls for {args.app} ({server.api}) at http://{host}:{port}{server.webhook_path},"
        f" health at {server.health_path}; {args.workers} worker(s) of at most {args.max_calls} calls"
        " (Ctrl-C or SIGTERM drains)",
        flush=True,
    )
    if args.workers == 1:
        return _serve_here(backend, server, config)
    anyio.run(server.control.aclose)  # this one only checked the configuration: each worker makes its own
    os.environ[APP_VARIABLE] = args.app
    os.environ[OPTIONS_VARIABLE] = json.dumps(options)
    config.application_path = "realtime_dispatch.telephony.asgi:app"
    config.workers = args.workers  # what the workers' hypercorn expects (sockets shared, not bound again)
    config.logconfig_dict = {  # each worker's own log lines, as this process logs them, with its pid
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "[%(process)d] %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "realtime_dispatch": {
                "level": logging.getLevelName(logging.getLogger().getEffectiveLevel()),
                "handlers": ["stderr"],
                "propagate": False,
            }
        },
    }
    return _serve_workers(backend, config, args.workers, grace=config.shutdown_timeout + config.graceful_timeout)


def _listen(host: str, port: int) -> Any:
    """A listening socket on ``host:port`` (0: a free port), handed to hypercorn (and its workers)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1024)
    except BaseException:
        listener.close()
        raise
    return listener


def _serve_here(backend: str, server: Any, config: Any) -> int:
    """Serve in this process until SIGINT/SIGTERM (the first drains; a second stops at once)."""

    async def serve() -> None:
        if backend == "trio":
            from hypercorn.trio import serve as hypercorn_serve
        else:
            from hypercorn.asyncio import serve as hypercorn_serve  # type: ignore[assignment]
        stop = anyio.Event()
        async with anyio.create_task_group() as task_group:

            async def serve_until_stopped() -> None:
                # In a task of its own: on asyncio, hypercorn's shutdown leaves the task that ran it marked
                # as being cancelled (asyncio.TaskGroup), which a task group's host must not be.
                try:
                    await hypercorn_serve(server, config, shutdown_trigger=stop.wait)
                finally:
                    task_group.cancel_scope.cancel()

            await task_group.start(_drain_on_signal, stop, task_group.cancel_scope)
            task_group.start_soon(serve_until_stopped)

    anyio.run(serve, backend=backend)
    return EXIT_OK


def _serve_workers(backend: str, config: Any, workers: int, *, grace: float) -> int:
    """Run ``workers`` hypercorn worker processes on the shared socket until SIGINT/SIGTERM, then let each
    drain (``grace`` seconds at most) before stopping the stragglers. Not ``hypercorn.run``: it
    terminates every worker as soon as the first one has stopped, cutting the others' drains short."""
    import multiprocessing
    import time
    from multiprocessing.connection import wait

    if backend == "trio":
        from hypercorn.trio.run import trio_worker as worker
    else:
        from hypercorn.asyncio.run import asyncio_worker as worker
    logger = logging.getLogger("realtime_dispatch.telephony")
    sockets = config.create_sockets()
    context = multiprocessing.get_context("spawn")
    shutdown = context.Event()
    # The workers ignore SIGINT and SIGTERM (inherited): Ctrl-C reaches the whole process group, and only
    # this process decides when they stop, through ``shutdown``.
    previous = {number: signal.signal(number, signal.SIG_IGN) for number in (signal.SIGINT, signal.SIGTERM)}
    processes = []
    try:
        for _ in range(workers):
            process = context.Process(
                target=worker, kwargs={"config": config, "sockets": sockets, "shutdown_event": shutdown}
            )
            process.start()
            processes.append(process)
    finally:
        received: list[int] = []

        def stop(number: int, _: object) -> None:
            if not received:
                logger.warning("received %s: draining %d worker(s)", signal.Signals(number).name, len(processes))
            received.append(number)
            shutdown.set()

        for number in previous:
            signal.signal(number, stop)
    deadline: float | None = None
    status = EXIT_OK
    running = list(processes)
    while running:
        wait([process.sentinel for process in running], timeout=0.5)
        running = [process for process in running if process.exitcode is None]
        if not shutdown.is_set() and len(running) < len(processes):
            stopped = [process.exitcode for process in processes if process.exitcode is not None]
            logger.error("a worker stopped (exit status %s): stopping the others", stopped[0])
            status = EXIT_FAILED
            shutdown.set()
        if shutdown.is_set():
            deadline = deadline or time.monotonic() + grace
            if time.monotonic() > deadline or len(received) > 1:  # out of time, or asked twice
                for process in running:
                    process.kill()
    for process in processes:
        process.join()
    for sock in [*sockets.secure_sockets, *sockets.insecure_sockets]:
        sock.close()
    for number, handler in previous.items():
        signal.signal(number, handler)
    return status


async def _drain_on_signal(
    stop: anyio.Event, scope: anyio.CancelScope, *, task_status: anyio.abc.TaskStatus[None]
) -> None:
    logger = logging.getLogger("realtime_dispatch.telephony")
    try:
        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            task_status.started()
            async for received in signals:
                if stop.is_set():
                    logger.warning("received %s again: stopping now", signal.Signals(received).name)
                    scope.cancel()
                    return
                logger.warning("received %s: draining (again to stop at once)", signal.Signals(received).name)
                stop.set()
    except NotImplementedError:  # no signal support on this platform or loop
        task_status.started()


if __name__ == "__main__":
    raise SystemExit(main())
