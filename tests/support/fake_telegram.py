"""A Telegram Bot API stand-in over HTTPS on loopback: sendMessage and getUpdates (long poll).

It speaks the real wire format (``POST /bot<token>/<method>`` with a JSON body; replies
``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code": 401, "description": ...}``),
refuses any other token, and records what was sent.
"""

from __future__ import annotations

import json
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.brokers import free_port
from tests.support.tls_broker import make_certificates


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client gone mid long-poll (its task was cancelled) is normal here."""


class FakeTelegram:
    """``with FakeTelegram(token, dir) as bot: ... bot.sent ... bot.push(chat_id, "/status")``."""

    def __init__(self, token: str, directory: Path) -> None:
        self.token = token
        self.certs = make_certificates(directory)
        self.port = free_port()
        self.sent: list[dict[str, Any]] = []
        self.requests: list[str] = []
        """Every request path, to check none came with another token."""
        self._updates: list[dict[str, Any]] = []
        self._next_update = 1
        self._cond = threading.Condition()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"https://localhost:{self.port}"

    def push(self, chat_id: int, text: str) -> None:
        """A user in ``chat_id`` sends ``text`` to the bot."""
        with self._cond:
            self._updates.append(
                {
                    "update_id": self._next_update,
                    "message": {
                        "message_id": self._next_update,
                        "date": int(time.time()),
                        "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "t"},
                        "text": text,
                    },
                }
            )
            self._next_update += 1
            self._cond.notify_all()

    def messages_to(self, chat_id: int) -> list[str]:
        with self._cond:
            return [m["text"] for m in self.sent if m.get("chat_id") == chat_id]

    def wait_for(self, check: Any, timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        with self._cond:
            while time.monotonic() < deadline:
                value = check()
                if value:
                    return value
                self._cond.wait(0.05)
        raise AssertionError(f"timed out; sent so far: {self.sent}")

    def _handle(self, method: str, body: dict[str, Any]) -> Any:
        with self._cond:
            if method == "sendMessage":
                self.sent.append(body)
                self._cond.notify_all()
                return {"message_id": len(self.sent), "chat": {"id": body.get("chat_id")}}
            if method == "getUpdates":
                offset = int(body.get("offset") or 0)
                deadline = time.monotonic() + min(float(body.get("timeout", 0)), 5.0)
                while True:
                    ready = [u for u in self._updates if u["update_id"] >= offset]
                    if ready or time.monotonic() >= deadline:
                        return ready
                    self._cond.wait(0.05)
        raise LookupError(method)

    def __enter__(self) -> FakeTelegram:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake.requests.append(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                prefix, _, method = self.path.lstrip("/").partition("/")
                if prefix != f"bot{fake.token}":
                    self._reply(
                        401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                    )
                    return
                try:
                    result = fake._handle(method, body)
                except LookupError:
                    self._reply(404, {"ok": False, "error_code": 404, "description": "Not Found"})
                    return
                self._reply(200, {"ok": True, "result": result})

            def _reply(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = _QuietServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.certs.cert_file, self.certs.key_file)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
