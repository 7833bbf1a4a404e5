"""``rlexec retrain``: fine-tune a policy from the decisions the daemon recorded.

The learning loop's last step (issue 19 item 5). The recordings (:mod:`signals.recording`)
hold, per decision, the observation the policy acted on, its action and the reward that
followed. They are on-policy data of *one* artifact: its feature layout and its
normalisation made those numbers. So every recorded row must carry the base artifact's
digest; anything else is refused, never trained on silently.

The update is **advantage-weighted regression** (Peng et al. 2019) anchored to the base:

* returns: each parent's rewards summed from the decision on (its own IS increments and
  shaping, as recorded);
* a critic fitted to those returns; advantage = return - critic, scaled to unit spread;
* the policy starts from the base weights and minimises the recorded actions'
  cross-entropy weighted by ``exp(advantage / beta)`` (capped at 20), plus ``kl`` times
  the KL divergence from the base's action distribution on the recorded states.

Why this and not PPO on the recordings: PPO needs the probabilities of the policy that
acted, and the served policy acts by arg-max (no probabilities to ratio against); AWR is
plain weighted supervised learning on logged data, stable on a few thousand rows, and it
reduces to behaviour cloning of the recorded choices (beta -> infinity). The KL anchor
keeps states the recordings never visited where the base had them.

With ``--fine-tune-iterations N`` the AWR step is written to ``<run-dir>/awr`` and PPO
continues from it in the simulator for N iterations: the very ``rlexec train
--init-from`` run (:func:`policies.train.run`), on the base's data split (refused if it
would be another) with the base's reward terms and participation (its manifest's
``training`` section, when it has one), further train options from ``--train-options``.
The recordings' reward (the daemon's plain IS increment) and the simulator's (shaped:
the TWAP control variate, timing-risk and deadline terms) differ: AWR weighs the first,
PPO then optimises the second.

The candidate inherits the base's feature spec, normalisation, action table, data split,
environment and baseline parameters (fine-tuned: the first four kept, the baselines
estimated again on the same training split, as any training run does), so ``rlexec
gate`` backtests it on the very held-out data the base was judged on; the manifest's
``retrain`` section names the recordings, their rows, parents and days, the base's
digest and, fine-tuned, the AWR step's digest and the train command.

Exit status, with or without fine-tuning: 0 candidate written and passed the gate, 1
written but refused by the gate, 2 bad input (one line says what), 3 a gate run that
could not finish.
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from policies.artifact import ArtifactError, load_artifact, save_artifact
from policies.backtest.cli import add_run_options
from policies.learned import LearnedPolicy, load_policy
from policies.network import PolicyNet, ValueNet

# manifest keys save_artifact writes itself, and the base's figures that say nothing of
# the candidate
_NOT_INHERITED = frozenset(
    {
        "format",
        "format_version",
        "network",
        "tensors",
        "features",
        "normalisation",
        "actions",
        "code_version",
        "evaluation",
        "training",
        "retrain",
        "monitoring",  # the base's references describe the base, not the candidate
    }
)
MAX_WEIGHT = 20.0
COMMITTED = Path(__file__).resolve().parent / "artifacts" / "ppo_amzn"


class RetrainRefused(ValueError):
    """Recordings or options that cannot be trained on; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Experience:
    obs: npt.NDArray[np.float32]  # (rows, features): what the base policy saw
    act: npt.NDArray[np.int64]
    ret: npt.NDArray[np.float32]  # the parent's reward from this decision on
    parents: int
    days: list[str]

    @property
    def rows(self) -> int:
        return int(self.act.shape[0])


