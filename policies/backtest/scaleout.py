"""Where the jobs run: this process, local worker processes (the default), or Ray.

All three take the same picklable :class:`~policies.backtest.episodes.Job` objects and
run the same :func:`~policies.backtest.episodes.run_job`; results come back as jobs
finish, in any order, and the coordinator files them by (policy, order), so the report
is the same bit for bit whatever ran where (tested against a local Ray instance).

Ray (``--ray auto`` for the cluster this machine belongs to, ``--ray HOST:PORT`` for
another, ``--ray local`` for a private instance on this machine): every node needs this
package installed (the same version) and the data folders at the same paths; see
docs/policies.md, "Backtest on a cluster".
"""

from __future__ import annotations

import multiprocessing as mp
import os
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from policies.backtest.episodes import Job, run_job
from policies.backtest.errors import MissingDependency


@dataclass(frozen=True, slots=True)
class JobFailure:
    """A job that raised where it ran: what, and the worker's traceback."""

    error: str
    traceback: str


Result = list[tuple[int, dict[str, Any]]] | JobFailure


def run_guarded(job: Job) -> Result:
    """:func:`run_job`, with an exception brought back as data (the coordinator names the
    job and stops; a pool would only re-raise it without saying which job it was)."""
    try:
        return run_job(job)
    except Exception as exc:
        return JobFailure(f"{type(exc).__name__}: {exc}", traceback.format_exc())


class Executor(Protocol):
    name: str

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        """Yield (job number, its result) as each job finishes."""
        ...

    def close(self) -> None: ...


class InProcess:
    name = "in-process"

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        for k, job in enumerate(jobs):
            yield k, run_guarded(job)

    def close(self) -> None:
        return None


def _numbered(item: tuple[int, Job]) -> tuple[int, Result]:
    return item[0], run_guarded(item[1])


def _worker_init() -> None:
    """One thread per worker (the processes are the parallelism). Stopping is the
    coordinator's job: a Ctrl-C reaches the whole process group, and the coordinator's
    SIGTERM handler would otherwise be inherited, so workers ignore SIGINT and die
    quietly on the SIGTERM the pool's terminate sends."""
    import signal

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    torch.set_num_threads(1)


class LocalProcesses:
    """Forked worker processes: each keeps what it loads for all its jobs. The pool is
    forked when the first jobs arrive, after the coordinator has loaded the days to
    draw the orders, so the workers start with them in memory (shared, copy-on-write)."""

    def __init__(self, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"need at least one worker, got {workers}")
        self.workers = workers
        self.name = f"{workers} local processes"
        self._pool: Any = None

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        if self._pool is None:
            method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
            self._pool = mp.get_context(method).Pool(self.workers, initializer=_worker_init)
        yield from self._pool.imap_unordered(_numbered, list(enumerate(jobs)), chunksize=1)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None


class RayCluster:
    """Jobs as Ray tasks (one CPU each) on a cluster, or on a private local instance."""

    @staticmethod
    def check_installed() -> None:
        try:
            import ray  # noqa: F401
        except ImportError as exc:
            raise MissingDependency(
                "--ray needs the Ray package: pip install 'rlexec[ray]'"
            ) from exc

    def __init__(self, address: str, workers: int | None = None) -> None:
        self.check_installed()
        import ray as ray_module

        ray: Any = ray_module
        self._ray = ray
        self._started = False
        # workers hash strings the same way as each other (set iteration order)
        env = {"env_vars": {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}}
        if not ray.is_initialized():
            if address == "local":
                ray.init(
                    num_cpus=workers or os.cpu_count() or 1,
                    include_dashboard=False,
                    log_to_driver=False,
                    runtime_env=env,
                )
            else:
                ray.init(address=address, log_to_driver=False, runtime_env=env)
            self._started = True
        self.name = f"ray ({address}, {int(ray.cluster_resources().get('CPU', 0))} CPUs)"
        self._task = ray.remote(num_cpus=1)(run_guarded)

    def run(self, jobs: Sequence[Job]) -> Iterator[tuple[int, Result]]:
        ray = self._ray
        pending = {self._task.remote(job): k for k, job in enumerate(jobs)}
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                k = pending.pop(ref)
                yield k, ray.get(ref)

    def close(self) -> None:
        if self._started:
            self._ray.shutdown()


def make_executor(workers: int, ray_address: str | None) -> Executor:
    if ray_address:
        return RayCluster(ray_address, workers)
    if workers <= 1:
        return InProcess()
    return LocalProcesses(workers)
