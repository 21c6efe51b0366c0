"""A real Bot API server on 127.0.0.1 for end-to-end tests.

It parses HTML the way Telegram does (only its tags, every other <, > and & escaped), enforces
the 4096-character limit, records every message it accepts as the chat would show it, and
replies as scripted: per call (`queue`) or for every call to one chat (`chats`).
"""

import email.policy
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ordertrack.notify import telegram as telegram_module
from tests.fake_kotak import write

TOKEN = "123456789:AAFake-Token_for_TESTS_only-0123456789"
BOT = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "ordertrack test",
    "username": "ordertrack_test_bot",
}
_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "a",
    "code",
    "pre",
    "tg-spoiler",
    "span",
    "blockquote",
    "tg-emoji",
}
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass(frozen=True)
class Reply:
    """A scripted reply. body None means the natural one: check the text, accept, answer ok."""

    status: int = 200
    body: dict[str, Any] | str | None = None
    delay: float = 0.0  # seconds to wait before answering (after accepting the message)
    accept: bool = False  # with a scripted body: the message still reaches the chat
    drip: float = 0.0  # send the body one byte at a time, this many seconds apart


def error(status: int, description: str, **parameters: Any) -> Reply:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return Reply(status, body)


def flood(retry_after: int) -> Reply:
    return error(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def migrate(new_id: str) -> Reply:
    return error(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        migrate_to_chat_id=int(new_id),
    )


def dripping(seconds: float, body: dict[str, Any] | str | None = None) -> Reply:
    """The reply comes one byte every `seconds` (the message, if any, is accepted first)."""
    return Reply(body=body, drip=seconds)


def slow(seconds: float) -> Reply:
    """Telegram delivers the message, but the answer comes too late for the client."""
    return Reply(delay=seconds)


OK = Reply()
BAD_GATEWAY = Reply(
    502,
    "<html><head><title>502 Bad Gateway</title></head><body><center>"
    "<h1>502 Bad Gateway</h1></center><hr><center>nginx/1.18.0</center>"
    "</body></html>",
)
SERVER_ERROR = error(500, "Internal Server Error")
CANT_PARSE = error(
    400, 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 3'
)
CHAT_NOT_FOUND = error(400, "Bad Request: chat not found")
BLOCKED = error(403, "Forbidden: bot was blocked by the user")
NOT_STARTED = error(403, "Forbidden: bot can't initiate conversation with a user")
NOT_MEMBER = error(403, "Forbidden: bot is not a member of the supergroup chat")
UNAUTHORIZED = error(401, "Unauthorized")
# A proxy's error page that echoes the request path, token included ({path} is filled in).
NOT_FOUND_ECHO = Reply(404, "<html><body><pre>Cannot POST {path}</pre></body></html>")
MALFORMED = Reply(200, '{"ok": true, "result": {"message_id": 7', accept=True)


def visible_text(text: str) -> str:
    """What a chat shows for an HTML message; ValueError with Telegram's words if invalid."""
    shown, stack, pos = [], [], 0
    for m in re.finditer(r"<(/?)([a-zA-Z-]+)[^<>]*>|&(#\d+|#x[0-9a-fA-F]+|[a-z]+);|[<>&]", text):
        shown.append(text[pos : m.start()])
        pos = m.end()
        closing, tag, entity = m.group(1), m.group(2), m.group(3)
        if tag:
            if tag.lower() not in _TAGS:
                raise ValueError(
                    f'can\'t parse entities: Unsupported start tag "{tag}" at byte '
                    f"offset {m.start()}"
                )
            if not closing:
                stack.append(tag.lower())
            elif not stack or stack.pop() != tag.lower():
                raise ValueError(
                    f"can't parse entities: Can't find end tag corresponding to start tag \"{tag}\""
                )
        elif entity:
            if entity.startswith("#"):
                shown.append(chr(int(entity[2:], 16) if entity[1] == "x" else int(entity[1:])))
            elif entity in _ENTITIES:
                shown.append(_ENTITIES[entity])
            else:
                raise ValueError(
                    f"can't parse entities: Unsupported HTML entity at byte offset {m.start()}"
                )
        else:
            raise ValueError(
                f"can't parse entities: Unexpected character at byte offset {m.start()}"
            )
    if stack:
        raise ValueError(
            f"can't parse entities: Can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join([*shown, text[pos:]])


class FakeTelegram:
    def __init__(self) -> None:
        self.token = TOKEN
        self.calls: list[dict[str, Any]] = []  # every request: method and body
        self.messages: list[dict[str, Any]] = []  # every message a chat received
        self.documents: list[dict[str, Any]] = []  # every document (sendDocument) a chat received
        self.queue: deque[Reply] = deque()  # replies to the next sendMessage calls, in order
        self.chats: dict[str, Reply] = {}  # a reply to every sendMessage to that chat
        self.me: Reply | None = None  # scripted getMe reply
        self.drip = 0.0  # the drip of the reply being answered
        self.sleeps: list[float] = []  # what the client's retry policy slept (it does not)
        self.on_send: Callable[[dict[str, Any]], None] | None = None  # sees each sendMessage
        self.bot_api = BotUpdates()  # getUpdates, setMyCommands, getWebhookInfo (issue 27)
        self.stalls: dict[tuple[str, str], Stall] = {}  # (method, before|after) → a hang
        self._ids = itertools.count(101)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, *replies: Reply) -> None:
        self.queue.extend(replies)

    def texts(self, chat: str | None = None) -> list[str]:
        return [m["text"] for m in self.messages if chat is None or m["chat_id"] == chat]

    def sends(self) -> list[dict[str, Any]]:
        return [c["body"] for c in self.calls if c["method"] == "sendmessage"]

    def stall(self, method: str, when: str = "before") -> "Stall":
        """Hang every `method` call (lower case) `before` it is handled or `after` (handled,
        its reply withheld) until released: a test SIGKILLs its caller there."""
        found = self.stalls[(method, when)] = Stall()
        return found

    def say(self, chat: str | int, text: str) -> int:
        """A user writes `text` in `chat`: an update for getUpdates; returns its update_id."""
        return self.bot_api.add(chat, text)

    def start(self) -> "FakeTelegram":
        self._thread.start()
        return self

    def stop(self) -> None:
        for stall in self.stalls.values():
            stall.release()
        self.bot_api.close()
        self._server.shutdown()
        self._server.server_close()

    def handle(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any] | str, float]:
        with self._lock:
            m = re.fullmatch(r"/bot([^/]*)/(\w+)", path)
            if not m:
                return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, 0
            token, method = m.group(1), m.group(2).lower()
            self.calls.append({"method": method, "body": body})
            if token != self.token:  # as Telegram: a well-formed wrong token 401, else 404
                if ":" in token:
                    return 401, UNAUTHORIZED.body, 0  # type: ignore[return-value]
                return 404, {"ok": False, "error_code": 404, "description": "Not Found"}, 0
            if method in BotUpdates.METHODS:
                return self.bot_api.answer(method, body)
            if method == "getme":
                reply = self.me or Reply(body={"ok": True, "result": BOT})
                self.drip = reply.drip
                return reply.status, self._fill(reply.body, path), reply.delay
            chat = str(body.get("chat_id"))
            if method == "getchat":  # reachable unless a failure is scripted for the chat
                failing = self.chats.get(chat)
                if failing is not None and failing.body is not None:
                    return failing.status, self._fill(failing.body, path), 0
                return 200, {"ok": True, "result": {"id": body.get("chat_id")}}, 0
            if self.on_send is not None:
                self.on_send(body)
            reply = self.chats.get(chat) or (self.queue.popleft() if self.queue else OK)
            self.drip = reply.drip
            if reply.body is not None:
                if reply.accept:
                    self._accept(chat, body)
                return reply.status, self._fill(reply.body, path), reply.delay
            if method == "senddocument":
                return self._document(chat, body, reply.delay)
            return self._natural(chat, body, reply.delay)

    def _document(
        self, chat: str, body: dict[str, Any], delay: float
    ) -> tuple[int, dict[str, Any], float]:
        """sendDocument: a multipart upload with a `document` file part."""
        document = body.get("document")
        refused = None
        if not isinstance(document, dict) or not document.get("content"):
            refused = error(400, "Bad Request: there is no document in the request")
        elif len(str(body.get("caption", ""))) > 1024:
            refused = error(400, "Bad Request: message caption is too long")
        if refused is not None:
            return refused.status, refused.body, 0  # type: ignore[return-value]
        message = {
            "chat_id": chat,
            "caption": body.get("caption"),
            "filename": document.get("filename"),
            "content": document["content"],
            "silent": body.get("disable_notification") == "true",
            "message_id": next(self._ids),
        }
        self.documents.append(message)
        return (
            200,
            {
                "ok": True,
                "result": {
                    "message_id": message["message_id"],
                    "chat": {"id": chat},
                    "document": {"file_name": document.get("filename")},
                },
            },
            delay,
        )

    def _fill(self, body: Any, path: str) -> Any:
        return body.replace("{path}", path) if isinstance(body, str) else body

    def _natural(
        self, chat: str, body: dict[str, Any], delay: float
    ) -> tuple[int, dict[str, Any], float]:
        text = str(body.get("text", ""))
        try:
            shown = visible_text(text) if body.get("parse_mode") == "HTML" else text
        except ValueError as exc:
            return 400, error(400, f"Bad Request: {exc}").body, 0  # type: ignore[return-value]
        if not shown.strip():
            return 400, error(400, "Bad Request: message text is empty").body, 0  # type: ignore
        if len(shown.encode("utf-16-le")) // 2 > 4096:
            return 400, error(400, "Bad Request: message is too long").body, 0  # type: ignore
        message = self._accept(chat, body, shown)
        return (
            200,
            {
                "ok": True,
                "result": {
                    "message_id": message["message_id"],
                    "date": int(time.time()),
                    "chat": {"id": chat},
                    "text": shown,
                },
            },
            delay,
        )

    def _accept(self, chat: str, body: dict[str, Any], shown: str | None = None) -> dict[str, Any]:
        message = {
            "chat_id": chat,
            "text": shown if shown is not None else body.get("text"),
            "raw": body.get("text"),
            "parse_mode": body.get("parse_mode"),
            "silent": bool(body.get("disable_notification")),
            "message_id": next(self._ids),
        }
        self.messages.append(message)
        return message


