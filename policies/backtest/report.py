"""The report folder: one self-contained HTML file, its PNGs, the summary as JSON,
every order's outcome as CSV, and the tables as Markdown (what docs/results.md carries).

The HTML embeds its figures as data URIs and links nothing outside itself, so it opens
offline and survives being mailed around. Every table says what its numbers are:
basis points of arrival notional, positive = cost, means winsorised at 1 % / 99 %,
95 % bootstrap intervals in brackets, differences paired on the same orders.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from policies.backtest.gate import GateVerdict
from policies.backtest.summary import REGIMES, GroupData

DOCS_BEGIN = "<!-- backtest:begin (written by rlexec backtest --write-docs) -->"
DOCS_END = "<!-- backtest:end -->"

COUNTERFACTUAL = (
    "Impact cost is measured against the same replay without our orders: a LOBSTER "
    "replay with none of our orders reproduces the orderbook file row for row, so the "
    "counterfactual mid path is the file's own. Impact = side x (mid of the book we traded "
    "in - that counterfactual mid), at the last book the order path saw before each fill; "
    "it covers everything our orders did to the book (the impact model's shift, liquidity "
    "we took, quotes we improved). Spread = side x (fill price - that mid); timing = side x "
    "(counterfactual mid - arrival mid). The three add up to the shortfall exactly."
)
CRYPTO = (
    "Recorded crypto captures (data/crypto) cannot be backtested yet. The paper venue "
    "replays them only inside the exchange service's asyncio feed, paced on a clock; "
    "missing for an in-process backtest: (1) a synchronous simulator over "
    "exchange.paper.PaperVenue that applies a capture's lines up to a simulated time and "
    "carries agent orders with latency (the exchange.replay.api.MarketSimulator protocol: "
    "reset/send/advance_to/book/tape); (2) a data source type for a capture (instrument "
    "with the venue's tick and lot, volume rate, time windows) and the environment "
    "choosing that simulator for it (policies/env.py builds only LOBSTER and synthetic "
    "simulators); (3) a counterfactual mid path read from the capture's own book. The "
    "paper venue has no impact model (our orders never move the upstream book), so "
    "impact there would only be the liquidity we take. The shipped captures also span "
    "6-11 minutes, shorter than the 3-15 minute horizons plus warm-up."
)


def _bp(v: float) -> str:
    return f"{v:.2f}"


def _ci(est: Sequence[float]) -> str:
    return f"{est[0]:.2f} [{est[1]:.2f}, {est[2]:.2f}]"


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"


MAIN_COLUMNS = (
    "policy",
    "orders",
    "mean IS [95% CI]",
    "median",
    "timing risk [95% CI]",
    "spread",
    "impact",
    "timing",
    "vs TWAP [95% CI]",
    "P(beat TWAP)",
    "vs best other [95% CI]",
    "sweep",
    "fill",
    "particip.",
    "child / cxl / rpl",
)


def main_rows(cell: dict[str, Any], policies: Sequence[str], reference: str) -> list[list[str]]:
    """One row per policy, in the classic comparison's shape."""
    out = []
    for p in policies:
        r = cell["rows"][p]
        ref = r["vs"].get(reference)
        best = r.get("best_other")
        vb = r["vs"].get(best) if best else None
        out.append(
            [
                p,
                str(r["n"]),
                _ci(r["mean"]),
                _bp(r["median"]),
                _ci(r["timing_risk"]),
                _bp(r["spread"]),
                _bp(r["impact"]),
                _bp(r["timing"]),
                _ci(ref["diff"]) if ref else "",
                _pct(ref["p_beat"]) if ref else "",
                f"{_ci(vb['diff'])} ({best})" if vb else "",
                _pct(r["sweep_share"]),
                _pct(r["fill_rate"]),
                _pct(r["participation"]),
                f"{r['child_orders']:.0f} / {r['cancels']:.0f} / {r['replaces']:.0f}",
            ]
        )
    return out


def breakdown_rows(
    cells: dict[str, Any], policies: Sequence[str], reference: str
) -> tuple[list[str], list[list[str]]]:
    """Per policy and size / regime third: mean shortfall and its difference to TWAP."""
    names = [
        n for kind, _, labels in REGIMES for n in (f"{kind}:{lab}" for lab in labels) if n in cells
    ]
    head = ["policy"] + [f"{n} ({cells[n]['range']})" for n in names]
    rows = []
    for p in policies:
        row = [p]
        for n in names:
            r = cells[n]["rows"][p]
            vs = r["vs"].get(reference)
            extra = (
                f" ({vs['diff'][0]:+.2f} [{vs['diff'][1]:+.2f}, {vs['diff'][2]:+.2f}])"
                if vs
                else ""
            )
            row.append(f"{r['mean'][0]:.2f}{extra}")
        rows.append(row)
    return head, rows