def load_experience(
    root: str | Path, base: LearnedPolicy, days: Sequence[str] | None = None
) -> Experience:
    """The recorded decisions of ``base``, checked row by row; RetrainRefused if any row is
    not ``base``'s or does not fit its layout."""
    from signals.recording import RecordingError, read_decisions, recorded_days

    try:
        chosen = list(days) if days else recorded_days(root)
        table = read_decisions(root, chosen)
    except RecordingError as exc:
        raise RetrainRefused(f"recordings {root}: {exc}") from None
    if table.num_rows == 0:
        raise RetrainRefused(f"recordings {root}: no decisions recorded (days {chosen or 'none'})")
    digest = base.artifact.digest
    seen = Counter(table.column("policy_digest").to_pylist())
    foreign = {d: n for d, n in seen.items() if d != digest}
    if foreign:
        listed = ", ".join(f"{d[:12]} ({n} rows)" for d, n in sorted(foreign.items()))
        raise RetrainRefused(
            f"recordings {root}: {sum(foreign.values())} of {table.num_rows} decisions were made "
            f"by other policies ({listed}), not the base {base.artifact.path} ({digest[:12]}): "
            "their observations may have another feature layout or normalisation; retrain "
            "each from the recordings of its own artifact (--base, --days)"
        )
    n_features = len(base.artifact.feature_spec.names)
    n_actions = base.spec.n
    lengths = np.asarray(table.column("observation").combine_chunks().value_lengths())
    if (lengths != n_features).any():
        bad = sorted(set(lengths[lengths != n_features].tolist()))
        raise RetrainRefused(
            f"recordings {root}: {(lengths != n_features).sum()} observations hold {bad} "
            f"values, the base's feature layout has {n_features}"
        )
    flat = table.column("observation").combine_chunks().flatten()
    obs = np.array(flat.to_numpy(zero_copy_only=False), dtype=np.float32).reshape(-1, n_features)
    finite = np.isfinite(obs).all(axis=1)
    act = np.asarray(table.column("action").to_numpy(), dtype=np.int64)
    reward = np.asarray(table.column("reward").to_numpy(), dtype=np.float64)
    problems = []
    if not finite.all():
        problems.append(f"{(~finite).sum()} observations with NaN or infinite values")
    if ((act < 0) | (act >= n_actions)).any():
        problems.append(f"actions outside the base's table of {n_actions}")
    if not np.isfinite(reward).all():
        problems.append(f"{(~np.isfinite(reward)).sum()} non-finite rewards")
    if problems:
        raise RetrainRefused(f"recordings {root}: " + "; ".join(problems))
    names, parent = np.unique(
        np.asarray(table.column("parent_id").to_pylist()), return_inverse=True
    )
    decision = np.asarray(table.column("decision").to_numpy(), dtype=np.int64)
    order = np.lexsort((decision, parent))
    p_sorted, d_sorted = parent[order], decision[order]
    same_parent = p_sorted[1:] == p_sorted[:-1]
    if (same_parent & (d_sorted[1:] == d_sorted[:-1])).any():
        raise RetrainRefused(f"recordings {root}: a parent's decision is recorded twice")
    ret = np.empty(len(order), dtype=np.float64)
    acc = 0.0
    for j in range(len(order) - 1, -1, -1):  # each parent's rewards, summed backwards
        if j == len(order) - 1 or not same_parent[j]:
            acc = 0.0
        acc += reward[order[j]]
        ret[order[j]] = acc
    return Experience(obs, act, ret.astype(np.float32), len(names), chosen)


