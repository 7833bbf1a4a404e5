"""The daemon's HTTP face: /metrics for Prometheus, /healthz and /readyz for orchestrators.

/healthz answers "is the process alive and its loop turning" (restart me if not);
/readyz answers "may this node trade" and lists every failed condition by name and every
halt with its reason, so whoever looks at a 503 sees why without reading logs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from daemon.metrics import Metrics


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: dict[str, bool]  # condition -> met
    halts: dict[str, str]  # halt reason -> why (the kill switch included)

    @property
    def ready(self) -> bool:
        return all(self.checks.values())


ReadinessProbe = Callable[[], Readiness]


def build_app(metrics: Metrics, readiness: ReadinessProbe) -> web.Application:
    async def metrics_handler(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"alive"}', content_type="application/json")

    async def readyz(_: web.Request) -> web.Response:
        state = readiness()
        metrics.ready.set(1 if state.ready else 0)
        failing = sorted(name for name, good in state.checks.items() if not good)
        body = orjson.dumps(
            {"ready": state.ready, "checks": state.checks, "failing": failing, "halts": state.halts}
        )
        return web.Response(
            body=body, status=200 if state.ready else 503, content_type="application/json"
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


class HttpServer:
    def __init__(self, app: web.Application, host: str, port: int) -> None:
        self._runner = web.AppRunner(app, access_log=None)
        self.host = host
        self.port = port

    async def start(self) -> int:
        """Start listening; returns the bound port (useful with port 0)."""
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        sockets = getattr(site._server, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        await self._runner.cleanup()