def table_cells(group: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The group as a whole, then each time-of-day bucket unless it holds every order."""
    cells = group["cells"]
    out = [("all", cells["all"])]
    out += [
        (name, c) for name, c in cells.items() if c["kind"] == "tod" and c["n"] < cells["all"]["n"]
    ]
    return out


def bucket_rows(
    summary: dict[str, Any], policy: str, reference: str
) -> tuple[list[str], list[list[str]]]:
    """One row per group: ``policy``'s paired difference against ``reference`` in each
    third by size and arrival regime."""
    names = [f"{kind}:{lab}" for kind, _, labels in REGIMES for lab in labels]
    rows = []
    for gkey, group in summary["groups"].items():
        cells = group["cells"]
        row = [gkey]
        for n in names:
            vs = cells[n]["rows"][policy]["vs"].get(reference) if n in cells else None
            row.append(_ci(vs["diff"]) if vs else "")
        rows.append(row)
    return ["group", *names], rows


def worse_lines(group: dict[str, Any]) -> list[str]:
    out = []
    for w in group["worse_in"]:
        sig = "interval excludes zero" if w["significant"] else "within noise"
        out.append(
            f"{w['policy']} is cheaper than {w['against']} over the group "
            f"({w['overall'][0]:+.2f} bp) but dearer in {w['cell']} ({w['n']} orders): "
            f"{_ci(w['diff'])} bp, {sig}"
        )
    return out


# ---------------------------------------------------------------- markdown


def _md_table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown(summary: dict[str, Any], gates: Sequence[GateVerdict]) -> str:
    policies = [p["name"] for p in summary["policies"]]
    ref = summary["reference"]
    parts = [
        f"Command: `{summary['command']}`",
        "",
        f"{summary['orders_per_group']} orders per group, every policy on the same orders; "
        f"impact model {summary['impact_text']}; bps of arrival notional, positive = cost; "
        "means winsorised at 1 % / 99 %, 95 % percentile-bootstrap intervals "
        f"({summary['statistics']['bootstrap_draws']} resamples, seed {summary['seed']}); "
        "spread + impact + timing = raw mean shortfall. "
        f"{summary['computed']} (policy, order) runs simulated by this command, "
        f"{summary['reused']} taken from the cache; {summary['elapsed_s']:.0f} s "
        f"({summary['executor']}).",
    ]
    for gkey, group in summary["groups"].items():
        for cname, cell in table_cells(group):
            title = gkey if cname == "all" else f"{gkey}, {cell['label']} ({cell['range']})"
            parts += [
                "",
                f"#### {title}",
                "",
                _md_table(MAIN_COLUMNS, main_rows(cell, policies, ref)),
            ]
        lines = worse_lines(group)
        if lines:
            parts += ["", f"Better on average, dearer in a bucket ({gkey}):", ""]
            parts += [f"- {line}" for line in lines]
    for cand in [p["name"] for p in summary["policies"] if p["kind"] == "rl"]:
        head, rows = bucket_rows(summary, cand, ref)
        parts += [
            "",
            f"#### {cand} - {ref} by order size and arrival regime (thirds), bps [95% CI]",
            "",
            _md_table(head, rows),
        ]
    for v in gates:
        parts += [
            "",
            f"Promotion gate, {v.candidate}: **{'passed' if v.passed else 'failed'}** "
            f"({len(v.failures)} of {len(v.checks)} checks failed).",
        ]
    return "\n".join(parts) + "\n"


def write_docs(path: Path, text: str) -> None:
    """Replace the block between the markers in ``path`` with ``text``."""
    doc = path.read_text(encoding="utf-8")
    if DOCS_BEGIN not in doc or DOCS_END not in doc:
        raise ValueError(f"{path} has no '{DOCS_BEGIN}' ... '{DOCS_END}' block to replace")
    head, rest = doc.split(DOCS_BEGIN, 1)
    _, tail = rest.split(DOCS_END, 1)
    path.write_text(f"{head}{DOCS_BEGIN}\n{text}{DOCS_END}{tail}", encoding="utf-8")


# ---------------------------------------------------------------- html

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:110em}
table{border-collapse:collapse;margin:.6em 0 1.4em;font-size:.82em}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:right}
th{background:#f2f2f2} td:first-child,th:first-child{text-align:left}
caption{text-align:left;font-weight:600;padding:.3em 0}
.note{color:#555;font-size:.9em;max-width:70em} img{max-width:100%;border:1px solid #ddd}
.fail{color:#a00;font-weight:600} .pass{color:#070;font-weight:600}
"""


def _html_table(caption: str, head: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    e = html.escape
    out = [f"<table><caption>{e(caption)}</caption><thead><tr>"]
    out += [f"<th>{e(h)}</th>" for h in head]
    out.append("</tr></thead><tbody>")
    for r in rows:
        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}"></figure>'
    )


