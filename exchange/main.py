"""The exchange process: ``rlexec exchange --config FILE`` (or ``python -m exchange.main``).

One asyncio process runs the venue:

- a **source** moves the market: LOBSTER replay through the matching engine, paced by
  :class:`~exchange.service.pacing.Pacer`, or paper mode (an upstream venue's book,
  live or recorded, loaded into the same engine);
- the **matching engine** fills the daemon's orders and publishes every book change
  and trade to the **market-data publisher** (websocket, ``/md``);
- the **FIX acceptor** carries order entry; every request and report goes through the
  **audit log** (drop copy).

When everything listens, the process writes one JSON line to stdout::

    {"event": "exchange_ready", "marketdata_url": "ws://127.0.0.1:8765/md",
     "marketdata_port": 8765, "fix_port": 9878, "health_url": "http://.../healthz"}

so a supervisor or a test (with ports 0) learns where to connect. SIGTERM/SIGINT
stop it cleanly: FIX sessions are logged out, market-data clients closed, the audit
log flushed and synced. Exit status: 0 on a clean stop, 2 for a configuration or
data error (the message names the key, or the file and line), 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import signal
import sys
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from core import heap
from core.clock import WallClock
from core.config import ConfigError, config_hash
from core.errors import BookError
from core.events import BookDelta, TradePrint
from core.ids import base36
from core.instruments import Instrument
from core.log import configure, get_logger
from core.tasks import cancel_and_wait
from exchange.config import ExchangeConfig, data_problems, load_config, time_of_day_ns
from exchange.engine import EngineConfig, MatchingEngine, STPMode
from exchange.health import SymbolHealth, metrics_registry, status, symbol_health
from exchange.paper.upstream import PaperUpstream
from exchange.paper.venue import PaperVenue
from exchange.replay.api import MarketSimulator
from exchange.replay.latency import ConstantLatency
from exchange.service.audit import AuditCorrupt, AuditLog
from exchange.service.checkpoint import (
    Checkpoint,
    CheckpointError,
    queue_key,
    read_checkpoint,
    write_checkpoint,
)
from exchange.service.fix_order_entry import FixOrderEntry
from exchange.service.lockstep import LockstepLeader
from exchange.service.md_publisher import MarketDataPublisher, bound_port
from exchange.service.order_entry import EngineOrderEntry
from exchange.service.pacing import Pacer
from exchange.service.restart import (
    RestartSummary,
    cancel_all_recovered,
    plan_restart,
    restore_simulated,
)
from exchange.service.sim_driver import SimulationDriver
from exchange.service.venue_state import RecoveredVenue, recover_orders
from exchange.service.venues import EngineVenue, OrderVenue, SimulatedVenue

log = get_logger("exchange")


class DataError(Exception):
    """Market data the exchange cannot start from (missing or corrupt file)."""


class _ListenError(Exception):
    """A port the exchange was told to listen on is taken or not allowed."""


@dataclass(frozen=True, slots=True)
class ReadyInfo:
    marketdata_url: str
    marketdata_port: int
    fix_port: int | None
    health_url: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "event": "exchange_ready",
            "marketdata_url": self.marketdata_url,
            "marketdata_port": self.marketdata_port,
            "fix_port": self.fix_port,
            "health_url": self.health_url,
        }


def _load_replays(
    config: ExchangeConfig,
    instruments: dict[str, Instrument],
    engine_config: Callable[[str], EngineConfig],
    md_sink: Callable[[BookDelta | TradePrint], None],
) -> dict[str, MarketSimulator]:
    from exchange.replay import ReplaySimulator, default_impact, load_day
    from gateways.marketdata.lobster import LobsterFormatError

    latency = _order_latency(config)

    sims: dict[str, MarketSimulator] = {}
    for day_cfg in config.source.lobster:
        ins = instruments[day_cfg.symbol]
        try:
            day = load_day(day_cfg.message_path(), ins.tick_size)
        except (LobsterFormatError, FileNotFoundError, OSError) as exc:
            raise DataError(f"source.lobster {day_cfg.symbol}: {exc}") from None
        sim = ReplaySimulator(
            day,
            instrument=ins,
            latency=latency,
            impact=default_impact(config.source.impact, day_cfg.symbol, day=day),
            engine_config=engine_config(ins.symbol),
            market_data=md_sink,
        )
        midnight = day.day.day_start_ns
        sim.reset(midnight + time_of_day_ns(day_cfg.start), midnight + time_of_day_ns(day_cfg.end))
        sims[ins.symbol] = sim
    return sims


def _load_synthetic(
    config: ExchangeConfig,
    instruments: dict[str, Instrument],
    engine_config: Callable[[str], EngineConfig],
    md_sink: Callable[[BookDelta | TradePrint], None],
) -> dict[str, MarketSimulator]:
    from exchange.flow.model import load_params, regime
    from exchange.flow.simulator import DEFAULT_START_NS, SyntheticSimulator

    midnight = DEFAULT_START_NS - time_of_day_ns("09:30:00")
    sims: dict[str, MarketSimulator] = {}
    for flow in config.source.synthetic:
        ins = instruments[flow.symbol]
        try:
            params = load_params(flow.symbol)
        except KeyError as exc:
            raise DataError(f"source.synthetic {flow.symbol}: {exc.args[0]}") from None
        sim = SyntheticSimulator(
            params,
            regime=regime(flow.regime, trend_sign=flow.trend_sign),
            instrument=ins,
            latency=_order_latency(config),
            engine_config=engine_config(ins.symbol),
            market_data=md_sink,
            seed=flow.seed,
        )
        sim.reset(midnight + time_of_day_ns(flow.start), midnight + time_of_day_ns(flow.end))
        sims[ins.symbol] = sim
    return sims


def _order_latency(config: ExchangeConfig) -> ConstantLatency | None:
    """The modelled order-entry latency of a simulated venue (``[pacing] order_latency_us``)."""
    us = config.pacing.order_latency_us
    return ConstantLatency(us * 1000, us * 1000) if us else None


class Exchange:
    """The wired venue; :func:`run` drives it. Exposed for in-process tests."""

    def __init__(self, config: ExchangeConfig) -> None:
        self.config = config
        self.clock = WallClock()
        # ExecIDs must never repeat across restarts (clients de-duplicate fills by
        # ExecID): every id carries this run's start time.
        self.run_id = base36(time.time_ns() // 1_000_000)
        self.instruments = {i.symbol: i.instrument() for i in config.instruments}
        self.pacer = Pacer(self.clock, config.pacing.factor, max_gap_s=config.pacing.max_gap_s)
        # What the venue owed its clients when it last stopped: read before appending.
        try:
            self.recovered: RecoveredVenue = recover_orders(config.audit.path)
        except AuditCorrupt as exc:
            raise DataError(f"audit log: {exc}") from None
        self.state_path = config.restart.state_path or config.audit.path.with_suffix(".state.json")
        self.saved: Checkpoint | None = None
        try:
            self.saved = read_checkpoint(self.state_path)
        except CheckpointError as exc:
            log.warning("exchange_checkpoint_unusable", error=str(exc))
        self.fingerprint = market_fingerprint(config)
        self.restart: RestartSummary | None = None
        self.audit = AuditLog(config.audit.path, clock=self.clock, fsync=config.audit.fsync)
        md = config.marketdata
        self.publisher = MarketDataPublisher(
            self.instruments,
            clock=self.clock,
            queue_limit=md.queue_limit,
            max_batch=md.max_batch,
            heartbeat_s=md.heartbeat_s,
            send_timeout_s=md.send_timeout_s,
        )
        self.entry = EngineOrderEntry(
            self.audit, cancel_on_disconnect=config.fix.cancel_on_disconnect
        )
        self.paper: PaperVenue | None = None
        self.upstream: PaperUpstream | None = None
        self.metrics = metrics_registry(self.symbol_health)
        self.venue: OrderVenue | None = None
        self.lockstep: LockstepLeader | None = None
        self._engines: dict[str, MatchingEngine] = {}
        self.md_republished = 0
        self.source_state = "starting"
        self._live_clock = config.source.kind == "paper" and (
            config.source.paper is not None and config.source.paper.upstream != "recording"
        )

    def engine_config(self, scope: str) -> EngineConfig:
        return EngineConfig(
            price_band_bps=self.config.engine.price_band_bps,
            stp=STPMode(self.config.engine.stp),
            exec_id_prefix=f"{self.run_id}-{scope}-",
        )

    def venue_time(self) -> int:
        """Replays run on event time; a live upstream on the wall clock."""
        if self._live_clock:
            return self.clock.now_ns()
        t = self.pacer.event_now_ns()
        if t is not None:
            return t
        if isinstance(self.venue, SimulatedVenue):
            return self.venue.now_ns  # before the first step: where the market starts
        return self.clock.now_ns()

    def _on_report(self, session: str, report: Any) -> None:
        if self.paper is not None:
            self.paper.on_report(session, report)
        self.entry.on_report(session, report)

    def _on_market_data(self, event: BookDelta | TradePrint) -> None:
        try:
            self.publisher.publish(event)
        except BookError as exc:
            # The publisher's mirror disagrees with the engine: never publish a book
            # we cannot vouch for; resend the engine's whole book instead.
            self.md_republished += 1
            log.error("md_mirror_mismatch", symbol=event.symbol, error=str(exc))
            self.publish_snapshot(event.symbol)

    def publish_snapshot(self, symbol: str) -> None:
        engine = self._engines[symbol]
        snap = engine.snapshot(symbol, ts_ns=self.venue_time())
        self.publisher.publish_snapshot(symbol, snap.bids, snap.asks, snap.ts_ns)

    def build_source(self) -> Callable[[], Coroutine[Any, Any, None]]:
        """Load the market (data files, models) and return the coroutine that runs it."""
        cfg = self.config
        if cfg.source.kind in ("lobster", "synthetic"):
            load = _load_replays if cfg.source.kind == "lobster" else _load_synthetic
            sims = load(cfg, self.instruments, self.engine_config, self._on_market_data)
            venue = SimulatedVenue(
                sims, self._on_report, self.pacer.event_now_ns, id_prefix=f"{self.run_id}-"
            )
            self.venue = venue
            windows = {symbol: (sim.now_ns, sim.end_ns) for symbol, sim in sims.items()}  # type: ignore[attr-defined]
            plan = plan_restart(self.recovered, self.saved, self.fingerprint, windows)
            self.restart = restore_simulated(
                venue,
                self.recovered,
                plan,
                self.saved,
                keep=cfg.restart.resting_orders == "keep",
                run_id=self.run_id,
            )
            for symbol, sim in sims.items():
                self._engines[symbol] = sim.engine
                self.publish_snapshot(symbol)
            self.entry.attach(venue)
            end_ns = max(sim.end_ns for sim in sims.values())  # type: ignore[attr-defined]
            if cfg.pacing.mode == "lockstep":
                self.lockstep = LockstepLeader(
                    venue,
                    self.pacer,
                    lambda: self.publisher.seq,
                    end_ns=end_ns,
                    max_step_s=cfg.pacing.max_step_s,
                    hold=cfg.pacing.hold,
                )
                return self.lockstep.run
            driver = SimulationDriver(venue, self.pacer, end_ns=end_ns, step_s=cfg.pacing.step_s)
            return driver.run
        paper_cfg = cfg.source.paper
        assert paper_cfg is not None
        engine = MatchingEngine(
            self.instruments.values(),
            self._on_report,
            self._on_market_data,
            self.engine_config("P"),
        )
        self._engines = dict.fromkeys(self.instruments, engine)
        if not self.recovered.empty:
            self.restart = cancel_all_recovered(
                [engine],
                self.recovered,
                self._on_report,
                ts_ns=self.clock.now_ns(),
                run_id=self.run_id,
                why="a paper venue's book is the upstream's, which moved on",
            )
        self.paper = PaperVenue(engine, queue_model=paper_cfg.queue_model)
        self.venue = EngineVenue(engine, self.venue_time)
        self.entry.attach(self.venue)
        upstream = PaperUpstream(
            paper_cfg,
            self.paper,
            self.instruments,
            clock=self.clock,
            wait=self.pacer.wait if paper_cfg.upstream == "recording" else None,
        )
        self.upstream = upstream
        return upstream.run

    def checkpoint(self) -> Checkpoint:
        """Where the market has got to and where each resting order queues."""
        venue = self.venue
        event_ns: dict[str, int] = {}
        finished = self.source_state == "finished"
        if isinstance(venue, SimulatedVenue):
            event_ns = {symbol: sim.now_ns for symbol, sim in venue.sims.items()}
            finished = finished or venue.done
        ahead: dict[str, int] = {}
        for engine in set(self._engines.values()):
            for o in engine.open_orders():
                if o.price is not None:
                    book = engine.books[o.symbol]
                    with contextlib.suppress(KeyError):
                        ahead[queue_key(o.session, o.venue_order_id)] = book.ahead_of(
                            o.side, o.price, o.key
                        )
        return Checkpoint(
            source=self.fingerprint,
            event_ns=event_ns,
            finished=finished,
            queue_ahead=ahead,
            audit_records=self.audit.records_written,
        )

    def save_checkpoint(self) -> None:
        try:
            write_checkpoint(self.state_path, self.checkpoint())
        except OSError as exc:
            # Not fatal: the audit log alone still restores every order and fill.
            log.error("exchange_checkpoint_failed", path=str(self.state_path), error=str(exc))

    async def checkpoint_every(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            self.save_checkpoint()

    def halted(self) -> list[str]:
        return sorted(
            {s for e in set(self._engines.values()) for s, b in e.books.items() if b.halted}
        )

    def symbol_health(self) -> list[SymbolHealth]:
        books = self.upstream.books if self.upstream is not None else None
        return symbol_health(
            self.instruments,
            self.halted(),
            books.feeds if books is not None else None,
            books.now_ns if books is not None else 0,
        )

    async def metrics_page(self, _request: web.Request) -> web.Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return web.Response(
            body=generate_latest(self.metrics), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def health(self, _request: web.Request) -> web.Response:
        symbols = self.symbol_health()
        state, problems = status(symbols)
        body = {
            "status": state,
            "problems": problems,
            "source": self.source_state,
            "venue_time_ns": self.venue_time(),
            "marketdata": {
                "clients": self.publisher.stats.clients,
                "events": self.publisher.stats.events,
                "overflows": self.publisher.stats.overflows,
                "seq": dict(self.publisher.seq),
            },
            "order_entry": {
                "requests": self.entry.requests,
                "reports": self.entry.reports,
                "dropped_reports": self.entry.dropped_reports,
            },
            "audit_records": self.audit.records_written,
            "halted": self.halted(),
            "symbols": {s.symbol: s.as_dict() for s in symbols},
            "restart": self.restart.as_log() if self.restart is not None else None,
        }
        if self.lockstep is not None:
            body["lockstep"] = self.lockstep.state()
        return web.json_response(body, dumps=lambda o: orjson.dumps(o).decode())


async def run(
    config: ExchangeConfig,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[ReadyInfo], None] | None = None,
) -> int:
    """Run the exchange until ``stop`` is set (or the source ends with on_end = exit)."""
    stop = stop or asyncio.Event()
    try:
        ex = Exchange(config)
    except (OSError, DataError) as exc:
        log.error("exchange_start_failed", error=str(exc))
        print(f"rlexec exchange: {exc}", file=sys.stderr)
        return 2
    try:
        source = ex.build_source()
    except DataError as exc:
        log.error("exchange_data_error", error=str(exc))
        print(f"rlexec exchange: {exc}", file=sys.stderr)
        ex.audit.close()
        return 2
    md = config.marketdata
    app = web.Application()
    ex.publisher.attach(app, md.path)
    if ex.lockstep is not None:
        app.router.add_get("/clock", ex.lockstep.follow)
        app.router.add_post("/clock", ex.lockstep.control)
    app.router.add_get("/healthz", ex.health)
    app.router.add_get("/metrics", ex.metrics_page)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    fix: FixOrderEntry | None = None
    source_task: asyncio.Task[Any] | None = None
    checkpoints: asyncio.Task[None] | None = None
    rc = 0
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, md.host, md.port).start()
        except OSError as exc:
            raise _ListenError(f"market data cannot listen on {md.host}:{md.port}: {exc}") from None
        md_port = bound_port(runner)
        ex.publisher.start_heartbeats()
        if config.fix.enabled:
            fix = FixOrderEntry(
                config.fix, ex.entry, ex.instruments, clock=ex.clock, venue_time=ex.venue_time
            )
            try:
                await fix.start()
            except OSError as exc:
                fix = None
                raise _ListenError(
                    f"FIX cannot listen on {config.fix.host}:{config.fix.port}: {exc}"
                ) from None
            if ex.lockstep is not None:
                ex.lockstep.attach_fix(fix.acceptor.sessions)
        info = ReadyInfo(
            marketdata_url=f"ws://{md.host}:{md_port}{md.path}",
            marketdata_port=md_port,
            fix_port=fix.port if fix is not None else None,
            health_url=f"http://{md.host}:{md_port}/healthz",
        )
        frozen, gc_ms = heap.freeze_after_start()  # the loaded day: ~100 ms per full GC
        log.info(
            "exchange_ready",
            heap_frozen=frozen,
            freeze_ms=round(gc_ms, 1),
            config_sha256=config_hash(config)[:16],
            marketdata_url=info.marketdata_url,
            fix_port=info.fix_port,
        )
        if on_ready is not None:
            on_ready(info)
        ex.source_state = "running"
        ex.save_checkpoint()
        checkpoints = asyncio.create_task(
            ex.checkpoint_every(config.restart.checkpoint_s), name="exchange-checkpoint"
        )
        source_task = asyncio.create_task(source(), name="exchange-source")
        stop_task = asyncio.create_task(stop.wait(), name="exchange-stop")
        done, _ = await asyncio.wait({source_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
        if source_task in done:
            failure = source_task.exception()
            if failure is not None:
                ex.source_state = "failed"
                log.error("exchange_source_failed", error=repr(failure))
                print(f"rlexec exchange: market source failed: {failure}", file=sys.stderr)
                rc = 2 if isinstance(failure, ValueError) else 1
            else:
                ex.source_state = "finished"
                log.info("exchange_source_finished", on_end=config.source.on_end)
            if rc == 0 and config.source.on_end == "stay":
                await stop_task
        stop_task.cancel()
    except _ListenError as exc:
        log.error("exchange_start_failed", error=str(exc))
        print(f"rlexec exchange: {exc}", file=sys.stderr)
        rc = 2
    finally:
        await cancel_and_wait(source_task, task_errors=False)
        if fix is not None:
            await fix.stop()
        if checkpoints is not None:
            checkpoints.cancel()
            ex.save_checkpoint()
        await ex.publisher.close()
        await runner.cleanup()
        ex.audit.close()
        heap.thaw()
        log.info("exchange_stopped", rc=rc, audit_records=ex.audit.records_written)
    return rc


def market_fingerprint(config: ExchangeConfig) -> str:
    """What a checkpoint belongs to: the instruments and the market source."""
    blob = orjson.dumps(
        {
            "instruments": [i.model_dump(mode="json") for i in config.instruments],
            "source": config.source.model_dump(mode="json"),
        },
        option=orjson.OPT_SORT_KEYS,
    )
    return hashlib.sha256(blob).hexdigest()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlexec exchange", description=__doc__.split("\n")[0])
    parser.add_argument("--config", metavar="FILE", help="TOML config (default: embedded defaults)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        problems = data_problems(config)  # a missing data file: say so before "ready"
        if problems:
            raise ConfigError(args.config or "(embedded defaults)", problems)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure(config.logging.format, config.logging.level)

    def ready(info: ReadyInfo) -> None:
        sys.stdout.write(orjson.dumps(info.as_dict()).decode() + "\n")
        sys.stdout.flush()

    async def _main() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        return await run(config, stop=stop, on_ready=ready)

    return asyncio.run(_main())


if __name__ == "__main__":
    sys.exit(main())
