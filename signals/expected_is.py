"""The expected-shortfall table from a backtest: ``rlexec backtest``'s orders.csv, each
order labelled with the regime the regime model saw at its arrival.

    python -m signals.expected_is var/backtest/heldout/orders.csv --policy ppo_amzn \\
        --out var/backtest/heldout/expected_is.json

Size is the order's ``size_frac`` (its quantity over the volume the window trades in its
horizon at the average rate); the buckets' edges are the training convention below.
The regime is the label of the last 10-second state sample at or before the order's
start, from a replay of the order's LOBSTER day (found by ticker, date and levels in
the group name); an order on a day that is not shipped gets no regime (``*``). The JSON
is what the policy artifact stores (``ExpectedShortfall.to_json``).
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from exchange.data import SHIPPED_DATA
from signals.data import DaySplit, SignalDataError
from signals.dataset import DaySamples, replay_day
from signals.monitoring import ALL, ExpectedShortfall, MonitoringError
from signals.regime import RegimeModel
from signals.train import ARTIFACTS, CALIBRATION_S, REGIME_DIR, STATE_WARM_S

SIZE_EDGES = (0.05, 0.1, 0.15)  # size_frac: up to 5 %, 10 %, 15 %, above
_GROUP = re.compile(r"^([A-Z0-9.]+) (\d{4}-\d{2}-\d{2}) L(\d+)\b")
RegimeAt = Callable[[str, int], str]


def orders(path: Path, policy: str) -> Iterator[dict[str, str]]:
    """The rows of ``policy`` in a backtest's orders.csv."""
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            missing = {"group", "policy", "start_ns", "size_frac", "is_bps"} - set(reader.fieldnames or ())  # fmt: skip
            if missing:
                raise MonitoringError(f"{path}: not a backtest orders.csv (no {', '.join(sorted(missing))})")  # fmt: skip
            yield from (row for row in reader if row["policy"] == policy)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise MonitoringError(f"{path}: {exc}") from None


def regime_from_replay(model: RegimeModel, data_root: Path = SHIPPED_DATA) -> RegimeAt:
    """A labeller replaying each order's day once (cached), or ``*`` if not shipped.

    Each day is labelled on its own ticker's scale: the model's statistics for it, or
    for a ticker it has none of, statistics estimated from that day's first hour of
    states (``RegimeModel.with_ticker``)."""
    days: dict[str, DaySamples | None] = {}
    bound: dict[str, RegimeModel] = {}

    def at(group: str, start_ns: int) -> str:
        m = _GROUP.match(group)
        if m is None:
            return ALL
        folder = data_root / "lobster" / f"{m[1]}_{m[2]}_{m[3]}"
        key = str(folder)
        if key not in days:
            try:
                days[key] = replay_day(DaySplit(folder).message_file.resolve())
            except SignalDataError:
                days[key] = None
        s = days[key]
        if s is None:
            return ALL
        tod = (start_ns - s.day_start_ns) / 1e9
        i = int(np.searchsorted(s.state_tod, tod, side="right")) - 1
        if i < 0:
            return ALL
        labeller = bound.get(key)
        if labeller is None:
            labeller = bound[key] = _bind(model, s)
        return labeller.label(s.regime_x[i : i + 1])[0].value

    return at


def _bind(model: RegimeModel, s: DaySamples) -> RegimeModel:
    if s.ticker in model.ticker_stats:
        return model.for_ticker(s.ticker)
    warm = s.state_tod >= s.state_tod[0] + STATE_WARM_S
    first = s.state_tod[warm][0]
    return model.with_ticker(s.ticker, s.regime_x[warm & (s.state_tod < first + CALIBRATION_S)])


def build(path: Path, policy: str, regime_at: RegimeAt, min_n: int = 20) -> ExpectedShortfall:
    rows = []
    for row in orders(path, policy):
        try:
            size, start, is_bps = float(row["size_frac"]), int(row["start_ns"]), float(row["is_bps"])  # fmt: skip
        except ValueError:
            raise MonitoringError(f"{path}: a row of {policy} has a bad number: {row}") from None
        rows.append((size, regime_at(row["group"], start), is_bps))
    if not rows:
        raise MonitoringError(f"{path}: no orders of policy {policy!r}")
    return ExpectedShortfall.fit(rows, SIZE_EDGES, min_n=min_n)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m signals.expected_is", description=__doc__.split("\n")[0])  # fmt: skip
    ap.add_argument("orders", type=Path, help="a backtest's orders.csv")
    ap.add_argument("--policy", required=True, help="the policy column to use (e.g. ppo_amzn)")
    ap.add_argument("--regime", type=Path, default=ARTIFACTS / REGIME_DIR, help="regime model artifact")  # fmt: skip
    ap.add_argument("--out", type=Path, help="write the table here (default: print it)")
    args = ap.parse_args(argv)
    try:
        table = build(args.orders, args.policy, regime_from_replay(RegimeModel.load(args.regime)))
    except (MonitoringError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = json.dumps(table.to_json(), indent=1, allow_nan=False) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
