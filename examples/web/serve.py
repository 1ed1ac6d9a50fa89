"""Serve this folder on 127.0.0.1 (a free port unless given), with COOP/COEP headers so threads work.

    python examples/web/serve.py [PORT]      # then open the printed URL
"""

from __future__ import annotations

import functools
import http.server
import pathlib
import sys
import threading

HERE = pathlib.Path(__file__).resolve().parent


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript", ".wasm": "application/wasm"}

    def end_headers(self) -> None:
        # Cross-origin isolation: full-resolution timers and SharedArrayBuffer for multi-threaded WASM.
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:  # quiet
        pass


def start(root: pathlib.Path = HERE, port: int = 0) -> tuple[http.server.ThreadingHTTPServer, str]:
    """Start serving ``root`` in a background thread; returns (server, base URL)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(Handler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


if __name__ == "__main__":
    server, url = start(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    print(f"serving {HERE} at {url} (Ctrl-C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()
