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
keeps states the recordings never visited where the base had them. Simulator fine-tuning
(PPO from the candidate's weights) is ``rlexec train``'s job and is not chained here.

The candidate inherits the base's feature spec, normalisation, action table, data split,
environment and baseline parameters, so ``rlexec gate`` backtests it on the very held-out
data the base was judged on; the manifest's ``retrain`` section names the recordings,
their rows, parents and days, and the base's digest.

Exit status: 0 candidate written and passed the gate, 1 written but refused by the gate,
2 bad input (one line says what), 3 a gate run that could not finish.
"""

from __future__ import annotations

import argparse
import copy
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

from policies.artifact import ArtifactError, save_artifact
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core.log import configure

    configure(level="ERROR")
    try:
        if args.epochs < 1 or not args.beta > 0 or args.kl < 0:
            raise RetrainRefused("--epochs >= 1, --beta > 0 and --kl >= 0")
        base_dir = Path(args.base) if args.base else COMMITTED
        out = Path(args.out)
        if out.resolve() == base_dir.resolve():
            raise RetrainRefused("--out is the base artifact itself; write the candidate elsewhere")
        base = load_policy(base_dir)
        exp = load_experience(args.recordings, base, args.days)
        torch.set_num_threads(1)
        net, figures = advantage_weighted(
            base.artifact.net, exp, epochs=args.epochs, beta=args.beta, kl=args.kl,
            seed=args.train_seed,
        )  # fmt: skip
        name = args.name or f"{base.name}_retrained"
        extra = {"name": name, "recordings": str(args.recordings), "days": exp.days}
        digest = write_candidate(out, base, net, figures, extra)
    except (RetrainRefused, ArtifactError, OSError) as exc:
        print(f"rlexec retrain: {exc}", file=sys.stderr)
        return 2
    print(
        f"candidate {out} ({name}), digest {digest}: {exp.rows} decisions of {exp.parents} "
        f"parents over {len(exp.days)} day(s); {figures['changed_decisions']:.1%} of the "
        f"recorded decisions now go another way (agreement with the recorded actions "
        f"{figures['agreement_base']:.1%} -> {figures['agreement_candidate']:.1%})"
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
