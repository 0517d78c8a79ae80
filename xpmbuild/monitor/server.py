"""The monitor's app and its serving: the guard (token, Host check), the routes, uvicorn.

The guard answers 401 to a request without the token (``?token=``, then the cookie it
sets, or ``Authorization: Bearer``) and 403 to one whose ``Host`` header names another
address than the one bound (DNS rebinding). No CORS header is ever sent: other origins
cannot read the API.
"""
from __future__ import annotations

import hmac
import json
import os
import socket
import sys
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

COOKIE = "xpmbuild_monitor"
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")


def allowed_hosts(host: str, port: int) -> set:
    """The ``Host`` header values that name the bound address."""
    names = {host}
    if host in ("127.0.0.1", "localhost", "::1"):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::"):           # asked for: any address of this machine
        names |= {"127.0.0.1", "localhost", "[::1]", socket.gethostname(), socket.getfqdn()}
        try:
            names |= {a[4][0] for a in socket.getaddrinfo(socket.gethostname(), None)}
        except OSError:
            pass
    if ":" in host and not host.startswith("["):
        names.add(f"[{host}]")
    return {f"{n}:{port}".lower() for n in names}


class Guard:
    """ASGI middleware: the Host check, then the token."""

    def __init__(self, app, token: str, hosts: set):
        self.app, self.token, self.hosts = app, token.encode(), hosts

    def _ok(self, given) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), self.token)

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if headers.get("host", "").lower() not in self.hosts:
            return await _answer(send, 403, "this monitor answers only at its own address "
                                            "(Host header refused)")
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        from_query = (query.get("token") or [None])[0]
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:
            pass
        from_cookie = cookie[COOKIE].value if COOKIE in cookie else None
        auth = headers.get("authorization", "")
        bearer = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        if self._ok(from_query):
            async def send_with_cookie(message):
                if message["type"] == "http.response.start":
                    value = (f"{COOKIE}={self.token.decode()}; Path=/; HttpOnly; "
                             "SameSite=Strict")
                    message = dict(message, headers=list(message.get("headers", []))
                                   + [(b"set-cookie", value.encode())])
                await send(message)
            return await self.app(scope, receive, send_with_cookie)
        if self._ok(from_cookie) or self._ok(bearer):
            return await self.app(scope, receive, send)
        return await _answer(send, 401, "the monitor needs its token: open the address "
                                        "`xpmbuild monitor` printed (…/?token=…)")


async def _answer(send, code: int, message: str):
    body = json.dumps({"error": message}).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def make_app(root: str, token: str, hosts: set, launchers=None):
    from contextlib import asynccontextmanager

    from starlette.applications import Starlette
    from starlette.responses import FileResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from . import api
    from .events import Watcher
    from .table import JobTable

    table = JobTable(root, launchers)
    watcher = Watcher(table)

    async def index(request):
        return FileResponse(os.path.join(STATIC, "index.html"),
                            headers={"cache-control": "no-store"})

    @asynccontextmanager
    async def lifespan(app):
        watcher.start()
        try:
            yield
        finally:
            await watcher.stop()

    app = Starlette(routes=[Route("/", index), *api.routes(watcher),
                            Mount("/static", StaticFiles(directory=STATIC), name="static")],
                    lifespan=lifespan)
    app.state.table, app.state.watcher, app.state.root = table, watcher, root
    app.state.launchers = launchers
    return Guard(app, token, hosts)


def url(host: str, port: int, token: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


def serve(root: str, host="127.0.0.1", port=0, token=None, open_browser=False,
          launchers=None):
    """Bind, print the one line with the address, and serve until interrupted."""
    import secrets

    import uvicorn
    token = token or secrets.token_urlsafe(24)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    port = sock.getsockname()[1]
    app = make_app(root, token, allowed_hosts(host, port), launchers)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    address = url("127.0.0.1" if host in ("0.0.0.0", "::") else host, port, token)
    sys.stdout.write(f"xpmbuild monitor: {address}\n")
    sys.stdout.flush()
    if open_browser:
        import webbrowser
        webbrowser.open(address)
    server.run(sockets=[sock])
