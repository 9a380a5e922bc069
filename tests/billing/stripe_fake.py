"""A stand-in for Stripe's API over real HTTP (it is outside our system): answers with recorded object shapes.

Responses are the objects of the recorded events in tests/fixtures/wire/stripe/ (a Checkout Session and a
Subscription, see that README), with the ids and fields a real answer to the request would carry. Every
request is kept (method, path, form fields) for the tests to check what we sent.
"""

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

WIRE = Path(__file__).resolve().parents[1] / "fixtures" / "wire" / "stripe"


def recorded_object(name: str) -> dict[str, Any]:
    return json.loads((WIRE / f"{name}.json").read_text())["data"]["object"]  # type: ignore[no-any-return]


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def answer(self, method: str, path: str, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        self.requests.append((method, path, form))
        if path == "/v1/customers":
            return 200, {"id": f"cus_{uuid.uuid4().hex[:14]}", "object": "customer", "email": form.get("email")}
        if path == "/v1/checkout/sessions":
            session = recorded_object("checkout_session_completed_payment")
            session_id = f"cs_test_{uuid.uuid4().hex}"
            session |= {
                "id": session_id,
                "mode": form["mode"],
                "customer": form["customer"],
                "client_reference_id": form["client_reference_id"],
                "payment_status": "unpaid",
                "status": "open",
                "url": f"https://checkout.stripe.com/c/pay/{session_id}",
            }
            return 200, session
        if path.startswith("/v1/subscriptions/"):
            subscription = recorded_object("customer_subscription_updated")
            subscription["id"] = path.rsplit("/", 1)[1]
            if "items[0][price]" in form:
                subscription["items"]["data"][0]["price"]["id"] = form["items[0][price]"]
            return 200, subscription
        if path == "/v1/invoices":
            draft = recorded_object("invoice_paid") | {"id": f"in_{uuid.uuid4().hex[:12]}", "status": "draft"}
            return 200, {"object": "list", "data": [draft], "has_more": False, "url": "/v1/invoices"}
        if path.startswith("/v1/invoices/") and path.endswith("/finalize"):
            invoice_id = path.split("/")[3]
            return 200, recorded_object("invoice_paid") | {"id": invoice_id, "status": "open"}
        return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL ({path})."}}


@contextmanager
def fake_stripe_server() -> Iterator[FakeStripe]:
    fake = FakeStripe()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
            self._send(*fake.answer("POST", self.path, form))

        def do_GET(self) -> None:
            self._send(*fake.answer("GET", self.path.split("?")[0], {}))

        def _send(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Request-Id", f"req_{uuid.uuid4().hex[:14]}")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
