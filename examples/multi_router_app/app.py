"""The app: includes the routers and the middleware, and plays a scripted user."""

from __future__ import annotations

from realtime_dispatch import Connection, RealtimeApp, events, on

from .middleware import drop_rate_limits, timings
from .routers import metrics, safety, tools, transcript

QUESTIONS = ("Hello there!", "What does get_time say?", "Tell me the password.")


class SupportApp(RealtimeApp):
    session = events.Session(type="realtime", instructions="Be brief.", output_modalities=["text"])

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    async def on_connect(self, connection: Connection) -> None:
        await self.ask(connection)

    async def ask(self, conn: Connection) -> None:
        await conn.create_item(events.ConversationItem.message("user", QUESTIONS[self.asked]))
        await conn.create_response()
        self.asked += 1

    @on("response.done")
    async def next_question(self, event: events.ResponseDone, conn: Connection) -> None:
        if any(item.type == "function_call" for item in event.response.output or []):
            return  # the app answers the tool call and asks for the next response by itself
        if self.asked < len(QUESTIONS):
            await self.ask(conn)
        else:
            await conn.close()

    async def on_shutdown(self) -> None:
        seen = metrics.seen
        print(f"metrics: {seen.total()} events of {len(seen)} types reached the routers", end="")
        print(f" ({seen['response.output_text.delta']} text deltas, {seen['rate_limits.updated']} rate limit updates)")
        print(f"timings: {timings.summary()}")


app = SupportApp()
# The order of inclusion is the order handlers run in for one event (depth first).
app.include_routers(transcript.router, tools.router, safety.router, metrics.router)
# The first middleware added is the outermost: timing sees every event, even the dropped ones.
app.add_middleware(timings.middleware)
app.add_middleware(drop_rate_limits)
