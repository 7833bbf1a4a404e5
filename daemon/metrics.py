"""Prometheus metrics of the daemon: the names operators, dashboards and alerts use.

One :class:`Metrics` object per node with its own registry (tests build as many as they
like). Naming follows Prometheus conventions: ``rlexec_`` prefix, base units
(seconds, ratios), ``_total`` for counters. Labels stay low-cardinality: symbols,
reasons, kinds — parent ids only on the per-parent gauges, which are removed when the
parent ends. No secrets ever become label values.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Latency buckets from 10 us to 1 s: the hot path lives at the low end.
_FAST_BUCKETS = (
    10e-6,
    20e-6,
    40e-6,
    60e-6,
    100e-6,
    200e-6,
    300e-6,
    500e-6,
    1e-3,
    2e-3,
    5e-3,
    10e-3,
    50e-3,
    100e-3,
    1.0,
)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        # ---- orders and fills
        self.orders_sent = Counter(
            "rlexec_orders_sent_total",
            "Child-order requests sent to the venue.",
            ["symbol", "kind"],
            registry=r,
        )
        self.orders_acked = Counter(
            "rlexec_orders_acked_total",
            "Child orders acknowledged by the venue.",
            ["symbol"],
            registry=r,
        )
        self.orders_rejected = Counter(
            "rlexec_orders_rejected_total",
            "Child orders rejected by the venue, by reason.",
            ["symbol", "reason"],
            registry=r,
        )
        self.fills = Counter(
            "rlexec_fills_total", "Fills received.", ["symbol", "side"], registry=r
        )
        self.duplicate_reports = Counter(
            "rlexec_duplicate_reports_total",
            "Execution reports received again (an ExecID already applied), ignored.",
            ["symbol"],
            registry=r,
        )
        self.filled_qty = Counter(
            "rlexec_filled_quantity_total",
            "Quantity filled, in instrument units.",
            ["symbol", "side"],
            registry=r,
        )
        # ---- risk
        self.risk_denials = Counter(
            "rlexec_risk_denials_total",
            "Orders denied by the pre-trade risk overlay, by check.",
            ["check"],
            registry=r,
        )
        self.kill_switch = Gauge(
            "rlexec_kill_switch_engaged", "1 while the kill switch is engaged.", registry=r
        )
        self.trading_halted = Gauge(
            "rlexec_trading_halted",
            "1 while new orders are stopped, labelled with why.",
            ["reason"],
            registry=r,
        )
        self.position = Gauge(
            "rlexec_position",
            "Signed position per symbol, in instrument units.",
            ["symbol"],
            registry=r,
        )
        self.pnl = Gauge("rlexec_pnl", "Profit and loss in account currency.", ["kind"], registry=r)
        self.daily_loss_ratio = Gauge(
            "rlexec_daily_loss_ratio",
            "Today's loss as a fraction of the daily loss limit.",
            registry=r,
        )
        # ---- FIX
        self.fix_up = Gauge(
            "rlexec_fix_session_up", "1 while the FIX session is logged on.", registry=r
        )
        self.fix_seq = Gauge(
            "rlexec_fix_seq_num", "Next FIX MsgSeqNum per direction.", ["direction"], registry=r
        )
        self.fix_dropped = Counter(
            "rlexec_fix_messages_dropped_total",
            "Garbled or invalid FIX messages dropped.",
            registry=r,
        )
        self.fix_not_resent = Counter(
            "rlexec_fix_orders_not_resent_total",
            "Orders and replaces gap-filled instead of resent after a reconnect (stale, or "
            "no longer wanted); each is then settled with the venue.",
            registry=r,
        )
        self.orders_held = Counter(
            "rlexec_orders_held_total",
            "New orders and replaces kept off the wire as they were sent, because an "
            "acknowledgement in the symbol was (about to be) overdue; each is settled as "
            "rejected locally.",
            ["symbol"],
            registry=r,
        )
        # ---- market data
        self.md_updates = Counter(
            "rlexec_md_updates_total", "Book updates applied.", ["symbol"], registry=r
        )
        self.md_gaps = Counter(
            "rlexec_md_gaps_total", "Market-data sequence gaps detected.", ["symbol"], registry=r
        )
        self.md_age = Gauge(
            "rlexec_md_last_update_age_seconds",
            "Seconds since the last book update.",
            ["symbol"],
            registry=r,
        )
        self.md_stale = Gauge(
            "rlexec_md_stale", "1 while the symbol's book is stale.", ["symbol"], registry=r
        )
        # ---- latency
        self.tick_to_order = Histogram(
            "rlexec_tick_to_order_seconds",
            "Market-data message received to child order written to the FIX socket.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.inference = Histogram(
            "rlexec_inference_seconds",
            "Policy inference time per decision.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.decision_lag = Histogram(
            "rlexec_decision_lag_seconds",
            "Market-data frame received to the decision on it starting (decide_on = book): "
            "time spent behind other symbols' and parents' work.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.decisions_skipped = Counter(
            "rlexec_decisions_skipped_total",
            "Decisions not taken under overload, by why: superseded (a newer book for the "
            "symbol arrived before they ran) or stale (their frame was older than "
            "max_decision_lag_ms when their turn came). Never queued: the next one sees "
            "the latest book.",
            ["symbol", "reason"],
            registry=r,
        )
        self.journal_write = Histogram(
            "rlexec_journal_write_seconds",
            "Journal append latency.",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.journal_errors = Counter(
            "rlexec_journal_errors_total", "Journal writes that failed.", registry=r
        )
        self.loop_lag = Gauge(
            "rlexec_event_loop_lag_seconds", "Event-loop scheduling lag, last sample.", registry=r
        )
        # ---- parents
        self.parents_active = Gauge(
            "rlexec_parents_active", "Parent orders being worked.", registry=r
        )
        self.parent_progress = Gauge(
            "rlexec_parent_progress_ratio",
            "Filled fraction of each working parent.",
            ["parent_id", "symbol"],
            registry=r,
        )
        self.parent_shortfall = Gauge(
            "rlexec_parent_shortfall_bps",
            "Implementation shortfall of each working parent vs arrival mid (positive = cost).",
            ["parent_id", "symbol"],
            registry=r,
        )
        # ---- control plane and health
        self.commands = Counter(
            "rlexec_commands_total",
            "Control commands by name and result.",
            ["command", "result"],
            registry=r,
        )
        self.redis_up = Gauge("rlexec_redis_up", "1 while Redis is reachable.", registry=r)
        self.ready = Gauge("rlexec_ready", "1 while /readyz reports ready.", registry=r)
        # ---- signals, risk posture, policy monitoring, decision recordings
        self.signal_seconds = Histogram(
            "rlexec_signal_seconds",
            "Serving cost of the short-horizon signal at a decision (tracker decay + trees).",
            buckets=_FAST_BUCKETS,
            registry=r,
        )
        self.model_faults = Counter(
            "rlexec_signal_model_faults_total",
            "Model outputs that could not be used (non-finite, or the model raised), by "
            "model: each tightens the symbol under the model_fault source.",
            ["symbol", "model"],
            registry=r,
        )
        self.regime_probability = Gauge(
            "rlexec_signal_regime_probability",
            "The regime model's probability of the regimes that tighten risk, last assessment.",
            ["symbol", "regime"],
            registry=r,
        )
        self.posture_changes = Counter(
            "rlexec_risk_posture_changes_total",
            "Changes of a symbol's risk posture, by source (regime_volatile, spread_jump, "
            "model_fault, ...) and action (tighten, release, expire).",
            ["symbol", "source", "action"],
            registry=r,
        )
        self.posture_scale = Gauge(
            "rlexec_risk_posture_scale",
            "Effective cap over configured cap per symbol (1 = as configured; models only "
            "ever lower it), by cap: order_qty, order_notional, participation.",
            ["symbol", "cap"],
            registry=r,
        )
        self.posture_reduce_only = Gauge(
            "rlexec_risk_posture_reduce_only",
            "1 while the risk posture holds the symbol reduce-only (no new exposure).",
            ["symbol"],
            registry=r,
        )
        self.policy_is_z = Gauge(
            "rlexec_policy_is_z",
            "Last finished parent's shortfall against the backtest's for its size and "
            "regime, in standard deviations (positive = costlier than backtested).",
            ["symbol"],
            registry=r,
        )
        self.policy_is_mean_z = Gauge(
            "rlexec_policy_is_mean_z",
            "Mean of that z over the last 20 finished parents (spread ~0.22 if the policy "
            "performs as backtested).",
            ["symbol"],
            registry=r,
        )
        self.feature_psi = Gauge(
            "rlexec_feature_psi",
            "Population stability index of each policy feature, live decisions against the "
            "artifact's training statistics (< 0.1 stable, > 0.25 a different market).",
            ["feature"],
            registry=r,
        )
        self.feature_non_finite = Counter(
            "rlexec_feature_non_finite_total",
            "Live observations holding NaN or infinity (not binned for drift).",
            registry=r,
        )
        self.monitoring_reference = Gauge(
            "rlexec_policy_monitoring_reference",
            "1 if the served policy artifact carries the reference (expected_is, "
            "feature_stats) that monitoring compares against; 0: no reference, not monitored.",
            ["kind"],
            registry=r,
        )
        self.decisions_recorded = Counter(
            "rlexec_decisions_recorded_total",
            "Policy decisions written to the recordings (Parquet parts flushed).",
            registry=r,
        )
        self.recorder_errors = Counter(
            "rlexec_recorder_errors_total",
            "Decision recordings that failed (folder not writable, disk full, a record "
            "refused), by stage: open, record, flush. Trading carries on.",
            ["stage"],
            registry=r,
        )
