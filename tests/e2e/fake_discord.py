"""A small Discord-compatible server (REST under /api/v10 and a gateway websocket) on 127.0.0.1.

The real discord.py client talks to it over real sockets. It records what the bot sends and lets a
test dispatch gateway events, inject 429s, force reconnects and serve attachment files.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TOKEN = "test-token.abc.def"
APP_ID = 4242
BOT_ID = 4242
GUILD_ID = 1000
CHANNEL_ID = 2000
# A second server, for isolation tests, and the DM channel of a member with the bot.
GUILD_B = 1001
CHANNEL_B = 2001
DM_CHANNEL = 3000
# A server carried by shard 1 of 2 ((id >> 22) % 2 == 1), for the fleet tests; not joined unless added.
GUILD_SHARD_1 = (1 << 22) | 1002
CHANNEL_SHARD_1 = 2002
CHANNEL_OF = {GUILD_ID: CHANNEL_ID, GUILD_B: CHANNEL_B, GUILD_SHARD_1: CHANNEL_SHARD_1}
# More channels of the first server: a second text channel (for an ask channel) and a forum.
ASK_CHANNEL = 2010
FORUM_ID = 2100
MANAGE_GUILD = 1 << 5
JSON = "application/json"  # exactly this: discord.py rejects "; charset=utf-8"

_ids = itertools.count(900_000)


def snowflake() -> str:
    return str(next(_ids))


def user(user_id: int, name: str, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "flags": 0,
        "public_flags": 0,
    }


BOT_USER = user(BOT_ID, "citebot", bot=True)


@dataclass
class Recorded:
    """One REST request the bot made."""

    method: str
    path: str
    query: dict[str, str]
    body: Any
    at: float = field(default_factory=time.monotonic)


class FakeDiscord:
    """The server. Start with `await server.start()`; its URLs go into citebot's settings."""

    def __init__(self, *, token: str = TOKEN, close_code_on_identify: int | None = None) -> None:
        self.token = token
        self.close_code_on_identify = close_code_on_identify
        self.requests: list[Recorded] = []
        self.files: dict[str, bytes] = {}
        self.chunked_files: set[str] = set()
        self.rate_limit_next: dict[str, int] = {}  # path prefix -> how many 429s to give
        self.fail_next: dict[str, int] = {}  # path prefix -> how many 401s (expired tokens) to give
        self.outage_until: dict[str, float] = {}  # path prefix -> until when (monotonic) writes get 502
        self.forbidden: set[str] = set()  # path prefixes where the bot may not post (403 Missing Permissions)
        self.identifies = 0
        self.resumes = 0
        self._sockets: list[web.WebSocketResponse] = []
        self._shards: dict[web.WebSocketResponse, tuple[int, int]] = {}  # socket -> (shard id, shard count)
        self.identified_shards: list[tuple[int, int]] = []
        self._session_shards: dict[str, tuple[int, int]] = {}
        self._seq = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.messages: dict[str, dict[str, Any]] = {}
        self.threads: dict[str, dict[str, Any]] = {}
        self.guilds: list[int] = [GUILD_ID, GUILD_B]
        self._tokens: dict[str, str] = {}  # interaction id -> its token
        # Component interaction id -> the message it was on, and that message's key in `messages`.
        self._clicked_on: dict[str, tuple[str, dict[str, Any]]] = {}
        self.modals: dict[str, dict[str, Any]] = {}  # interaction token -> the modal the bot opened

    # ---- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("GET", "/gateway", self._gateway)
        app.router.add_route("GET", "/files/{name}", self._file)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/gateway"

    def file_url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/files/{name}"

    # ---- what tests look at -----------------------------------------------------------
    def calls(self, method: str, prefix: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path.startswith(prefix)]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Wait until predicate() is truthy (checked after every request and gateway event)."""

        async def waiter() -> Any:
            async with self._changed:
                while not (result := predicate()):
                    await self._changed.wait()
                return result

        return await asyncio.wait_for(waiter(), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # ---- gateway -------------------------------------------------------------------------
    async def replay(self) -> None:
        """Deliver the last dispatched event again, as Discord may after a resume."""
        name, data = self.last_event
        await self.send_event(name, data)

    async def send_event(self, name: str, data: dict[str, Any]) -> None:
        """Dispatch an event to the connection whose shard carries its guild, as Discord does:
        shard (guild_id >> 22) % shard_count; DMs go to shard 0."""
        self.last_event = (name, data)
        self._seq += 1
        guild = data.get("guild_id") or (data.get("id") if name.startswith("GUILD_") else None)
        for ws in list(self._sockets):
            shard, count = self._shards.get(ws, (0, 1))
            if not ws.closed and shard == (shard_of(int(guild), count) if guild else 0):
                await ws.send_str(json.dumps({"op": 0, "t": name, "s": self._seq, "d": data}))

    async def send_op(self, op: int, data: Any = None) -> None:
        for ws in list(self._sockets):
            if not ws.closed:
                await ws.send_str(json.dumps({"op": op, "d": data}))

    async def close_gateway(self, code: int) -> None:
        for ws in list(self._sockets):
            await ws.close(code=code)

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 2000}}))
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                payload = json.loads(msg.data)
                await self._on_gateway(ws, payload)
        finally:
            self._sockets.remove(ws)
            self._shards.pop(ws, None)
            await self._notify()
        return ws

    async def _on_gateway(self, ws: web.WebSocketResponse, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        if op == 1:
            await ws.send_str(json.dumps({"op": 11}))
        elif op == 2:
            if payload["d"].get("token") != self.token:
                await ws.close(code=4004)
                return
            if self.close_code_on_identify:
                await ws.close(code=self.close_code_on_identify)
                return
            self.identifies += 1
            self.identify_intents = int(payload["d"].get("intents", 0))
            shard, count = payload["d"].get("shard") or (0, 1)
            self._shards[ws] = (int(shard), int(count))
            self.identified_shards.append((int(shard), int(count)))
            self._session_shards[f"session-{self.identifies}"] = (int(shard), int(count))
            guilds = [g for g in self.guilds if shard_of(g, int(count)) == int(shard)]
            self._seq += 1
            ready = {
                "v": 10,
                "user": BOT_USER,
                "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
                "session_id": f"session-{self.identifies}",
                "shard": [int(shard), int(count)],
                "resume_gateway_url": self.gateway_url,
                "application": {"id": str(APP_ID), "flags": 0},
                "private_channels": [],
                "relationships": [],
            }
            await ws.send_str(json.dumps({"op": 0, "t": "READY", "s": self._seq, "d": ready}))
            for guild_id in guilds:
                self._seq += 1
                created = {"op": 0, "t": "GUILD_CREATE", "s": self._seq, "d": guild_payload(guild_id)}
                await ws.send_str(json.dumps(created))
        elif op == 6:
            self._shards[ws] = self._session_shards.get(payload["d"].get("session_id"), (0, 1))
            self.resumes += 1
            self._seq += 1
            await ws.send_str(json.dumps({"op": 0, "t": "RESUMED", "s": self._seq, "d": {}}))
        await self._notify()

    # ---- REST ----------------------------------------------------------------------------
    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in self.files:
            return web.Response(status=404)
        if name not in self.chunked_files:
            return web.Response(body=self.files[name], content_type="application/octet-stream")
        # Chunked, with no Content-Length: only counting the bytes can catch an oversized file.
        response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        data = self.files[name]
        for start in range(0, len(data), 65536):
            await response.write(data[start : start + 65536])
        await response.write_eof()
        return response

    async def _rest(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        body = await _read_body(request)
        self.requests.append(Recorded(request.method, path, dict(request.query), body))
        await self._notify()
        if request.headers.get("Authorization") not in (f"Bot {self.token}", None) and not path.startswith(
            ("/webhooks", "/interactions")
        ):
            return _json({"message": "401: Unauthorized", "code": 0}, status=401)
        for prefix, count in list(self.rate_limit_next.items()):
            if count and path.startswith(prefix):
                self.rate_limit_next[prefix] = count - 1
                return web.Response(
                    status=429,
                    body=json.dumps(
                        {"message": "You are being rate limited.", "retry_after": 0.05, "global": False}
                    ).encode(),
                    headers={"Content-Type": JSON, "Via": "1.1 google", "Retry-After": "1"},
                )
        for prefix, until in list(self.outage_until.items()):
            if path.startswith(prefix) and request.method in ("POST", "PATCH") and time.monotonic() < until:
                return _json({"message": "502: Bad Gateway", "code": 0}, status=502)
        if request.method == "POST" and any(path.startswith(prefix) for prefix in self.forbidden):
            return _json({"message": "Missing Permissions", "code": 50013}, status=403)
        for prefix, count in list(self.fail_next.items()):
            if count and path.startswith(prefix):
                self.fail_next[prefix] = count - 1
                return _json({"message": "Invalid Webhook Token", "code": 50027}, status=401)
        return await self._route(request.method, path, body)

    async def _route(self, method: str, path: str, body: Any) -> web.Response:
        parts = path.strip("/").split("/")
        if path == "/users/@me":
            return _json(BOT_USER)
        if path == "/gateway/bot":
            limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
            return _json({"url": self.gateway_url, "shards": 1, "session_start_limit": limit})
        if path == "/oauth2/applications/@me":
            return _json(application_payload())
        if method == "PUT" and parts[0] == "applications" and parts[-1] == "commands":
            return _json(
                # Discord answers every command with a description ("" for context-menu commands).
                [
                    {"description": "", **cmd, "id": snowflake(), "application_id": str(APP_ID), "version": "1"}
                    for cmd in body or []
                ]
            )
        if method == "GET" and parts[0] == "applications" and parts[-1] == "commands":
            return _json([])
        if parts[0] == "channels" and parts[-1] == "typing":
            return web.Response(status=204)
        if method == "POST" and parts[0] == "channels" and parts[-1] == "messages":
            return _json(self._store_message(parts[1], body))
        if method == "POST" and parts[0] == "channels" and parts[-1] == "threads" and len(parts) == 5:
            return _json(await self._start_thread(parts[3], int(parts[1]), body["name"], owner_id=BOT_ID))
        if method == "GET" and parts[0] == "channels" and len(parts) == 4 and parts[2] == "messages":
            found = next((m for m in self.messages.values() if m["id"] == parts[3]), None)
            return _json(found) if found else _json({"message": "Unknown Message", "code": 10008}, status=404)
        if method == "POST" and parts[0] == "interactions" and parts[-1] == "callback":
            return self._interaction_callback(parts[1], body)
        if parts[0] == "webhooks":
            token = parts[2]
            if method == "POST" and len(parts) == 3:
                return _json(self._store_message(str(CHANNEL_ID), body, key=f"followup:{token}:{snowflake()}"))
            if method == "PATCH" and parts[-1] == "@original":
                return _json(self._store_message(str(CHANNEL_ID), body, key=f"original:{token}"))
            if method == "GET" and parts[-1] == "@original":
                return _json(self.messages.get(f"original:{token}") or message_payload(str(CHANNEL_ID), {}))
            if method == "DELETE":
                return web.Response(status=204)
        return _json({"message": f"no route {method} {path}", "code": 0}, status=404)

    def _interaction_callback(self, interaction_id: str, body: dict[str, Any]) -> web.Response:
        kind = body.get("type")
        data = body.get("data") or {}
        ephemeral = bool(int(data.get("flags", 0) or 0) & 64)
        payload: dict[str, Any] = {
            "interaction": {
                "id": interaction_id,
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            },
        }
        if kind in (4, 5):
            token = self._tokens.get(interaction_id, "")
            message = self._store_message(str(CHANNEL_ID), data, key=f"original:{token}")
            payload["resource"] = {"type": kind, "message": message}
        elif kind == 9:  # MODAL: a form opens for the member
            self.modals[self._tokens.get(interaction_id, "")] = data
        elif kind == 7:  # UPDATE_MESSAGE: a component's message is edited in place
            key, shown = self._clicked_on[interaction_id]
            updated = {**shown, **message_payload(shown["channel_id"], data), "id": shown["id"]}
            self.messages[key] = updated
            payload["resource"] = {"type": kind, "message": updated}
        return _json(payload)

    def _store_message(self, channel_id: str, body: dict[str, Any] | None, key: str | None = None) -> dict[str, Any]:
        message = message_payload(channel_id, body or {})
        self.messages[key or f"channel:{channel_id}:{message['id']}"] = message
        return message

    # ---- helpers for tests -------------------------------------------------------------
    def channel_messages(self) -> list[dict[str, Any]]:
        return [m for k, m in self.messages.items() if k.startswith("channel:")]

    def autocomplete_choices(self, token: str) -> list[dict[str, Any]] | None:
        """The choices the bot answered an autocomplete interaction with (callback type 8)."""
        interaction_id = token.removeprefix("itoken-")
        for call in self.calls("POST", f"/interactions/{interaction_id}/"):
            if call.body and call.body.get("type") == 8:
                return list(call.body["data"]["choices"])
        return None

    async def remove_from_guild(self, guild_id: int) -> None:
        """The bot is kicked from a server: GUILD_DELETE without `unavailable`."""
        self.guilds.remove(guild_id)
        await self.send_event("GUILD_DELETE", {"id": str(guild_id)})

    def original(self, token: str) -> dict[str, Any] | None:
        return self.messages.get(f"original:{token}")

    def followups(self, token: str) -> list[dict[str, Any]]:
        return [m for k, m in self.messages.items() if k.startswith(f"followup:{token}:")]

    async def mention(
        self,
        content: str,
        *,
        author_id: int = 555,
        bot_author: bool = False,
        mention_bot: bool = True,
        channel_id: int | None = None,
        guild_id: int | None = GUILD_ID,
        reply_to: dict[str, Any] | None = None,
        message_id: str | None = None,
    ) -> str:
        """Dispatch MESSAGE_CREATE for a member's message (a DM when guild_id is None); returns its id.

        `reply_to` makes it a reply to that message; with `mention_bot` the reply pings the bot, as
        Discord's default reply does, otherwise it does not.
        """
        message_id = message_id or snowflake()
        channel = channel_id or (CHANNEL_OF[guild_id] if guild_id is not None else DM_CHANNEL)
        data = member_message(
            message_id, channel, content, author_id=author_id, bot_author=bot_author, mention_bot=mention_bot
        )
        if reply_to is not None:
            data["type"] = 19
            data["message_reference"] = {
                "message_id": reply_to["id"],
                "channel_id": reply_to["channel_id"],
                **({"guild_id": str(guild_id)} if guild_id is not None else {}),
            }
            data["referenced_message"] = reply_to
        if guild_id is not None:
            data["guild_id"] = str(guild_id)
            data["member"] = {
                "roles": [],
                "joined_at": "2025-01-01T00:00:00+00:00",
                "flags": 0,
                "deaf": False,
                "mute": False,
            }
        await self.send_event("MESSAGE_CREATE", data)
        return message_id

    async def slash(
        self,
        name: str,
        options: list[dict[str, Any]] | None = None,
        *,
        permissions: int = 0,
        user_id: int = 555,
        resolved: dict[str, Any] | None = None,
        guild_id: int | None = GUILD_ID,
        kind: int = 2,
    ) -> str:
        """Dispatch INTERACTION_CREATE for a slash command (kind 4: autocomplete; a DM when guild_id is
        None); returns the interaction token. A name "docs add" is the subcommand add of /docs."""
        group, _, sub = name.partition(" ")
        if sub:
            options = [{"name": sub, "type": 1, "options": options or []}]
        data: dict[str, Any] = {"id": snowflake(), "name": group, "type": 1, "options": options or []}
        if resolved:
            data["resolved"] = resolved
        return await self._interaction(kind, data, permissions=permissions, user_id=user_id, guild_id=guild_id)

    async def _interaction(
        self,
        kind: int,
        data: dict[str, Any],
        *,
        permissions: int = 0,
        user_id: int = 555,
        guild_id: int | None = GUILD_ID,
        message: dict[str, Any] | None = None,
        bot_user: bool = False,
    ) -> str:
        """Dispatch INTERACTION_CREATE; returns the interaction token."""
        interaction_id = snowflake()
        token = f"itoken-{interaction_id}"
        self._tokens[interaction_id] = token
        channel_id = CHANNEL_OF[guild_id] if guild_id is not None else DM_CHANNEL
        if message is not None:
            channel_id = int(message["channel_id"])
        payload: dict[str, Any] = {
            "id": interaction_id,
            "application_id": str(APP_ID),
            "type": kind,
            "token": token,
            "version": 1,
            "attachment_size_limit": 10 * 1024 * 1024,
            "channel_id": str(channel_id),
            "data": data,
            "app_permissions": str((1 << 53) - 1),
            "locale": "en-US",
            "entitlements": [],
            "context": 0 if guild_id is not None else 1,
        }
        if message is not None:
            payload["message"] = message
            key = next((k for k, m in self.messages.items() if m["id"] == message["id"]), f"gone:{message['id']}")
            self._clicked_on[interaction_id] = (key, message)
        member_user = user(user_id, f"member{user_id}", bot=bot_user)
        if guild_id is None:
            payload["user"] = member_user
            payload["channel"] = {"id": str(channel_id), "type": 1, "recipients": [member_user]}
            payload["authorizing_integration_owners"] = {"1": str(user_id)}
        else:
            payload["guild_id"] = str(guild_id)
            payload["guild_locale"] = "en-US"
            payload["authorizing_integration_owners"] = {"0": str(guild_id)}
            payload["channel"] = {
                "id": str(channel_id),
                "type": 0,
                "name": "general",
                "guild_id": str(guild_id),
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
            }
            payload["member"] = {
                "user": member_user,
                "roles": [],
                "flags": 0,
                "permissions": str(permissions),
                "joined_at": "2025-01-01T00:00:00+00:00",
                "deaf": False,
                "mute": False,
            }
        await self.send_event("INTERACTION_CREATE", payload)
        return token

    async def _start_thread(self, message_id: str, parent_id: int, name: str, *, owner_id: int) -> dict[str, Any]:
        """A thread started from a message takes that message's id, as on Discord."""
        thread = thread_payload(message_id, parent_id, name, owner_id=owner_id)
        self.threads[message_id] = thread
        await self.send_event("THREAD_CREATE", {**thread, "newly_created": True})
        return thread

    async def member_starts_thread(self, message_id: str, name: str, *, user_id: int = 555) -> str:
        """A member starts a thread from a message (for example one of the bot's answers)."""
        await self._start_thread(message_id, CHANNEL_ID, name, owner_id=user_id)
        return message_id

    async def forum_post(self, title: str, body: str, *, user_id: int = 555) -> str:
        """A member posts in the forum: the thread, then its first message (same id)."""
        post_id = snowflake()
        thread = thread_payload(post_id, FORUM_ID, title, owner_id=user_id)
        self.threads[post_id] = thread
        self.messages[f"forum:{post_id}"] = member_message(post_id, int(post_id), body, author_id=user_id)
        await self.send_event("THREAD_CREATE", {**thread, "newly_created": True})
        await self.mention(body, author_id=user_id, mention_bot=False, channel_id=int(post_id), message_id=post_id)
        return post_id

    def in_channel(self, channel_id: int | str) -> list[dict[str, Any]]:
        """What the bot posted in a channel or thread."""
        return [m for k, m in self.messages.items() if k.startswith(f"channel:{channel_id}:")]

    async def click(
        self,
        message: dict[str, Any],
        custom_id: str,
        *,
        user_id: int = 555,
        bot_user: bool = False,
        guild_id: int | None = GUILD_ID,
    ) -> str:
        """A member clicks a button (a component interaction, type 3) on one of the bot's messages."""
        return await self._interaction(
            3,
            {"custom_id": custom_id, "component_type": 2},
            user_id=user_id,
            guild_id=guild_id,
            message=message,
            bot_user=bot_user,
        )

    async def message_command(
        self,
        name: str,
        target: dict[str, Any],
        *,
        user_id: int = 555,
        guild_id: int | None = GUILD_ID,
        permissions: int = 0,
    ) -> str:
        """A member uses a message context-menu command (Apps → name) on `target`."""
        data = {
            "id": snowflake(),
            "name": name,
            "type": 3,
            "target_id": target["id"],
            "resolved": {"messages": {target["id"]: target}},
        }
        return await self._interaction(2, data, user_id=user_id, guild_id=guild_id, permissions=permissions)

    async def submit_modal(
        self,
        opened_by: str,
        values: dict[str, str],
        *,
        user_id: int = 555,
        guild_id: int | None = GUILD_ID,
        permissions: int = 0,
    ) -> str:
        """The member fills in the form the bot opened in answer to interaction `opened_by` and
        submits it (MODAL_SUBMIT, type 5); `values` are by the inputs' labels. Returns its token."""
        modal = self.modals[opened_by]
        rows = []
        for row in modal["components"]:
            field = row.get("component") or row["components"][0]  # a Label (type 18) or an action row
            label = row.get("label") or field.get("label")
            value = values.get(label, field.get("value") or "")
            rows.append({"type": 1, "components": [{"type": 4, "custom_id": field["custom_id"], "value": value}]})
        data = {"custom_id": modal["custom_id"], "components": rows}
        return await self._interaction(5, data, user_id=user_id, guild_id=guild_id, permissions=permissions)

    def document_file(self, name: str, data: bytes) -> dict[str, Any]:
        """Serve `data` as a file attached to a message; returns the attachment as a message carries it."""
        self.files[name] = data
        return {
            "id": snowflake(),
            "filename": name,
            "size": len(data),
            "url": self.file_url(name),
            "proxy_url": self.file_url(name),
        }

    def attachment(
        self, name: str, data: bytes, *, declared_size: int | None = None
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Serve `data` as an upload; returns (options, resolved) for a /reindex interaction."""
        self.files[name] = data
        attachment_id = snowflake()
        info = {
            "id": attachment_id,
            "filename": name,
            "size": len(data) if declared_size is None else declared_size,
            "url": self.file_url(name),
            "proxy_url": self.file_url(name),
            "content_type": "text/plain",
        }
        return [{"name": "file", "type": 11, "value": attachment_id}], {"attachments": {attachment_id: info}}


def member_message(
    message_id: str,
    channel_id: int,
    content: str,
    *,
    author_id: int = 555,
    bot_author: bool = False,
    mention_bot: bool = False,
) -> dict[str, Any]:
    """A message a member wrote, as Discord sends it (MESSAGE_CREATE, or a resolved message)."""
    return {
        "id": message_id,
        "channel_id": str(channel_id),
        "author": user(author_id, f"member{author_id}", bot=bot_author),
        "content": content,
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [BOT_USER] if mention_bot else [],
        "mention_roles": [],
        "attachments": [],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": 0,
        "components": [],
    }


def shard_of(guild_id: int, shard_count: int) -> int:
    return (guild_id >> 22) % shard_count


def guild_payload(guild_id: int = GUILD_ID) -> dict[str, Any]:
    channel_id = CHANNEL_OF[guild_id]
    return {
        "id": str(guild_id),
        "name": f"Test Server {guild_id}",
        "owner_id": "1",
        "unavailable": False,
        "member_count": 2,
        "large": False,
        "features": [],
        "emojis": [],
        "stickers": [],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "icon": None,
        "splash": None,
        "banner": None,
        "description": None,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "afk_timeout": 300,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "preferred_locale": "en-US",
        "system_channel_flags": 0,
        "joined_at": "2025-01-01T00:00:00+00:00",
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "permissions": "104324673",
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "channels": [channel_payload(channel_id, "general")]
        + (
            [channel_payload(ASK_CHANNEL, "questions"), channel_payload(FORUM_ID, "help", kind=15)]
            if guild_id == GUILD_ID
            else []
        ),
        "members": [
            {
                "user": BOT_USER,
                "roles": [],
                "joined_at": "2025-01-01T00:00:00+00:00",
                "flags": 0,
                "deaf": False,
                "mute": False,
            }
        ],
    }


def channel_payload(channel_id: int, name: str, *, kind: int = 0) -> dict[str, Any]:
    """A guild text channel (kind 0) or forum channel (kind 15)."""
    channel: dict[str, Any] = {
        "id": str(channel_id),
        "type": kind,
        "name": name,
        "position": 0,
        "permission_overwrites": [],
        "nsfw": False,
        "parent_id": None,
        "topic": None,
        "last_message_id": None,
        "rate_limit_per_user": 0,
    }
    if kind == 15:
        channel.update(available_tags=[], default_reaction_emoji=None, flags=0, default_sort_order=None)
    return channel


def thread_payload(
    thread_id: str, parent_id: int, name: str, *, owner_id: int, guild_id: int = GUILD_ID
) -> dict[str, Any]:
    return {
        "id": thread_id,
        "type": 11,
        "guild_id": str(guild_id),
        "parent_id": str(parent_id),
        "owner_id": str(owner_id),
        "name": name,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "message_count": 0,
        "member_count": 1,
        "flags": 0,
        "thread_metadata": {
            "archived": False,
            "auto_archive_duration": 1440,
            "archive_timestamp": "2026-01-01T00:00:00+00:00",
            "locked": False,
        },
    }


def application_payload() -> dict[str, Any]:
    return {
        "id": str(APP_ID),
        "name": "citebot",
        "description": "",
        "icon": None,
        "bot_public": True,
        "bot_require_code_grant": False,
        "owner": user(1, "owner"),
        "team": None,
        "verify_key": "00",
        "flags": 0,
        "summary": "",
        "rpc_origins": [],
        "interactions_endpoint_url": None,
        "redirect_uris": [],
    }


def message_payload(channel_id: str, body: dict[str, Any]) -> dict[str, Any]:
    message = {
        "id": snowflake(),
        "channel_id": channel_id,
        "author": BOT_USER,
        "content": body.get("content") or "",
        "timestamp": "2026-01-01T00:00:00+00:00",
        "edited_timestamp": None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [],
        "embeds": body.get("embeds") or [],
        "pinned": False,
        "type": 0,
        "flags": int(body.get("flags") or 0),
        "components": body.get("components") or [],
        "allowed_mentions": body.get("allowed_mentions"),
        "message_reference": body.get("message_reference"),
    }
    return {k: v for k, v in message.items() if v is not None}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=json.dumps(data).encode(), headers={"Content-Type": JSON})


async def _read_body(request: web.Request) -> Any:
    if request.content_type == "application/json":
        return await request.json()
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        body: Any = None
        async for part in reader:
            if part.name == "payload_json":
                body = json.loads(await part.text())
        return body
    raw = await request.read()
    return json.loads(raw) if raw else None
