"""A fake of the few Stripe API endpoints Kabao calls, served over HTTP on 127.0.0.1.

The stripe library talks to it exactly as to api.stripe.com (form-encoded requests, JSON answers,
Idempotency-Key headers, its own retries), so the tests exercise the real client end to end.
It keeps Stripe's idempotency rule: a key seen before answers with the first response.
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


def _nested(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`metadata[order_id]=3&payment_method_types[0]=card` -> {"metadata": {...}, "payment_method_types": [...]}"""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if "[" not in key:
            out[key] = value
            continue
        head, rest = key.split("[", 1)
        inner = rest.split("]", 1)[0]
        if inner.isdigit() or inner == "":
            out.setdefault(head, []).append(value)
        else:
            out.setdefault(head, {})[inner] = value
    return out


class FakeStripe:
    def __init__(self) -> None:
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.refunds: list[dict[str, Any]] = []
        self.requests: list[tuple[str, str, dict[str, Any], str | None]] = []
        self._responses: dict[str, tuple[int, dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self.lock = threading.Lock()
        self.slow_refund_responses = 0  # answer this many refunds only after the client gave up
        self.slow_seconds = 1.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> "FakeStripe":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- what happens at Stripe outside Kabao's calls (the buyer pays, the bank disputes) ------

    def succeed(self, intent_id: str, *, amount: int | None = None) -> dict[str, Any]:
        with self.lock:
            intent = self.intents[intent_id]
            charge_id = f"ch_{next(self._ids)}"
            received = intent["amount"] if amount is None else amount
            self.charges[charge_id] = {
                "id": charge_id,
                "object": "charge",
                "payment_intent": intent_id,
                "amount": received,
                "amount_captured": received,
                "amount_refunded": 0,
                "currency": intent["currency"],
                "refunded": False,
            }
            intent.update(status="succeeded", amount_received=received, latest_charge=charge_id)
            return dict(intent)

    def fail(self, intent_id: str) -> dict[str, Any]:
        with self.lock:
            intent = self.intents[intent_id]
            intent.update(status="requires_payment_method", last_payment_error={"code": "card_declined"})
            return dict(intent)

    def charge_of(self, intent_id: str) -> dict[str, Any]:
        return dict(self.charges[self.intents[intent_id]["latest_charge"]])

    def intents_with(self, **metadata: str) -> list[dict[str, Any]]:
        return [i for i in self.intents.values() if metadata.items() <= i["metadata"].items()]

    # --- the API ----------------------------------------------------------------------------

    def _create_intent(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent_id = f"pi_{next(self._ids):06d}"
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": int(params["amount"]),
            "amount_received": 0,
            "currency": params["currency"],
            "status": "requires_payment_method",
            "client_secret": f"{intent_id}_secret_fake",
            "metadata": params.get("metadata", {}),
            "payment_method_types": params.get("payment_method_types", []),
            "created": int(time.time()),
            "latest_charge": None,
            "last_payment_error": None,
        }
        self.intents[intent_id] = intent
        return 200, dict(intent)

    def _create_refund(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        intent = self.intents.get(params.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return 400, {"error": {"type": "invalid_request_error", "message": "not refundable"}}
        charge = self.charges[intent["latest_charge"]]
        amount = int(params.get("amount", charge["amount"] - charge["amount_refunded"]))
        if charge["amount_refunded"] + amount > charge["amount"]:
            return 400, {"error": {"type": "invalid_request_error", "message": "exceeds charge"}}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        refund = {
            "id": f"re_{next(self._ids)}",
            "object": "refund",
            "amount": amount,
            "currency": charge["currency"],
            "payment_intent": intent["id"],
            "charge": charge["id"],
            "status": "succeeded",
        }
        self.refunds.append(refund)
        return 200, refund

    def _list_intents(self, query: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        created = query.get("created", {})
        low, high = int(created.get("gte", 0)), int(created.get("lt", 2**62))
        data = []
        for intent in self.intents.values():
            if low <= intent["created"] < high:
                item = dict(intent)
                if "data.latest_charge" in query.get("expand", []) and item["latest_charge"]:
                    item["latest_charge"] = dict(self.charges[item["latest_charge"]])
                data.append(item)
        return 200, {"object": "list", "url": "/v1/payment_intents", "has_more": False, "data": data}

    def handle(self, method: str, path: str, query: dict[str, Any], params: dict[str, Any], key: str | None):
        with self.lock:
            self.requests.append((method, path, params, key))
            is_slow = False
            if method == "POST" and path == "/v1/refunds" and self.slow_refund_responses > 0:
                self.slow_refund_responses -= 1
                is_slow = True
            if key and key in self._responses:
                return self._responses[key], is_slow
            if method == "POST" and path == "/v1/payment_intents":
                answer = self._create_intent(params)
            elif method == "POST" and path == "/v1/refunds":
                answer = self._create_refund(params)
            elif method == "GET" and path == "/v1/payment_intents":
                answer = self._list_intents(query)
            elif method == "GET" and path.startswith("/v1/payment_intents/"):
                intent = self.intents.get(path.rsplit("/", 1)[1])
                missing = {"error": {"type": "invalid_request_error", "message": "No such payment_intent"}}
                answer = (200, dict(intent)) if intent else (404, missing)
            else:
                answer = (404, {"error": {"type": "invalid_request_error", "message": f"no route {path}"}})
            if key and method == "POST":
                self._responses[key] = answer
            return answer, is_slow

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method: str) -> None:
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                query = _nested(parse_qsl(url.query))
                params = _nested(parse_qsl(body))
                (status, payload), is_slow = fake.handle(
                    method, url.path, query, params, self.headers.get("Idempotency-Key")
                )
                if is_slow:  # the refund is made; its answer is lost to the client's timeout
                    time.sleep(fake.slow_seconds)
                raw = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw)))
                    self.end_headers()
                    self.wfile.write(raw)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


def event(event_type: str, obj: dict[str, Any], *, event_id: str | None = None) -> bytes:
    """A webhook body as Stripe sends it."""
    payload = {
        "id": event_id or f"evt_{hashlib.sha256(json.dumps([event_type, obj]).encode()).hexdigest()[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "type": event_type,
        "data": {"object": obj},
    }
    return json.dumps(payload).encode()


def signature(body: bytes, secret: str, *, timestamp: int | None = None) -> str:
    """The Stripe-Signature header, computed as Stripe documents: v1 = HMAC-SHA256 of "t.body"."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"
