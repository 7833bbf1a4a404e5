"""Fit the signal, volatility and regime models on the training hours; judge them on
the test hours; write the three artifacts with the figures in their manifests.

    python -m signals.train --out signals/artifacts            # the committed artifacts
    python -m signals.train --out var/signals --horizon 2      # another horizon

Every figure is out of sample: the models see only the split's training windows
(the signal's number of trees is picked on the validation windows), and are scored on
the test windows of each ticker-day (AAPL, never trained on, is test only).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.pinned_dir import sha256_file
from signals.data import DaySplit, SignalDataError, default_splits
from signals.dataset import STATE_STEP_S, DaySamples, in_windows, samples_for
from signals.evaluation import LinearOfi, score
from signals.regime import REGIMES, RegimeModel
from signals.short_horizon import DEFAULT_HORIZON_S, SignalModel, move_target, past_move
from signals.volatility import HORIZON_S, VolatilityModel, har_design, next_minute_rv

F64 = npt.NDArray[np.float64]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SIGNAL_DIR, VOLATILITY_DIR, REGIME_DIR = "short_horizon", "volatility", "regime"


def data_manifest(splits: tuple[DaySplit, ...]) -> dict[str, Any]:
    """Which files, which hours: stored with every model."""
    return {
        "data": [{**s.describe(), "sha256": sha256_file(s.message_file)} for s in splits],
    }


def _rows(samples: DaySamples, split: DaySplit, part: str, horizon_s: float, y: F64) -> npt.NDArray[np.bool_]:  # fmt: skip
    return in_windows(samples.signal_tod, split.windows(part), horizon_s) & np.isfinite(y)


def fit_signal(splits: tuple[DaySplit, ...], horizon_s: float, seed: int = 0) -> tuple[SignalModel, dict[str, Any]]:  # fmt: skip
    """The signal fitted on every training window, and its out-of-sample scores."""
    parts: dict[str, list[tuple[F64, F64]]] = {"train": [], "validation": []}
    for split in splits:
        s = samples_for(split)
        y = move_target(s, horizon_s)
        for part, found in parts.items():
            rows = _rows(s, split, part, horizon_s, y)
            if rows.any():
                found.append((s.signal_x[rows], y[rows]))
    if not parts["train"] or not parts["validation"]:
        raise SignalDataError("the split has no training or no validation hours")
    xt, yt = (np.concatenate(a) for a in zip(*parts["train"], strict=True))
    xv, yv = (np.concatenate(a) for a in zip(*parts["validation"], strict=True))
    model = SignalModel.fit(xt, yt, xv, yv, horizon_s=horizon_s, seed=seed)
    ofi = LinearOfi.fit(xt, yt)
    report: dict[str, Any] = {}
    for split in splits:
        s = samples_for(split)
        y = move_target(s, horizon_s)
        rows = _rows(s, split, "test", horizon_s, y)
        if not rows.any():
            continue
        x, yy = s.signal_x[rows], y[rows]
        report[split.folder.name] = {
            "model": score(model.predict(x), yy).as_dict(),
            "linear_ofi": score(ofi.predict(x), yy).as_dict(),
            "persistence": score(past_move(s, horizon_s)[rows], yy).as_dict(),
        }
    manifest = {**model.manifest, "seed": seed, "n_train": int(yt.shape[0]),
                "n_validation": int(yv.shape[0]), "test": report,
                "linear_ofi_coef": ofi.coef.tolist()}  # fmt: skip
    return SignalModel(model.trees, horizon_s, manifest), report


STATE_WARM_S = 1500  # state samples start 5 min after the open: skip 25 more (30 min of history)


def state_rows(s: DaySamples, split: DaySplit, part: str) -> npt.NDArray[np.bool_]:
    # a 30-minute window of history must lie inside the day: skip the first half hour
    warm = s.state_tod >= s.state_tod[0] + STATE_WARM_S
    out: npt.NDArray[np.bool_] = in_windows(s.state_tod, split.windows(part), HORIZON_S) & warm
    return out


def fit_volatility(splits: tuple[DaySplit, ...]) -> tuple[VolatilityModel, dict[str, Any]]:
    """HAR on the training hours; out of sample against the naive forecast (the last
    minute again), in mean squared error of log variance and in QLIKE."""
    xs, ys = [], []
    for split in splits:
        s = samples_for(split)
        rv_next = next_minute_rv(s.second_mid, s.first_second, s.state_tod)
        rows = state_rows(s, split, "train") & np.isfinite(rv_next)
        xs.append(s.har_x[rows])
        ys.append(rv_next[rows])
    x, y = np.concatenate(xs), np.concatenate(ys)
    if x.shape[0] < 50:
        raise SignalDataError("fewer than 50 training minutes for the volatility model")
    model = VolatilityModel.fit(x, y)
    report: dict[str, Any] = {}
    for split in splits:
        s = samples_for(split)
        rv_next = next_minute_rv(s.second_mid, s.first_second, s.state_tod)
        rows = state_rows(s, split, "test") & np.isfinite(rv_next)
        if not rows.any():
            continue
        report[split.folder.name] = volatility_scores(model, s.har_x[rows], rv_next[rows])
    manifest = {"n_train": int(x.shape[0]), "step_s": STATE_STEP_S, "test": report}
    return VolatilityModel(model.coef, model.resid_var, manifest), report


def volatility_scores(model: VolatilityModel, har_x: F64, rv_next: F64) -> dict[str, float]:
    """MSE of log variance and QLIKE loss, HAR against naive, and the improvement."""
    actual_log = har_design(rv_next[:, None])[:, 1]
    naive_log = har_design(har_x[:, :1])[:, 1]
    har_log = model.forecast_log(har_x)
    floor = 1e-2

    def qlike(fc: F64) -> float:
        ratio = (rv_next + floor) / (fc + floor)
        return float((ratio - np.log(ratio) - 1).mean())

    mse_har = float(((har_log - actual_log) ** 2).mean())
    mse_naive = float(((naive_log - actual_log) ** 2).mean())
    q_har, q_naive = qlike(model.forecast(har_x)), qlike(har_x[:, 0])
    return {"n": int(rv_next.shape[0]), "mse_log_har": mse_har, "mse_log_naive": mse_naive,
            "mse_log_improvement": 1 - mse_har / mse_naive,
            "qlike_har": q_har, "qlike_naive": q_naive}  # fmt: skip


CALIBRATION_S = 3600  # a ticker never trained on: its statistics from its first hour


def fit_regime(splits: tuple[DaySplit, ...], seed: int = 0) -> tuple[RegimeModel, dict[str, Any]]:
    """The mixture on the training hours, each ticker standardised with its own statistics;
    the share of each regime on the test hours. A ticker with no training hours (AAPL) is
    labelled with statistics estimated from its own first test hour, and its shares are
    counted on the rest; the shares it would get from the training ticker's statistics
    (what the model did before per-ticker scaling) are reported next to them."""
    by_ticker: dict[str, list[F64]] = {}
    for sp in splits:
        s = samples_for(sp)
        rows = state_rows(s, sp, "train")
        if rows.any():
            by_ticker.setdefault(s.ticker, []).append(s.regime_x[rows])
    model = RegimeModel.fit({t: np.concatenate(xs) for t, xs in by_ticker.items()}, seed=seed)
    report: dict[str, Any] = {}
    borrowed: dict[str, Any] = {}
    for split in splits:
        s = samples_for(split)
        rows = state_rows(s, split, "test")
        if not rows.any():
            continue
        if s.ticker in model.ticker_stats:
            bound = model.for_ticker(s.ticker)
            how = "its training hours"
        else:
            first = s.state_tod[rows][0]
            calib = rows & (s.state_tod < first + CALIBRATION_S)
            rows = rows & ~calib
            bound = model.with_ticker(s.ticker, s.regime_x[calib])
            how = f"its own first hour of test states ({int(calib.sum())} states), not counted"
            for t in model.tickers:  # the old behaviour: another ticker's statistics
                other = model.for_ticker(t).label(s.regime_x[rows])
                borrowed[f"{split.folder.name} with {t}'s statistics"] = {
                    r.value: other.count(r) / len(other) for r in REGIMES
                }
        labels = bound.label(s.regime_x[rows])
        report[split.folder.name] = {
            **{r.value: labels.count(r) / len(labels) for r in REGIMES},
            "states": len(labels),
            "statistics_from": how,
        }
    ref = model.tickers[0]
    center, scale = model.ticker_stats[ref]
    means = center + model.means * scale
    manifest = {"n_train": {t: int(sum(len(x) for x in xs)) for t, xs in by_ticker.items()},
                "seed": seed, "test_regime_share": report,
                "test_regime_share_borrowed_statistics": borrowed,
                "component_means": {f"{n.value} ({ref} units)": means[c].tolist()
                                    for c, n in enumerate(model.names)}}  # fmt: skip
    return replace(model, manifest=manifest), {**report, **borrowed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m signals.train", description=__doc__.split("\n")[0])  # fmt: skip
    ap.add_argument("--out", type=Path, default=ARTIFACTS, help="folder for the three artifacts")
    ap.add_argument("--horizon", type=float, default=DEFAULT_HORIZON_S, help="signal horizon, s")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    splits = default_splits()
    try:
        data = data_manifest(splits)
        sig, sig_report = fit_signal(splits, args.horizon, args.seed)
        vol, vol_report = fit_volatility(splits)
        reg, reg_report = fit_regime(splits, args.seed)
    except SignalDataError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    digests = {}
    for name, model in ((SIGNAL_DIR, sig), (VOLATILITY_DIR, vol), (REGIME_DIR, reg)):
        model.manifest.update(data)
        digests[name] = model.save(args.out / name)
    print(json.dumps({"digests": digests, "signal": sig_report, "volatility": vol_report,
                      "regime": reg_report}, indent=2))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
