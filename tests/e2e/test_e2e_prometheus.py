"""A real Prometheus server scrapes the daemon and the exchange and answers queries over
its HTTP API."""

from __future__ import annotations

import asyncio
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest

from daemon.stack import Stack, StackSettings, free_port
from tests import system_packages

pytestmark = [pytest.mark.e2e, pytest.mark.system_package("prometheus")]


def prometheus_binary() -> str:
    return system_packages.require("prometheus")["prometheus"]


def query(port: int, expr: str) -> list[dict[str, object]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = orjson.loads(r.read())
    assert body["status"] == "success", body
    return list(body["data"]["result"])


async def test_prometheus_scrapes_the_daemon_and_the_exchange_and_sees_orders_and_fills(
    tmp_path: Path,
) -> None:
    stack = Stack(StackSettings(tmp_path / "stack", speed=40))
    stack.start()
    try:  # the stack is closed even if Prometheus cannot start
        prom_port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            "scrape_configs:\n  - job_name: rlexec\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{stack.http_port}']\n"
            "  - job_name: exchange\n    static_configs:\n"
            f"      - targets: ['127.0.0.1:{stack.md_port}']\n"
        )
        prom = subprocess.Popen(
            [
                prometheus_binary(),
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / "prometheus.log").open("wb"),
        )
        try:
            reply = await stack.ctl(
                "submit_parent",
                {
                    "symbol": "AMZN",
                    "side": "sell",
                    "qty": 300,
                    "duration_s": 60,
                    "parent_id": "PROM",
                },
            )
            assert reply["ok"], reply
            deadline = time.monotonic() + 60
            seen: dict[str, float] = {}
            wanted = {
                "up": 'up{job="rlexec"}',
                "fix": "rlexec_fix_session_up",
                "sent": 'sum(rlexec_orders_sent_total{kind="new"})',
                "filled": "sum(rlexec_filled_quantity_total)",
                "ready": "rlexec_ready",
                "exchange_up": 'up{job="exchange"}',
                "amzn_halted": 'rlexec_exchange_symbol_halted{job="exchange", symbol="AMZN"}',
            }
            while time.monotonic() < deadline:
                try:
                    for name, expr in wanted.items():
                        result = query(prom_port, expr)
                        if result:
                            value = result[0]["value"]
                            assert isinstance(value, list)
                            seen[name] = float(value[1])
                except OSError:
                    pass  # Prometheus still starting
                # Wait for every series: the first scrape can land between two queries of a pass.
                if seen.keys() == wanted.keys() and seen["filled"] >= 300 and seen["ready"] == 1:
                    break
                await asyncio.sleep(0.5)
            assert seen.get("up") == 1, seen
            assert seen.get("fix") == 1, seen
            assert seen.get("sent", 0) >= 1, seen
            assert seen.get("filled") == 300, seen
            assert seen.get("ready") == 1, seen
            assert seen.get("exchange_up") == 1, seen
            assert seen.get("amzn_halted") == 0, seen
        finally:
            prom.terminate()
            prom.wait(10)
    finally:
        stack.close()
