"""What an operator sees of a running keeper: JSON-line logs, metrics, /health and /metrics.

Logs are one JSON object per line ({"ts", "level", "bot", "event", ...fields}) so they can
be shipped and queried as they are. Metrics are counters and gauges in memory; the HTTP
endpoint (stdlib http.server in a daemon thread, loopback by default) serves

- ``/health``: 200 with a JSON summary while iterations keep completing, 503 when the last
  one is older than `stale_after` seconds (the node is down, the bot is stuck);
- ``/metrics``: the Prometheus text format (``optsim_keeper_<name>{bot="..."} value``).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RESERVED = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message"}


class JsonLineFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger name as `bot`, message as `event`,
    and every `extra` field."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "bot": record.name.removeprefix("keeper."),
            "event": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _RESERVED and not k.startswith("_"):
                out[k] = v
        if record.exc_info:
            out["error"] = self.formatException(record.exc_info).splitlines()[-1]
        return json.dumps(out, default=str)


def keeper_logger(bot: str, stream: Any = None, level: int = logging.INFO) -> logging.Logger:
    """The bot's logger, writing JSON lines to `stream` (stderr by default)."""
    log = logging.getLogger(f"keeper.{bot}")
    log.setLevel(level)
    log.propagate = False
    if not any(getattr(h, "_keeper", False) for h in log.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(JsonLineFormatter())
        handler._keeper = True  # type: ignore[attr-defined]
        log.addHandler(handler)
    return log


class Metrics:
    """Counters and gauges, safe to read from the HTTP thread."""

    def __init__(self, bot: str):
        self.bot = bot
        self._lock = threading.Lock()
        self.counters: dict[str, float] = {}
        self.gauges: dict[str, float] = {}
        self.started = time.time()
        self.last_iteration = 0.0  # wall time of the last completed iteration

    def inc(self, name: str, by: float = 1) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + by

    def set(self, name: str, value: float) -> None:
        with self._lock:
            self.gauges[name] = value

    def count(self, name: str) -> float:
        with self._lock:
            return self.counters.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "bot": self.bot,
                "uptime_s": round(time.time() - self.started, 3),
                "last_iteration": self.last_iteration,
                "counters": dict(self.counters),
                "gauges": dict(self.gauges),
            }

    def prometheus(self) -> str:
        snap = self.snapshot()
        label = f'{{bot="{self.bot}"}}'
        lines = []
        for kind, values in (("counter", snap["counters"]), ("gauge", snap["gauges"])):
            for name, value in sorted(values.items()):
                metric = f"optsim_keeper_{name}"
                lines += [f"# TYPE {metric} {kind}", f"{metric}{label} {value}"]
        lines.append(f"optsim_keeper_uptime_seconds{label} {snap['uptime_s']}")
        lines.append(f"optsim_keeper_last_iteration_timestamp{label} {snap['last_iteration']}")
        return "\n".join(lines) + "\n"


class HealthServer:
    """/health and /metrics on `host:port` (port 0 picks a free one: see `.port`)."""

    def __init__(
        self, metrics: Metrics, port: int, host: str = "127.0.0.1", stale_after: float = 120.0
    ):
        self.metrics = metrics
        self.stale_after = stale_after
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                path = self.path.split("?")[0]
                if path == "/health":
                    code, body = server.health()
                    self._reply(code, json.dumps(body), "application/json")
                elif path == "/metrics":
                    self._reply(200, server.metrics.prometheus(), "text/plain; version=0.0.4")
                else:
                    self._reply(404, json.dumps({"error": "not found"}), "application/json")

            def _reply(self, code: int, text: str, ctype: str) -> None:
                data = text.encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:  # keep the JSON log clean
                return

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def health(self) -> tuple[int, dict[str, Any]]:
        snap = self.metrics.snapshot()
        last = snap["last_iteration"]
        age = time.time() - last if last else None
        ok = age is not None and age <= self.stale_after
        body = {
            "status": "ok" if ok else ("starting" if last == 0 else "stale"),
            "bot": snap["bot"],
            "last_iteration_age_s": None if age is None else round(age, 3),
            "last_block": snap["gauges"].get("last_block"),
            "iterations": snap["counters"].get("iterations", 0),
        }
        return (200 if ok else 503), body

    def start(self) -> HealthServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
