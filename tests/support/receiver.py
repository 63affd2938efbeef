"""A real webhook receiver on 127.0.0.1:0 that verifies Sandbox-Signature like an integration layer would."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from simulators.core.webhooks import verify_signature


class WebhookReceiver:
    """Keeps every delivery: headers, raw body, parsed event, whether its signature verified, what it answered.

    `statuses` lists answers to give, in order (then 200); an invalid signature is answered 401.
    With `secret=None` nothing is verified and every delivery is accepted.
    """

    def __init__(self, secret: str | None = "whsec_sandbox", path: str = "/hooks") -> None:
        self.received: list[dict[str, Any]] = []
        self.statuses: list[int] = []
        lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                valid = secret is None or verify_signature(secret, self.headers.get("Sandbox-Signature", ""), body)
                with lock:
                    status = outer.statuses.pop(0) if outer.statuses else 200
                    status = status if valid else 401
                    outer.received.append({"headers": dict(self.headers), "body": body, "event": json.loads(body),
                                           "valid": valid, "status": status})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until `count` deliveries arrived (simulators deliver from their own loop)."""
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.received

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        return [r["event"] for r in self.received if event_type is None or r["event"]["type"] == event_type]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
