"""Actions and their one mapping to child orders.

A policy decides *how* to work the next interval, never raw prices or share counts:

* where the passive child rests: nowhere (cancel), unchanged (keep its queue place),
  at our touch, or one tick inside the spread;
* how much rests and how much crosses the spread now (IOC at the far touch).

:class:`Action` carries that decision in exact integer units. A learned policy picks
an index of the discrete :class:`ActionSpec` table, whose sizes are *slices* (the
TWAP-rate quantity, remaining / decisions left), so the same index means the same
urgency on any ticker and any parent size; :meth:`ActionSpec.decode` turns it into an
:class:`Action` with the context's shares. Baselines build :class:`Action` directly
from their schedules. :class:`ActionMapper` then turns any :class:`Action` into the
:class:`~core.reconciler.DesiredOrder` list the execution engine reconciles, the same
way in the simulator and live.

Why discrete: DQN needs it, PPO is simplest and most stable with it, and every entry
is an order a trader would recognise; the table is in the artifact manifest so the
daemon refuses a policy trained on a different table.

Why a table has a line (v4): the desk's passive tactic, which PPO starts from, rests
what is behind its line and crosses only beyond a tolerance. Off the straight line no
fixed-slice row does that, so the ``*_behind`` rows measure against the table's own line
(the tactic's tuned urgency, a kappa T), and the tactic is two rows on any line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from core.book import L2Book
from core.orders import ChildOrder
from core.reconciler import DesiredOrder, resting_view
from core.types import OrdType, Side, TimeInForce
from policies.context import DecisionContext
from policies.estimation import checked_urgency, front_loaded_done


class Placement(IntEnum):
    NONE = 0  # nothing rests: cancel working passive children
    KEEP = 1  # leave resting children exactly as they are (queue place kept)
    TOUCH = 2  # rest at our side's best price (join the queue)
    INSIDE = 3  # rest one tick inside the spread (own the new best price)


@dataclass(frozen=True, slots=True)
class Action:
    placement: Placement
    rest_qty: int = 0  # units to have resting (TOUCH / INSIDE)
    cross_qty: int = 0  # units to take now with an IOC at the far touch

    def __post_init__(self) -> None:
        if self.rest_qty < 0 or self.cross_qty < 0:
            raise ValueError(
                f"action quantities must be >= 0, got {self.rest_qty}, {self.cross_qty}"
            )


WAIT = Action(Placement.NONE)
HOLD = Action(Placement.KEEP)


@dataclass(frozen=True, slots=True)
class ActionChoice:
    """One row of the discrete table: a placement, resting and crossing sizes in slices."""

    name: str
    placement: Placement
    rest_slices: float = 0.0
    cross_slices: float = 0.0
    cross_behind: bool = False  # also cross what is behind the straight-line schedule
    rest_behind: bool = False  # also rest what is behind the straight-line schedule


def _table_v2() -> tuple[ActionChoice, ...]:
    rows = [ActionChoice("wait", Placement.NONE), ActionChoice("hold", Placement.KEEP)]
    for m in (1.0, 2.0):
        rows.append(ActionChoice(f"touch_x{m:g}", Placement.TOUCH, rest_slices=m))
    for m in (1.0, 2.0):
        rows.append(ActionChoice(f"inside_x{m:g}", Placement.INSIDE, rest_slices=m))
    for m in (0.5, 1.0, 2.0):
        rows.append(ActionChoice(f"cross_x{m:g}", Placement.KEEP, cross_slices=m))
    # the production tactic as one action: rest a slice, cross what is behind schedule
    rows.append(ActionChoice("catchup_touch", Placement.TOUCH, rest_slices=1.0, cross_behind=True))
    rows.append(
        ActionChoice("catchup_inside", Placement.INSIDE, rest_slices=1.0, cross_behind=True)
    )
    return tuple(rows)


def _table_v3() -> tuple[ActionChoice, ...]:
    """v2 plus the passive half of the desk's tactic as actions: rest everything due by
    the next decision (what is behind the line and the next slice) and cross nothing, so
    a policy can wait for the market to fill what it is behind on, and cross (the
    catch-up actions) only when it chooses to."""
    return (
        *_table_v2(),
        ActionChoice("due_touch", Placement.TOUCH, rest_slices=1.0, rest_behind=True),
        ActionChoice("due_inside", Placement.INSIDE, rest_slices=1.0, rest_behind=True),
    )


ACTION_TABLES = {2: _table_v2, 3: _table_v3, 4: _table_v3}
# what training writes; v2 and v3 serve artifacts trained before. v4 has v3's rows, with
# "behind" measured against the artifact's line (``ActionSpec.line``) instead of the
# straight one; at line 0 it decodes exactly as v3.
ACTION_VERSION = 4
LINE_VERSION = 4  # the first table with a line of its own


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """The discrete action table a learned policy indexes; part of the artifact."""

    choices: tuple[ActionChoice, ...] = ()
    version: int = ACTION_VERSION
    # the urgency (kappa T) of the line the *_behind rows measure against: 0 is the
    # straight line; training sets the passive tactic's tuned one, so the tactic it
    # clones is two rows of the table on any line (policies.imitation)
    line: float = 0.0

    def __post_init__(self) -> None:
        if not self.choices:
            table = ACTION_TABLES.get(self.version)
            if table is None:
                raise ValueError(f"no action table v{self.version}; have {sorted(ACTION_TABLES)}")
            object.__setattr__(self, "choices", table())
        checked_urgency(self.line, "action table line")
        if self.line and self.version < LINE_VERSION:
            raise ValueError(
                f"action table v{self.version} has no line of its own (v{LINE_VERSION}+)"
            )

    @property
    def known(self) -> bool:
        """Whether this is one of the tables this code decodes (an artifact's must be)."""
        return self.version in ACTION_TABLES and self == ActionSpec(
            version=self.version, line=self.line
        )

    def behind(self, ctx: DecisionContext) -> float:
        """Units behind this table's line now (negative: ahead of it)."""
        if self.line == 0.0:  # the straight line, computed as v2/v3 always did
            return ctx.qty * ctx.elapsed_fraction - ctx.filled
        return ctx.qty * front_loaded_done(self.line, ctx.elapsed_fraction) - ctx.filled

    def _line_step(self, ctx: DecisionContext) -> float:
        """What the line adds by the next decision: the unit of a *_behind row's resting
        slice on a front-loaded line (remaining / decisions left is the straight line's)."""
        span = ctx.end_ns - ctx.start_ns
        later = min(1.0, (ctx.now_ns + ctx.decision_interval_ns - ctx.start_ns) / span)
        now = ctx.elapsed_fraction
        return ctx.qty * (front_loaded_done(self.line, later) - front_loaded_done(self.line, now))

    @property
    def n(self) -> int:
        return len(self.choices)

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.choices]

    def index(self, name: str) -> int:
        return next(i for i, c in enumerate(self.choices) if c.name == name)

    @property
    def prior_index(self) -> int:
        """The action a fresh policy leans toward: the production tactic (catch up at the touch)."""
        return next(i for i, c in enumerate(self.choices) if c.name == "catchup_touch")

    @property
    def wait_index(self) -> int:
        """The safe action (cancel resting, send nothing): what the NaN guard falls back to."""
        return next(i for i, c in enumerate(self.choices) if c.placement is Placement.NONE)

    def decode(self, index: int, ctx: DecisionContext) -> Action:
        if not 0 <= index < len(self.choices):
            raise ValueError(f"action index {index} outside the table of {len(self.choices)}")
        c = self.choices[index]
        remaining = ctx.remaining
        slice_qty = remaining / ctx.steps_left
        behind = max(0.0, self.behind(ctx)) if c.cross_behind or c.rest_behind else 0.0
        cross = c.cross_slices * slice_qty + (behind if c.cross_behind else 0.0)
        cross_qty = _lots(cross, remaining, ctx.lot_size)
        lined = self.line > 0.0 and (c.cross_behind or c.rest_behind)
        rest = c.rest_slices * (self._line_step(ctx) if lined else slice_qty)
        if c.rest_behind:
            rest += behind
        rest = min(rest, remaining - cross_qty)
        return Action(
            c.placement,
            rest_qty=_lots(rest, remaining, ctx.lot_size),
            cross_qty=cross_qty,
        )

    def to_json(self) -> dict[str, Any]:
        line = {"line_urgency": self.line} if self.version >= LINE_VERSION else {}
        return {
            "version": self.version,
            "kind": "discrete",
            "unit": "slice = remaining / decisions left",
            **line,
            "choices": [
                {
                    "name": c.name,
                    "placement": c.placement.name,
                    "rest_slices": c.rest_slices,
                    "cross_slices": c.cross_slices,
                    "cross_behind": c.cross_behind,
                    "rest_behind": c.rest_behind,
                }
                for c in self.choices
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ActionSpec:
        try:
            choices = tuple(
                ActionChoice(
                    str(c["name"]),
                    Placement[str(c["placement"])],
                    float(c["rest_slices"]),
                    float(c["cross_slices"]),
                    bool(c.get("cross_behind", False)),
                    bool(c.get("rest_behind", False)),
                )
                for c in data["choices"]
            )
            line = float(data.get("line_urgency", 0.0))
            return cls(choices=choices, version=int(data["version"]), line=line)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"action spec is malformed: {exc!r}") from exc


def _lots(qty: float, remaining: int, lot: int) -> int:
    """Round a size up to whole lots (a slice of 0.4 shares is one lot), capped at what is left."""
    if qty <= 0 or remaining <= 0:
        return 0
    lots = -(-int(qty * 1_000_000) // (lot * 1_000_000))  # ceil without float surprises
    return min(remaining - remaining % lot, lots * lot) if remaining >= lot else 0


class ActionMapper:
    """Action -> desired child orders for :meth:`ExecutionEngine.apply`."""

    __slots__ = ("side",)

    def __init__(self, side: Side) -> None:
        self.side = side

    def passive_price(self, placement: Placement, book: L2Book) -> int | None:
        own = book.best(self.side)
        if own is None:
            return None
        if placement is Placement.INSIDE:
            far = book.best(self.side.opposite)
            if far is not None and abs(far - own) >= 2:
                return own + self.side.sign
        return own

    def desired(
        self, action: Action, book: L2Book, live: Iterable[ChildOrder]
    ) -> list[DesiredOrder]:
        side = self.side
        out: list[DesiredOrder] = []
        if action.cross_qty > 0:
            far = book.best(side.opposite)
            if far is not None:
                out.append(
                    DesiredOrder(side, far, action.cross_qty, OrdType.LIMIT, TimeInForce.IOC)
                )
        placement = action.placement
        if placement is Placement.KEEP:
            for order in live:
                view = resting_view(order)
                if view is not None and view[1] > 0 and order.side is side:
                    out.append(DesiredOrder(side, view[0][1], view[1]))
        elif placement is not Placement.NONE and action.rest_qty > 0:
            price = self.passive_price(placement, book)
            if price is not None and price > 0:
                out.append(DesiredOrder(side, price, action.rest_qty))
        return out
