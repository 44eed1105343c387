"""Who may call the API, how often, and with how big a body: one ASGI middleware.

It runs before routing, so a request without a valid key, over its rate, or with a body
past the limit is refused before a route reads a byte of that body (FastAPI parses a
multipart upload before a route's dependencies run, so a dependency would come too late).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import time
from collections.abc import Callable, Sequence

from starlette.types import ASGIApp, Message, Receive, Scope, Send

GUARDED_PREFIXES = ("/api/", "/v1/")
# Buckets of clients not seen for a while are dropped past this many, so a scan from many
# addresses cannot grow the table without bound.
MAX_BUCKETS = 10_000


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class KeyRing:
    """The accepted keys, compared in constant time."""

    def __init__(self, keys: Sequence[str]) -> None:
        # Digests have one length, so compare_digest leaks neither a key nor its length.
        self._digests = [_digest(k) for k in keys]

    def __bool__(self) -> bool:
        return bool(self._digests)

    def accepts(self, key: str) -> bool:
        given = _digest(key)
        found = False
        for digest in self._digests:  # no early exit: every key costs the same
            found |= hmac.compare_digest(given, digest)
        return found


class RateLimiter:
    """A token bucket per client: `rate` requests a second, up to `burst` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def take(self, client: str) -> float:
        """Spend one token: 0.0 if allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._remember(client, tokens - 1.0, now)
            return 0.0
        self._remember(client, tokens, now)
        return (1.0 - tokens) / self.rate

    def _remember(self, client: str, tokens: float, now: float) -> None:
        if client not in self._buckets and len(self._buckets) >= MAX_BUCKETS:
            # A bucket that has refilled is the same as no bucket: forget those.
            self._buckets = {
                c: (t, a)
                for c, (t, a) in self._buckets.items()
                if t + (now - a) * self.rate < self.burst
            }
        self._buckets[client] = (tokens, now)


class BodyTooLarge(Exception):
    pass


class AccessGuard:
    """API keys, rate limit and request body size for /api/* and /v1/*."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        keys: KeyRing,
        limiter: RateLimiter | None,
        max_body: int,
    ) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if not path.startswith(GUARDED_PREFIXES) or scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        client = _client_address(scope)
        if self.keys:
            key = _bearer(headers.get("authorization", ""))
            if key is None or not self.keys.accepts(key):
                reason = "a valid API key is required: send `Authorization: Bearer <key>`"
                if key is not None:
                    reason = "the API key is not valid"
                await _refuse(
                    scope, send, 401, reason, {"www-authenticate": 'Bearer realm="ragqa"'}
                )
                return
            # Keyed by a digest: the key itself never sits in the bucket table.
            client = "key:" + _digest(key).hex()[:16]
        if self.limiter is not None and (wait := self.limiter.take(client)) > 0:
            retry = max(1, math.ceil(wait))
            reason = f"rate limit of {self.limiter.rate:g} requests/s exceeded; retry in {retry} s"
            await _refuse(scope, send, 429, reason, {"retry-after": str(retry)})
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            await _refuse(scope, send, 413, self._too_large(int(declared)), {"connection": "close"})
            return
        await self._bounded(scope, receive, send)

    def _too_large(self, size: int | None = None) -> str:
        said = f" of {size} bytes" if size is not None else ""
        return f"request body{said} is larger than the {self.max_body}-byte limit"

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Count the body as it streams in (chunked uploads declare no length).

        Past the limit the app's receive raises; FastAPI turns an error while parsing a
        body into its own 400, so that response is swallowed and replaced by the 413.
        """
        seen = 0
        over = False
        sent = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    over = True
                    raise BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal sent
            if over and not sent:
                return
            sent = True
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            pass
        if over and not sent:
            await _refuse(scope, send, 413, self._too_large(), {"connection": "close"})


def _bearer(value: str) -> str | None:
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return f"addr:{client[0]}" if client else "addr:unknown"


# OpenAI clients read `error.message`; ragqa's own clients read `detail`.
_OPENAI_ERROR = {401: "invalid_api_key", 413: "request_too_large", 429: "rate_limit_exceeded"}


async def _refuse(
    scope: Scope, send: Send, status: int, detail: str, headers: dict[str, str]
) -> None:
    payload: dict[str, object] = {"detail": detail}
    if scope.get("path", "").startswith("/v1/"):
        code = _OPENAI_ERROR.get(status)
        kind = "authentication_error" if status == 401 else "invalid_request_error"
        payload["error"] = {"message": detail, "type": kind, "param": None, "code": code}
    body = json.dumps(payload).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
