"""Wrong passwords throttled per client address, for the page's `--auth` login (`qa serve`, app.py).

`LoginThrottle` counts failures and says how long a client is locked out; `ThrottledLogin` is the ASGI
middleware that applies it in front of Gradio's login route (qa.web_server.launch installs it).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class LoginThrottle:
    """Failed logins per client address, for `--auth`: the first FREE_FAILURES wrong passwords in a row are
    answered at once; each further one locks the client out for a doubling time (FIRST_DELAY_S, twice that,
    ... up to MAX_DELAY_S), during which its logins are refused without being checked. A good login clears
    the count; a client without a failure for FORGET_AFTER_S starts afresh. At most MAX_CLIENTS are
    remembered (the oldest forgotten first), so a flood of addresses cannot grow memory without bound.
    """

    FREE_FAILURES = 3
    FIRST_DELAY_S = 1.0
    MAX_DELAY_S = 300.0
    FORGET_AFTER_S = 900.0
    MAX_CLIENTS = 10_000

    def __init__(self, free_failures: int = FREE_FAILURES, first_delay_s: float = FIRST_DELAY_S,
                 max_delay_s: float = MAX_DELAY_S, forget_after_s: float = FORGET_AFTER_S,
                 clock: Callable[[], float] = time.monotonic):
        self.free_failures, self.first_delay_s, self.max_delay_s = free_failures, first_delay_s, max_delay_s
        self.forget_after_s, self.clock = forget_after_s, clock
        self._clients: dict[str, tuple[int, float, float]] = {}  # client → (failures in a row, locked until, last failure)
        self._lock = threading.Lock()

    def _state(self, client: str, now: float) -> tuple[int, float, float]:
        state = self._clients.get(client)
        if state is not None and now - state[2] > self.forget_after_s:
            del self._clients[client]
            return 0, 0.0, 0.0
        return state or (0, 0.0, 0.0)

    def attempt(self, client: str) -> float:
        """Seconds the client must still wait before its next login is checked (0: it may try now)."""
        with self._lock:
            now = self.clock()
            return max(0.0, self._state(client, now)[1] - now)

    def failed(self, client: str) -> float:
        """Record a wrong password; the lockout it starts, in seconds (0 within the free failures)."""
        with self._lock:
            now = self.clock()
            failures = self._state(client, now)[0] + 1
            over = failures - self.free_failures
            delay = min(self.max_delay_s, self.first_delay_s * 2 ** (over - 1)) if over > 0 else 0.0
            self._clients.pop(client, None)
            self._clients[client] = (failures, now + delay, now)  # re-inserted: the dict stays oldest first
            while len(self._clients) > self.MAX_CLIENTS:
                del self._clients[next(iter(self._clients))]
            return delay

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client, None)

    def failures(self, client: str) -> int:
        with self._lock:
            return self._state(client, self.clock())[0]


class ThrottledLogin:
    """ASGI middleware in front of Gradio's login route (POST …/login): a client locked out by the
    `LoginThrottle` gets HTTP 429 with Retry-After, its password unchecked; Gradio's answer to the others
    (200 logged in, 400 wrong credentials) updates the throttle, and each failure is logged (the client's
    address, never what it typed). Logins are checked one at a time, so a burst of parallel guesses cannot
    slip past the count. The address is the connection's peer: behind a reverse proxy, every client
    shares the proxy's (X-Forwarded-For is not trusted, since any client can set it).
    """

    def __init__(self, app, throttle: LoginThrottle):
        import asyncio

        self.app, self.throttle = app, throttle
        self._one_at_a_time = asyncio.Lock()

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") != "POST" or not scope.get("path", "").rstrip("/").endswith("/login"):
            await self.app(scope, receive, send)
            return
        client = str((scope.get("client") or ("unknown",))[0])
        async with self._one_at_a_time:
            wait = self.throttle.attempt(client)
            if wait > 0:
                from starlette.responses import JSONResponse

                seconds = math.ceil(wait)
                response = JSONResponse({"detail": f"Too many failed logins from this address; try again in {seconds} s."},
                                        status_code=429, headers={"Retry-After": str(seconds)})
                await response(scope, receive, send)
                return
            status: list[int] = []

            async def watched(message):
                if message.get("type") == "http.response.start":
                    status.append(message.get("status", 0))
                await send(message)

            await self.app(scope, receive, watched)
            if status and status[0] == 200:
                self.throttle.succeeded(client)
            elif status and status[0] in (400, 401, 403):
                delay = self.throttle.failed(client)
                log.warning("failed login from %s (%d in a row)%s", client, self.throttle.failures(client),
                            f"; its logins are refused for the next {delay:g} s" if delay else "")
