"""A tiny app to test: asks one question, answers the model's ``get_weather`` calls, keeps the answers.

The tests in ``test_app.py`` run it against a ``ScriptedServer``, the built-in simulator and a
recorded session. Keeping what the app did in plain attributes (``answers``) is what makes it
easy to check.
"""

from __future__ import annotations

from realtime_dispatch import Connection, RealtimeApp, ToolError, events, on, tool

WEATHER = {"Paris": 18, "Oslo": 9}


class WeatherBot(RealtimeApp):
    session = events.Session(type="realtime", instructions="Use get_weather.", output_modalities=["text"])

    def __init__(self, question: str = "What's the weather in Paris?") -> None:
        super().__init__()
        self.question = question
        self.answers: list[str] = []

    async def on_connect(self, connection: Connection) -> None:
        await connection.create_item(events.ConversationItem.message("user", self.question))
        await connection.create_response()

    @tool
    async def get_weather(self, city: str) -> dict[str, object]:
        """The temperature in a city, in Celsius."""
        if city not in WEATHER:
            raise ToolError(f"no weather station in {city}")
        return {"city": city, "celsius": WEATHER[city]}

    @on("response.output_text.done")
    def keep(self, event: events.ResponseOutputTextDone) -> None:
        self.answers.append(event.text)

    @on("response.done")
    async def finish(self, event: events.ResponseDone, conn: Connection) -> None:
        if not any(item.type == "function_call" for item in event.response.output or []):
            await conn.close()  # answered: the app's work is done
