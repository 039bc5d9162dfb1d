"""What the benchmarks that measure a real Prometheus share: a scrape target on 127.0.0.1, and a process's CPU time.

Imported by the benchmark scripts beside it (run as ``python benchmarks/NAME.py``, this folder is on the path).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def serve_metrics(render: Callable[[], bytes]) -> ThreadingHTTPServer:
    """A server on 127.0.0.1 (a free port) answering every GET with ``render()``, one request at a time."""
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            with lock:
                body = render()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def cpu_s(pid: int) -> float:
    """The user and system CPU seconds process ``pid`` has used (/proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime
