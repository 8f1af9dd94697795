"""Serving: the web chat and a JSON `POST /ask` on one FastAPI app, with safe defaults (loopback, no share link,
same-origin guard, bounded requests, no file serving).

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
from .errors import DocQAError
from .web import CSS, ask_json, build_demo, error_message, import_gradio, upload_folder

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


class RequestLimits:
    """ASGI middleware: bounds what a request may cost before the app reads it.

    - A POST body over `max_body` bytes gets 413, and one without a Content-Length 411 (uploads excepted: Gradio
      caps each file at `max_file_size`); when uploads waiting in `upload_folder` hold `upload_quota` bytes, more
      get 507 until Gradio's cleanup runs.
    - The app serves no files: `/file=` routes get 404, so nothing uploaded can be read back.
    - Gradio's raw-HTTP routes (`/gradio_api/call/…`) get 404 naming `POST /ask`, the documented JSON route; each
      of their calls would also keep a Gradio session in memory.
    """

    UPLOAD_PATHS = ("/gradio_api/upload", "/upload")

    def __init__(self, app, max_body: int, upload_folder: Path, upload_quota: int) -> None:
        self.app, self.max_body, self.upload_folder, self.upload_quota = app, max_body, upload_folder, upload_quota

    async def __call__(self, scope, receive, send) -> None:
        refusal = self._refusal(scope) if scope["type"] == "http" else None
        if refusal is None:
            await self.app(scope, receive, send)
            return
        status, message = refusal
        body = message.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    def _refusal(self, scope) -> tuple[int, str] | None:
        path = scope.get("path", "").lower()
        if "/file=" in path or path.startswith("/file="):
            return 404, "this app serves no files"
        if path.startswith("/gradio_api/call/"):
            return 404, "use POST /ask with a JSON body {\"question\": ..., \"history\": ..., \"sources\": ...}"
        if scope.get("method") != "POST":
            return None
        length = dict(scope.get("headers", [])).get(b"content-length")
        if path.rstrip("/") in self.UPLOAD_PATHS:
            incoming = int(length) if length is not None and length.isdigit() else 0
            if _folder_bytes(self.upload_folder) + incoming > self.upload_quota:
                return 507, "upload space is full; try again in a few minutes"
            return None
        if length is None:
            return 411, "a Content-Length header is required"
        if not length.isdigit() or int(length) > self.max_body:
            return 413, f"the request is over {self.max_body:,} bytes"
        return None


def _folder_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:  # deleted meanwhile
                pass
    return total


ASK_KEYS = ("question", "history", "sources")


def _json_error(status: int, message: str, headers: dict[str, str] | None = None):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)


def ask_endpoint(assistant: Assistant, credentials: tuple[str, str] | None):
    """The JSON `POST /ask` route: {"question", "history"?, "sources"?} -> `Answer.to_dict()`; errors are
    {"error": "<one line>"} with 400 (bad JSON or a bad question), 401, 422 (unknown or missing keys) or 503 (busy).
    It keeps no state between calls."""
    import asyncio
    import base64
    import json
    import secrets
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from starlette.requests import Request
    from starlette.responses import JSONResponse

    settings = assistant.settings
    # Questions are answered on `web_concurrency` threads of their own, not on the server's pool of 40: fewer
    # threads touching the model means fewer malloc arenas growing the process (see docs/reliability.md, soak).
    answering = ThreadPoolExecutor(settings.web_concurrency, thread_name_prefix="docqa-ask")
    admitted = threading.BoundedSemaphore(settings.web_concurrency + settings.web_queue_size)

    def authorised(header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return False
        return scheme.lower() == "basic" and secrets.compare_digest(f"{user}:{password}", ":".join(credentials))

    def answer(payload: dict[str, Any]) -> dict[str, Any]:
        return ask_json(assistant, payload["question"], payload.get("history"), payload.get("sources"))

    async def ask(request: Request) -> JSONResponse:
        if credentials and not authorised(request.headers.get("authorization", "")):
            return _json_error(401, "Log-in required (HTTP Basic)", {"WWW-Authenticate": 'Basic realm="docqa"'})
        try:
            payload = json.loads(await request.body())
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep to parse
            return _json_error(400, "The body must be a JSON object such as {\"question\": \"...\"}")
        if not isinstance(payload, dict):
            return _json_error(400, "The body must be a JSON object such as {\"question\": \"...\"}")
        unknown = sorted(set(payload) - set(ASK_KEYS))
        if unknown:
            return _json_error(422, f"Unknown key(s): {', '.join(map(repr, unknown))}; allowed: {', '.join(ASK_KEYS)}")
        if "question" not in payload:
            return _json_error(422, "The question is required: {\"question\": \"...\"}")
        if not admitted.acquire(blocking=False):
            return _json_error(503, "Busy: too many questions waiting; try again shortly")
        try:
            return JSONResponse(await asyncio.wrap_future(answering.submit(answer, payload)))
        except (DocQAError, ValueError, RecursionError) as exc:
            message = "The history is nested too deeply" if isinstance(exc, RecursionError) else error_message(exc)
            return _json_error(400, message)
        finally:
            admitted.release()

    ask.__annotations__.update({"request": Request, "return": JSONResponse})  # resolved here: FastAPI reads them
    return ask


def create_app(demo: gr.Blocks, assistant: Assistant, host: str = "127.0.0.1", auth: str | None = None):
    """A FastAPI app: the JSON `POST /ask` route, and the Gradio chat mounted at `/` with the safe defaults (no
    share link, no error internals, no file serving, uploads up to `Settings.max_document_bytes`), behind the
    same-origin guard and the request limits."""
    gr = import_gradio()
    from fastapi import FastAPI

    settings = assistant.settings
    credentials = read_credentials(auth)
    app = FastAPI(title="docqa", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route("/ask", ask_endpoint(assistant, credentials), methods=["POST"], include_in_schema=False)
    app.add_middleware(RequestLimits, max_body=settings.web_max_request_bytes, upload_folder=upload_folder(),
                       upload_quota=settings.web_upload_quota_bytes)
    app.add_middleware(SameOriginGuard, hosts=allowed_hosts(host))
    demo.state_session_capacity = settings.web_sessions  # read when mounted; Gradio's default keeps 10,000
    blocked = [Path(p).resolve() for p in (assistant.sources, assistant.index_dir, ".env")]
    return gr.mount_gradio_app(
        app, demo, path="/", auth=credentials, show_error=False, ssr_mode=False, allowed_paths=[],
        blocked_paths=[str(p) for p in blocked], max_file_size=settings.max_document_bytes, run_history=False,
        enable_monitoring=False, mcp_server=False, pwa=False, footer_links=["api", "settings"], css=CSS,
        theme=gr.themes.Default(),
    )


class Server:
    """A running server: `url`, and `close()` to stop it."""

    def __init__(self, app, host: str, port: int) -> None:
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
        self._server.install_signal_handlers = lambda: None  # type: ignore[method-assign]  # the caller's to handle
        self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
        self._thread: Any = None

    def start(self, timeout: float = 30.0) -> Server:
        """Serve from a background thread; return once the server accepts connections."""
        import threading
        import time

        self._thread = threading.Thread(target=self._server.run, name="docqa-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise OSError(f"the server did not start on {self.url} (is the port in use?)")
            time.sleep(0.01)
        return self

    def run(self) -> None:
        """Serve in this thread until interrupted."""
        self._server.run()

    def close(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)


def launch(
    demo: gr.Blocks,
    assistant: Assistant,
    host: str | None = None,
    port: int | None = None,
    auth: str | None = None,
    prevent_thread_lock: bool = False,
    quiet: bool = False,
) -> Server:
    """Serve `demo` (and `POST /ask`) over `assistant` on `host`:`port` (default 127.0.0.1, $GRADIO_SERVER_PORT or
    7860). With `prevent_thread_lock`, return the started Server; otherwise serve until interrupted."""
    host = host or "127.0.0.1"
    port = port or int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    credentials = read_credentials(auth)
    warning = exposure_warning(host, port, credentials is not None)
    if warning:
        print(warning, file=sys.stderr)
    server = Server(create_app(demo, assistant, host, auth), host, port)
    if not quiet:
        print(f"docqa: serving on {server.url} (Ctrl+C to stop)", file=sys.stderr)
    if prevent_thread_lock:
        return server.start()
    server.run()
    return server


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
    launch(build_demo(assistant), assistant, host=host, port=port, auth=auth)
