"""Serving: launch the web chat with safe defaults (loopback, no share, same-origin guard, blocked paths).

Gradio is imported inside functions only, so `import docqa` stays cheap.
"""
from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .assistant import Assistant
from .settings import Settings
from .web import CSS, build_demo, import_gradio

if TYPE_CHECKING:
    import gradio as gr

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def read_credentials(auth: str | None = None) -> tuple[str, str] | None:
    """USER:PASS from `auth`, else $DOCQA_AUTH, else the first line of the file named by $DOCQA_AUTH_FILE."""
    value, origin = auth, "--auth"
    if value is None and os.environ.get("DOCQA_AUTH"):
        value, origin = os.environ["DOCQA_AUTH"], "DOCQA_AUTH"
    if value is None and os.environ.get("DOCQA_AUTH_FILE"):
        path = Path(os.environ["DOCQA_AUTH_FILE"])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"cannot read the credentials file {path}: {exc.strerror}") from None
        value, origin = (lines[0].strip() if lines else ""), str(path)
    if value is None:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError(f"credentials from {origin} must look like USER:PASS")
    return user, password


class SameOriginGuard:
    """ASGI middleware: refuse requests addressed to another host name (DNS rebinding) and cross-site writes
    (CSRF), `Origin: null` included. Programs such as gradio_client send no Origin and pass."""

    SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

    def __init__(self, app, hosts: Sequence[str] | None) -> None:
        self.app = app
        self.hosts = None if hosts is None else frozenset(h.lower() for h in hosts)  # None: any host name

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] in ("http", "websocket") and not self._allowed(scope):
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            body = b"cross-site or foreign-host request refused"
            await send({"type": "http.response.start", "status": 403,
                        "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)

    def _allowed(self, scope) -> bool:
        headers = {k.lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        host = headers.get(b"host", "")
        if self.hosts is not None and _hostname(host) not in self.hosts:
            return False
        origin = headers.get(b"origin")
        if origin is None or (scope["type"] == "http" and scope.get("method") in self.SAFE_METHODS):
            return True
        return origin.lower() in (f"http://{host}".lower(), f"https://{host}".lower())


class OptionalAskArguments:
    """ASGI middleware: let raw HTTP callers of `POST /gradio_api/call/ask` leave out the trailing optional
    arguments (`{"data": [question]}`, `{"data": [question, history]}`); Gradio's positional route wants all of them.
    Every other request, and a body that is not such a JSON object, passes unchanged."""

    PATHS = frozenset({"/gradio_api/call/ask", "/gradio_api/call/ask/"})
    ARGUMENTS = 3  # question, history, sources
    MAX_BODY = 1 << 20  # bytes read to look; a larger body passes as it is

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or scope.get("path") not in self.PATHS:
            await self.app(scope, receive, send)
            return
        chunks, size, more = [], 0, True
        while more and size <= self.MAX_BODY:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if not more:
            body = self._padded(body)
            headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
            scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}
        await self.app(scope, _replay([{"type": "http.request", "body": body, "more_body": more}], receive), send)

    def _padded(self, body: bytes) -> bytes:
        import json

        try:
            request = json.loads(body)
        except ValueError:
            return body
        data = request.get("data") if isinstance(request, dict) else None
        if not isinstance(data, list) or not 1 <= len(data) < self.ARGUMENTS:
            return body
        return json.dumps({**request, "data": data + [None] * (self.ARGUMENTS - len(data))}).encode()


def _replay(messages: list[dict[str, Any]], receive):
    """An ASGI `receive` that gives `messages` first, then reads on."""
    pending = list(messages)

    async def replay() -> dict[str, Any]:
        return pending.pop(0) if pending else await receive()

    return replay


def _hostname(host: str) -> str:
    """'127.0.0.1:7860' -> '127.0.0.1'; '[::1]:7860' -> '::1'; '' for anything unparsable."""
    from urllib.parse import urlsplit

    try:
        return (urlsplit(f"//{host}").hostname or "").lower()
    except ValueError:
        return ""


def allowed_hosts(host: str) -> list[str] | None:
    """The Host names a server bound to `host` answers to; None (any) for a wildcard address."""
    if host in ("0.0.0.0", "::", ""):
        return None
    return sorted({host.lower(), *LOOPBACK})


def exposure_warning(host: str, port: int, has_auth: bool) -> str | None:
    """What to tell the person starting a server that other machines can reach; None on loopback."""
    if _is_loopback(host):
        return None
    return (f"docqa: warning: serving on {host}:{port}, reachable from other machines"
            + ("; log-in required" if has_auth else "; anyone who can reach it can use it (set --auth or DOCQA_AUTH)"))


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def launch(
    demo: gr.Blocks,
    host: str | None = None,
    port: int | None = None,
    auth: str | None = None,
    blocked_paths: Sequence[str | Path] = (),
    prevent_thread_lock: bool = False,
    quiet: bool = False,
    max_file_size: int | None = None,
):
    """Launch `demo` with safe defaults: loopback, no share link, no error internals, no file serving, uploads up
    to `max_file_size` bytes (default `Settings.max_document_bytes`)."""
    gr = import_gradio()
    from starlette.middleware import Middleware

    host = host or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    credentials = read_credentials(auth)
    warning = exposure_warning(host, port, credentials is not None)
    if warning:
        print(warning, file=sys.stderr)
    blocked = [Path(p).resolve() for p in blocked_paths] + [Path(".env").resolve()]
    middleware = [Middleware(SameOriginGuard, hosts=allowed_hosts(host)), Middleware(OptionalAskArguments)]
    return demo.launch(
        server_name=host, server_port=port, auth=credentials, share=False, show_error=False, ssr_mode=False,
        app_kwargs={"middleware": middleware}, allowed_paths=[], blocked_paths=[str(p) for p in blocked],
        max_file_size=Settings().max_document_bytes if max_file_size is None else max_file_size, run_history=False,
        enable_monitoring=False, mcp_server=False, pwa=False, strict_cors=True, footer_links=["api", "settings"],
        prevent_thread_lock=prevent_thread_lock, quiet=quiet, css=CSS, theme=gr.themes.Default(),
    )


def serve(
    sources: str | Path | None = None,
    index_dir: str | Path | None = None,
    host: str | None = None,
    port: int | None = None,
    auth: str | None = None,
) -> None:
    """Load (or rebuild) the index once, then serve the chat until interrupted."""
    assistant = Assistant(sources=sources, index_dir=index_dir)
    assistant.load(progress=True)
    demo = build_demo(assistant)
    launch(demo, host=host, port=port, auth=auth, blocked_paths=[assistant.sources, assistant.index_dir],
           max_file_size=assistant.settings.max_document_bytes)
