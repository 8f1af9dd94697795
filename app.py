"""The docqa web chat: `python app.py [--host H] [--port P] [--auth USER:PASS]`.

The index loads (and is rebuilt if stale) once, here, before the app is built; `demo` stays at module level.
The chat is at `/`, the JSON API at `POST /ask` (see the README).
"""
from __future__ import annotations

import argparse
import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before anything imports gradio: nothing leaves the machine

from docqa import Assistant  # noqa: E402
from docqa.serving import launch  # noqa: E402
from docqa.web import build_demo  # noqa: E402

assistant = Assistant()
assistant.load(progress=True)
demo = build_demo(assistant)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the docqa web chat.")
    parser.add_argument("--host", default=None, help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--auth", default=None, help="USER:PASS (or set DOCQA_AUTH / DOCQA_AUTH_FILE)")
    args = parser.parse_args()
    launch(demo, assistant, host=args.host, port=args.port, auth=args.auth)