def advantage_weighted(
    base: PolicyNet,
    exp: Experience,
    *,
    epochs: int,
    beta: float,
    kl: float,
    seed: int,
    lr: float = 3e-4,
    minibatch: int = 256,
) -> tuple[PolicyNet, dict[str, Any]]:
    """The candidate network (the base's, fine-tuned) and the fit's figures."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x = torch.from_numpy(exp.obs)
    y = torch.from_numpy(exp.act)
    ret = torch.from_numpy(exp.ret)
    scale = float(ret.std()) or 1.0
    target = (ret - ret.mean()) / scale
    vf = ValueNet(x.shape[1])
    opt_v = torch.optim.Adam(vf.parameters(), lr=1e-3)
    n = exp.rows
    for _ in range(epochs):
        perm = rng.permutation(n)
        for s in range(0, n, minibatch):
            idx = torch.from_numpy(perm[s : s + minibatch])
            loss_v = ((vf(x[idx]) - target[idx]) ** 2).mean()
            opt_v.zero_grad(set_to_none=True)
            loss_v.backward()
            opt_v.step()
    with torch.no_grad():
        adv = target - vf(x)
        adv = adv / (adv.std() + 1e-8)
        weight = torch.clamp(torch.exp(adv / beta), max=MAX_WEIGHT)
        base_logp = torch.log_softmax(base(x), -1)
    pi = copy.deepcopy(base)
    pi.train()
    opt = torch.optim.Adam(pi.parameters(), lr=lr)
    ce = nn.CrossEntropyLoss(reduction="none")
    for _ in range(epochs):
        perm = rng.permutation(n)
        for s in range(0, n, minibatch):
            idx = torch.from_numpy(perm[s : s + minibatch])
            logits = pi(x[idx])
            logp = torch.log_softmax(logits, -1)
            anchor = (base_logp[idx].exp() * (base_logp[idx] - logp)).sum(-1).mean()
            loss = (weight[idx] * ce(logits, y[idx])).mean() + kl * anchor
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    pi.eval()
    with torch.no_grad():
        before = base(x).argmax(-1)
        after = pi(x).argmax(-1)
    figures = {
        "rows": n,
        "parents": exp.parents,
        "epochs": epochs,
        "beta": beta,
        "kl": kl,
        "lr": lr,
        "seed": seed,
        "mean_return": float(ret.mean()),
        "recorded_actions": np.bincount(exp.act).tolist(),
        "agreement_base": float((before == y).float().mean()),
        "agreement_candidate": float((after == y).float().mean()),
        "changed_decisions": float((after != before).float().mean()),
        "weight_mean": float(weight.mean()),
        "weight_max": float(weight.max()),
    }
    return pi, figures


def write_candidate(
    out: Path, base: LearnedPolicy, net: PolicyNet, figures: dict[str, Any], extra: dict[str, Any]
) -> str:
    art = base.artifact
    inherited = {k: v for k, v in art.manifest.items() if k not in _NOT_INHERITED}
    return save_artifact(
        out,
        net,
        feature_spec=art.feature_spec,
        normaliser=art.normaliser,
        action_spec=art.action_spec,
        extra={
            **inherited,
            "name": extra.pop("name"),
            "algo": "awr",
            "retrain": {
                "base": {"path": str(art.path), "digest": art.digest, "name": base.name},
                **extra,
                "fit": figures,
            },
        },
    )


def build_parser() -> argparse.ArgumentParser:
    from core.helptext import DefaultsHelpFormatter

    ap = argparse.ArgumentParser(
        prog="rlexec retrain",
        description="Fine-tune a policy from recorded decisions (advantage-weighted "
        "regression), write the candidate artifact and run the promotion gate on it "
        "(docs/policies.md, 'Retraining from recordings').",
        formatter_class=DefaultsHelpFormatter,
    )
    ap.add_argument("--from", dest="recordings", required=True, metavar="RECORDINGS",
                    help="the recorder's folder (day=YYYY-MM-DD/part-*.parquet)")  # fmt: skip
    ap.add_argument("--base", default=None, metavar="ARTIFACT",
                    help="the artifact that made the decisions (default: the committed policy)")  # fmt: skip
    ap.add_argument("--out", required=True, metavar="CANDIDATE", help="candidate artifact folder")
    ap.add_argument("--days", nargs="*", default=None, help="recorded days to use (default all)")
    ap.add_argument("--name", default=None, help="candidate name (default <base>_retrained)")
    ap.add_argument("--epochs", type=int, default=20, help="passes over the recordings")
    ap.add_argument("--beta", type=float, default=1.0, help="AWR temperature (advantages in sd)")
    ap.add_argument("--kl", type=float, default=0.1, help="weight of the KL anchor to the base")
    ap.add_argument("--train-seed", type=int, default=7, help="seed of the fit")
    ap.add_argument("--no-gate", action="store_true", help="write the candidate only")
    ap.add_argument("--fine-tune-iterations", type=int, default=0, metavar="N",
                    help="then N PPO iterations in the simulator from the AWR step (rlexec "
                    "train --init-from; 0: none)")  # fmt: skip
    ap.add_argument("--train-options", default="", metavar="'OPTIONS'",
                    help="more rlexec train options for the fine-tuning, written with '=': "
                    "--train-options='--envs 8 --max-minutes 20' (default: none; data, "
                    "features and reward from the base)")  # fmt: skip
    ap.add_argument("--run-dir", default=None,
                    help="fine-tuning's metrics, checkpoints and AWR step (default "
                    "var/runs/<candidate folder name>)")  # fmt: skip
    ap.add_argument("--orders", type=int, default=300, help="gate: parent orders per group")
    ap.add_argument("--min-orders", type=int, default=30, help="gate: fewest orders a cell may hold")  # fmt: skip
    ap.add_argument("--report", default=None, help="gate report folder (default var/gate/<name>)")
    add_run_options(ap, "var/backtest/gate.sqlite")
    return ap


def _gate_args(args: argparse.Namespace, candidate: Path) -> list[str]:
    out = [
        str(candidate),
        "--orders", str(args.orders),
        "--min-orders", str(args.min_orders),
        "--seed", str(args.seed),
        "--cache", str(args.cache),
        "--workers", str(args.workers),
        "--bootstrap", str(args.bootstrap),
        "--progress" if args.progress else "--no-progress",
    ]  # fmt: skip
    if args.no_plots:
        out.append("--no-plots")
    if args.report:
        out += ["--out", str(args.report)]
    return out


# what retrain sets in the fine-tuning run itself, so --train-options may not
_SET_BY_RETRAIN = {
    "init_from": "the AWR step",
    "out": "--out",
    "run_dir": "--run-dir",
    "iterations": "--fine-tune-iterations",
    "seed": "--train-seed",
}


def _option(flag: str, value: object) -> list[str]:
    return [flag, str(value)]


def fine_tune_options(manifest: dict[str, Any]) -> list[str]:
    """``rlexec train`` options reproducing the base's data split, features, participation
    and reward terms (its training section, when it has one), from its manifest."""
    from policies.data import repo_data

    data = manifest.get("data", {})
    opts: list[str] = []
    if "fold" in data:
        opts += _option("--fold", data["fold"]["name"])
    else:
        hours = data.get("hours", {})
        for part in ("train", "val", "test"):
            if part in hours:
                opts += _option(f"--{part}-hours", hours[part])
        recorded = [e["name"] for e in data.get("train", []) if "file" in e]
        unseen = [e["name"] for e in data.get("test", []) if "file" in e]
        unseen = [n for n in unseen if n not in recorded]
        regimes = sorted({e["name"].rsplit("_", 1)[-1] for e in data.get("train", []) if "file" not in e})  # fmt: skip
        if recorded:
            opts += ["--train-data", *(str(repo_data() / n) for n in recorded)]
        opts += ["--unseen-data", *(str(repo_data() / n) for n in unseen)]
        if regimes:
            opts += ["--synthetic", *regimes]
    features = manifest.get("features", {})
    if "decision_interval_s" in features:
        opts += _option("--decision-interval", features["decision_interval_s"])
    if features.get("signal"):
        opts.append("--signal")
    lo, hi = manifest.get("env", {}).get("participation", (None, None))
    if lo is not None:
        opts += _option("--participation", f"{lo}-{hi}")
    trained = manifest.get("training", {}).get("env", {})
    if "risk_aversion" in trained:
        opts += _option("--risk-aversion", trained["risk_aversion"])
    if "deadline_penalty_bps" in trained:
        opts += _option("--deadline-penalty", trained["deadline_penalty_bps"])
    if "impact_scale" in trained:
        opts += _option("--impact-scale", "-".join(str(x) for x in trained["impact_scale"]))
    if "reward_baseline" in trained and trained["reward_baseline"] is None:
        opts.append("--absolute-reward")
    return [*opts, "--test-episodes", "0"]  # the gate judges it on the test split next


def fine_tune_run(
    args: argparse.Namespace, base: LearnedPolicy, awr_dir: Path, run_dir: Path
) -> tuple[argparse.Namespace, list[str]]:
    """The fine-tuning run's parsed options and its command line, checked before any
    fitting: a base whose layout ``rlexec train`` does not build is refused here."""
    from policies.init_from import layout_differences
    from policies.train import build_parser as train_parser
    from policies.train import check_options, load_split, run_layout

    parser = train_parser()
    parser.prog = "rlexec retrain --train-options"
    own = shlex.split(args.train_options)
    given, defaults = parser.parse_args(own), parser.parse_args([])
    taken = [f"--{k.replace('_', '-')} (retrain sets it: {how})"
             for k, how in _SET_BY_RETRAIN.items() if getattr(given, k) != getattr(defaults, k)]  # fmt: skip
    if taken:
        raise RetrainRefused(f"--train-options may not set {', '.join(taken)}")
    argv = [
        *fine_tune_options(base.artifact.manifest), *own,
        "--init-from", str(awr_dir), "--out", args.out, "--run-dir", str(run_dir),
        "--iterations", str(args.fine_tune_iterations), "--seed", str(args.train_seed),
        *([] if args.progress else ["--no-progress"]),
    ]  # fmt: skip
    targs = parser.parse_args(argv)
    check_options(targs)
    fspec, aspec = run_layout(targs)
    art = base.artifact
    diffs = layout_differences(art.feature_spec, art.action_spec, fspec, aspec)
    if diffs:
        raise RetrainRefused(
            f"--fine-tune-iterations: the base {art.path} has {'; '.join(diffs)}; rlexec "
            "train builds the latter, so it cannot fine-tune this base (the AWR step alone "
            "runs without --fine-tune-iterations)"
        )
    load_split(targs, base.artifact.manifest.get("data"))  # the base's, or refused now
    return targs, argv


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.log import configure
    from policies.train import USER_ERRORS
    from policies.train import run as train

    configure(level="ERROR")
    try:
        if args.epochs < 1 or not args.beta > 0 or args.kl < 0 or args.fine_tune_iterations < 0:
            raise RetrainRefused(
                "--epochs >= 1, --beta > 0, --kl >= 0, --fine-tune-iterations >= 0"
            )
        base_dir = Path(args.base) if args.base else COMMITTED
        out = Path(args.out)
        if out.resolve() == base_dir.resolve():
            raise RetrainRefused("--out is the base artifact itself; write the candidate elsewhere")
        base = load_policy(base_dir)
        run_dir = Path(args.run_dir or Path("var/runs") / out.name)
        awr_dir = run_dir / "awr"
        fine_tune = (
            fine_tune_run(args, base, awr_dir, run_dir) if args.fine_tune_iterations else None
        )
        exp = load_experience(args.recordings, base, args.days)
        torch.set_num_threads(1)
        net, figures = advantage_weighted(
            base.artifact.net, exp, epochs=args.epochs, beta=args.beta, kl=args.kl,
            seed=args.train_seed,
        )  # fmt: skip
        name = args.name or f"{base.name}_retrained"
        extra = {"name": name, "recordings": str(args.recordings), "days": exp.days}
        if fine_tune is None:
            digest = write_candidate(out, base, net, figures, extra)
        else:
            targs, train_argv = fine_tune
            awr = write_candidate(awr_dir, base, net, figures, {**extra, "name": f"{name}_awr"})
            retrain = load_artifact(awr_dir, awr).manifest["retrain"]
            provenance = {
                "name": name,
                "algo": "awr+ppo",
                "retrain": {
                    **retrain,
                    "awr_step": {"path": str(awr_dir), "digest": awr},
                    "fine_tune": {"iterations": args.fine_tune_iterations, "command": train_argv},
                },
            }
            expect = base.artifact.manifest.get("data")
            digest = train(targs, train_argv, expect_data=expect, provenance=provenance).digest
    except (RetrainRefused, ArtifactError, OSError, *USER_ERRORS) as exc:
        print(f"rlexec retrain: {exc}", file=sys.stderr)
        return 2
    print(
        f"candidate {out} ({name}), digest {digest}: {exp.rows} decisions of {exp.parents} "
        f"parents over {len(exp.days)} day(s); {figures['changed_decisions']:.1%} of the "
        f"recorded decisions now go another way (agreement with the recorded actions "
        f"{figures['agreement_base']:.1%} -> {figures['agreement_candidate']:.1%})"
        + (f"; then {args.fine_tune_iterations} PPO iterations from {awr_dir}" if fine_tune else "")
    )
    if args.no_gate:
        print("not gated (--no-gate): run `rlexec gate` on it before promoting")
        return 0
    from policies.backtest.gate_cli import main as gate

    status = gate(_gate_args(args, out))
    if status == 1:
        print(f"the gate refused {name}: keep the base; the candidate stays at {out}")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