class Stall:
    """A hang at one point of one method: `arrived` is set when a call reaches it."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._go = threading.Event()
        self._drop = False

    def hang(self) -> bool:
        """Wait for release; False when the call is to be dropped unhandled."""
        self.arrived.set()
        self._go.wait(120)
        return not self._drop

    def wait(self, seconds: float = 20.0) -> None:
        assert self.arrived.wait(seconds), "no call reached the stall"

    def release(self, drop: bool = False) -> None:
        self._drop = drop
        self._go.set()


CONFLICT_POLLER = error(
    409,
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance"
    " is running",
)
CONFLICT_WEBHOOK = error(
    409,
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to"
    " delete the webhook first",
)


class BotUpdates:
    """The Bot API's incoming side, as telegram-bot-api.md §2.2 says it behaves: updates kept
    until confirmed by a getUpdates whose offset is above their id, long polling up to
    `timeout`, a newer poll ending an older waiting one with 409, 409 while a webhook is set
    (or while `other_poller`: another program polls the token), setMyCommands checked."""

    METHODS = ("setmycommands", "getmycommands", "getwebhookinfo", "deletewebhook")

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []  # updates not yet confirmed
        self.commands: list[dict[str, str]] | None = None
        self.webhook_url = ""
        self.other_poller = False
        self.polls = 0
        self.scripted: deque[Reply] = deque()  # replies to the next getUpdates calls
        self._ids = itertools.count(700001)
        self._messages = itertools.count(1)
        self._generation = 0
        self._changed = threading.Condition()
        self._closed = False

    def add(self, chat: str | int, text: str) -> int:
        update_id = next(self._ids)
        chat_id = int(chat)
        first = text.split()[0] if text.startswith("/") and text.split() else ""
        message: dict[str, Any] = {
            "message_id": next(self._messages),
            "from": {"id": abs(chat_id), "is_bot": False, "first_name": "Trader"},
            "chat": {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup"},
            "date": int(time.time()),
            "text": text,
        }
        if first:
            message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(first)}]
        with self._changed:
            self.pending.append({"update_id": update_id, "message": message})
            self._changed.notify_all()
        return update_id

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def answer(self, method: str, body: dict[str, Any]) -> tuple[int, dict[str, Any], float]:
        if method == "getwebhookinfo":
            return (
                200,
                {
                    "ok": True,
                    "result": {"url": self.webhook_url, "pending_update_count": len(self.pending)},
                },
                0,
            )
        if method == "deletewebhook":
            self.webhook_url = ""
            return 200, {"ok": True, "result": True}, 0
        if method == "getmycommands":
            return 200, {"ok": True, "result": self.commands or []}, 0
        commands = body.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            return 400, error(400, "Bad Request: commands must be an array").body, 0  # type: ignore
        for c in commands:
            name, text = str(c.get("command", "")), str(c.get("description", ""))
            if not re.fullmatch(r"[a-z0-9_]{1,32}", name) or not 1 <= len(text) <= 256:
                return 400, error(400, "Bad Request: BOT_COMMAND_INVALID").body, 0  # type: ignore
        self.commands = commands
        return 200, {"ok": True, "result": True}, 0

    def poll(
        self, body: dict[str, Any], calls: list[dict[str, Any]], lock: Any
    ) -> tuple[int, dict[str, Any], float]:
        with lock:
            calls.append({"method": "getupdates", "body": body})
        with self._changed:
            self.polls += 1
            if self.scripted:
                reply = self.scripted.popleft()
                return reply.status, reply.body, reply.delay  # type: ignore[return-value]
            if self.webhook_url:
                return 409, CONFLICT_WEBHOOK.body, 0  # type: ignore[return-value]
            if self.other_poller:
                return 409, CONFLICT_POLLER.body, 0  # type: ignore[return-value]
            self._generation += 1
            mine = self._generation
            self._changed.notify_all()
            offset = body.get("offset")
            if isinstance(offset, int):  # confirms every update below it
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
            ends = time.monotonic() + max(0, min(int(body.get("timeout") or 0), 60))
            while not self.pending and not self._closed:
                if self._generation != mine:
                    return 409, CONFLICT_POLLER.body, 0  # type: ignore[return-value]
                left = ends - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            limit = int(body.get("limit") or 100)
            return 200, {"ok": True, "result": list(self.pending[:limit])}, 0


def form_fields(content_type: str, raw: bytes) -> dict[str, Any]:
    """A multipart/form-data body: text fields as str, file parts as {filename, content}."""
    message = BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw
    )
    if not message.is_multipart():
        raise ValueError("not a multipart body")
    fields: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        content = part.get_payload(decode=True) or b""
        if part.get_filename() is not None:
            fields[str(name)] = {"filename": part.get_filename(), "content": content}
        else:
            fields[str(name)] = content.decode()
    return fields


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.headers.get("Content-Type") or ""
        try:
            body = (
                form_fields(kind, raw)
                if kind.startswith("multipart/form-data")
                else json.loads(raw)
                if raw
                else {}
            )
        except ValueError:
            body = {}
        fake = self.server.fake  # type: ignore[attr-defined]
        method = self.path.rsplit("/", 1)[-1].lower()
        if (before := fake.stalls.get((method, "before"))) is not None and not before.hang():
            return  # dropped unhandled: the request never reached Telegram's logic
        if method == "getupdates" and self.path.startswith(f"/bot{fake.token}/"):
            status, payload, delay = fake.bot_api.poll(body, fake.calls, fake._lock)
        else:
            status, payload, delay = fake.handle(self.path, body)
        if (after := fake.stalls.get((method, "after"))) is not None:
            after.hang()
        drip = self.server.fake.drip  # type: ignore[attr-defined]
        if delay:
            time.sleep(delay)
        data = (json.dumps(payload) if isinstance(payload, dict) else payload).encode()
        try:
            self.send_response(status)
            self.send_header(
                "Content-Type", "application/json" if isinstance(payload, dict) else "text/html"
            )
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            write(self.wfile, data, drip)
        except OSError:
            pass  # the client gave up waiting (a read timeout test)

    do_GET = do_POST

    def log_message(self, *args: Any) -> None:
        pass


def running(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeTelegram]:
    """The fake Bot API, with TELEGRAM_* pointing at it (one chat, 1001) and no real sleeping
    in the client's retry policy (the waits it asked for are in `sleeps`)."""
    fake = FakeTelegram().start()
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("TELEGRAM_CHAT_ID", "1001")
    monkeypatch.setenv("TELEGRAM_API_URL", fake.url)
    monkeypatch.setattr(
        telegram_module, "POLICY", replace(telegram_module.POLICY, sleep=fake.sleeps.append)
    )
    yield fake
    fake.stop()


def assert_no_token(*texts: str, db_path: Path | None = None) -> None:
    """Neither the token nor its secret half appears in the texts or the database files."""
    secret = TOKEN.split(":", 1)[1]
    for text in texts:
        assert secret not in text, text
    if db_path is not None:
        for path in db_path.parent.glob(db_path.name + "*"):
            assert secret.encode() not in path.read_bytes(), path