def html_report(
    summary: dict[str, Any], gates: Sequence[GateVerdict], figures: Sequence[Path]
) -> str:
    e = html.escape
    policies = [p["name"] for p in summary["policies"]]
    ref = summary["reference"]
    body = [
        "<h1>Execution quality: backtest report</h1>",
        f"<p class=note>Command: <code>{e(summary['command'])}</code><br>"
        f"{summary['orders_per_group']} orders per group, every policy on the same orders "
        f"(seed {summary['seed']}); impact model {e(summary['impact_text'])}; "
        f"code {e(summary['code'][:12])}; {summary['computed']} runs simulated, "
        f"{summary['reused']} from the cache, {summary['elapsed_s']:.0f} s "
        f"({e(summary['executor'])}).</p>",
        "<p class=note>All costs in basis points of arrival notional, positive = cost. Means "
        "are <b>winsorised at 1 % / 99 %</b> (raw means in summary.json); intervals are 95 % "
        f"percentile-bootstrap intervals over orders ({summary['statistics']['bootstrap_draws']} "
        "resamples, the same for every policy: differences are paired). Timing risk = standard "
        "deviation of shortfall across orders. spread + impact + timing = raw mean shortfall. "
        "Orders overlapping in time share the market's path, so intervals of absolute means are "
        "optimistic; the paired differences are the ones to act on.</p>",
        f"<p class=note>{e(COUNTERFACTUAL)}</p>",
        "<h2>Promotion gate</h2>",
    ]
    for v in gates:
        cls = "pass" if v.passed else "fail"
        body.append(
            f"<p><span class={cls}>{e(v.candidate)}: {'passed' if v.passed else 'failed'}</span></p>"
        )
        body.append(f"<pre>{e(v.explain())}</pre>")
    if not gates:
        body.append("<p class=note>No learned policy in this run.</p>")
    for gkey, group in summary["groups"].items():
        meta = group["meta"]
        body.append(f"<h2>{e(gkey)}</h2>")
        body.append(
            f"<p class=note>{e(meta.get('file', ''))} (sha256 {e(meta.get('sha256', '')[:16])}...), "
            f"{group['orders']} orders.</p>"
        )
        for cname, cell in table_cells(group):
            cap = (
                "all orders"
                if cname == "all"
                else f"time of day: {cell['label']} ({cell['range']})"
            )
            body.append(_html_table(f"{gkey}, {cap}", MAIN_COLUMNS, main_rows(cell, policies, ref)))
        head, rows = breakdown_rows(group["cells"], policies, ref)
        body.append(
            _html_table(
                f"{gkey}: mean IS by order size and arrival regime (thirds); in brackets: vs {ref} [95% CI]",
                head,
                rows,
            )
        )
        lines = worse_lines(group)
        if lines:
            body.append("<p><b>Better on average, dearer in a bucket:</b></p><ul>")
            body += [f"<li>{e(line)}</li>" for line in lines]
            body.append("</ul>")
    body.append("<h2>Figures</h2>")
    body += [_img(f) for f in figures]
    body.append(f"<h2>Not covered</h2><p class=note>{e(CRYPTO)}</p>")
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        "<title>rlexec backtest</title><style>"
        + _CSS
        + "</style></head><body>"
        + "\n".join(body)
        + "</body></html>\n"
    )


ORDER_FIELDS = (
    "index", "side", "qty", "start_ns", "horizon_ns", "size_frac", "tod", "spread_ticks",
    "volatility_bps", "depth",
)  # fmt: skip
OUTCOME_FIELDS = (
    "is_bps", "spread_bps", "impact_bps", "timing_bps", "fill_rate", "sweep_share",
    "participation", "child_orders", "cancels", "replaces", "denied",
)  # fmt: skip


def orders_csv(path: Path, groups: Sequence[GroupData]) -> None:
    """One line per (group, order, policy): the order, the market it met, its outcome
    (floats written exactly, as Python's repr)."""
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["group", "policy", *ORDER_FIELDS, *OUTCOME_FIELDS])
        for g in groups:
            for p, outs in g.outcomes.items():
                for o, res in zip(g.orders, outs, strict=True):
                    values = [getattr(o, k) for k in ORDER_FIELDS]
                    values += [getattr(res, k) for k in OUTCOME_FIELDS]
                    w.writerow(
                        [g.key, p, *(repr(v) if isinstance(v, float) else v for v in values)]
                    )


def write_report(
    out: Path,
    summary: dict[str, Any],
    groups: Sequence[GroupData],
    gates: Sequence[GateVerdict],
    *,
    action_names: dict[str, list[str]],
    plots: bool = True,
) -> dict[str, Path]:
    """Write the folder; returns what was written, by role."""
    from policies.backtest.plots import draw_all

    out.mkdir(parents=True, exist_ok=True)
    policies = [p["name"] for p in summary["policies"]]
    figures = draw_all(groups, policies, summary, out, action_names) if plots else []
    files: dict[str, Path] = {}
    files["summary"] = out / "summary.json"
    full = dict(summary, gates=[g.to_json() for g in gates])
    files["summary"].write_text(json.dumps(full, indent=1) + "\n", encoding="utf-8")
    files["orders"] = out / "orders.csv"
    orders_csv(files["orders"], groups)
    files["markdown"] = out / "results.md"
    files["markdown"].write_text(markdown(summary, gates), encoding="utf-8")
    files["html"] = out / "report.html"
    files["html"].write_text(html_report(summary, gates, figures), encoding="utf-8")
    for f in figures:
        files[f.stem] = f
    return files
