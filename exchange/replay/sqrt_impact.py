"""Square-root market impact of the agent's metaorder, relaxing to a permanent part.

Why this model. Metaorder impact in real markets is concave in size, ``I ~ Y sigma
sqrt(Q/V)`` with ``Y`` of order one, nearly independent of the horizon and of how the
order is sliced, and after the metaorder ends it relaxes towards a permanent part
(Torre 1997; Almgren et al. 2005; Toth et al. 2011; references in docs/simulation.md). A
per-fill kick (``kappa * q**beta``) makes impact depend on the number of fills; a
linear kernel makes it linear in size. What yields the square root is the *latent*
order book: liquidity that is not displayed but revealed as the price comes near, with
a density growing linearly away from the price (Toth et al. 2011; Donier, Bonart,
Mastromatteo & Bouchaud 2015). Eating a volume ``E`` out of a V-shaped book moves the
price by ``sqrt(2E/L)``, and the hole refills as latent orders come back: the
Alfonsi-Fruth-Schied (2010) generalisation of Obizhaeva-Wang resilience to a book of
any shape.

The state is two Markovian quantities, both relaxing with the same kernel ``G``:

- ``E(t) = sum_k q_k G(t - t_k)``: the part of our signed volume the latent book has
  not absorbed yet (shares);
- ``I(t) = sum_k dI_k G(t - t_k)``, with ``dI_k = c * (f(E_k + q_k) - f(E_k))``,
  ``f(x) = sign(x) sqrt(|x|)`` and ``E_k`` the hole just before fill ``k``: each
  fill's price move is the square-root increment on top of what is still unabsorbed,
  so a fill pays more after recent same-side volume, slicing a volume finer changes
  nothing (the increments telescope), and a round trip returns to zero.

``c = Y0 * sigma_daily / sqrt(V_daily)`` ticks per sqrt(share), and
``G(tau) = permanent + (1 - permanent) * (1 + tau/tau0) ** -beta``: the propagator of
the public trades (Bouchaud, Gefen, Potters & Wyart 2004), fitted per ticker by
:mod:`exchange.replay.sqrt_estimation`. The power law is held as a positive sum of
exponentials (a log-spaced quadrature of its Laplace transform), so the state is a
short vector and the time at which the rounded offset next changes is found by a
geometric scan plus bisection rather than by replaying the fill history.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from exchange.replay.impact import NS_PER_S, to_offset

F64 = npt.NDArray[np.float64]
# quadrature of (1 + tau/tau0)**-beta = 1/Gamma(beta) * int x**beta exp(-x (1 + tau/tau0)) dln x
_LN_STEP = 0.5
_LN_X = np.arange(math.log(1e-6), math.log(40.0), _LN_STEP)
_SCAN_FIRST_NS = 1_000_000  # the scan's first step after "now" (1 ms)
_SCAN_GROWTH = 2.0  # geometric steps of the first look ahead
_BISECT_NS = 1_000  # resolution of the next offset change (1 us)


@dataclass(frozen=True, slots=True)
class Kernel:
    """``G(tau) = permanent + (1 - permanent) * (1 + tau/tau0_s) ** -beta``, G(0) = 1."""

    permanent: float
    tau0_s: float
    beta: float

    def __post_init__(self) -> None:
        if not 0.0 <= self.permanent <= 1.0:
            raise ValueError(f"kernel permanent share must be in [0, 1], got {self.permanent}")
        if not (math.isfinite(self.tau0_s) and self.tau0_s > 0):
            raise ValueError(f"kernel tau0 must be > 0 s, got {self.tau0_s}")
        if not 0.0 < self.beta <= 2.0:
            raise ValueError(f"kernel beta must be in (0, 2], got {self.beta}")

    def __call__(self, tau_s: float) -> float:
        return float(
            self.permanent + (1.0 - self.permanent) * (1.0 + tau_s / self.tau0_s) ** -self.beta
        )

    def exponentials(self) -> tuple[F64, F64]:
        """(weights, timescales_s) of the transient part as a sum of exponentials;
        the weights are positive and sum to ``1 - permanent``."""
        x = np.exp(_LN_X)
        w = x**self.beta * np.exp(-x) * _LN_STEP
        w[0] += x[0] ** self.beta / self.beta  # the mass below the grid: timescales > 1e6 tau0
        w *= (1.0 - self.permanent) / w.sum()  # the sum is Gamma(beta) to ~1e-6
        return w, self.tau0_s / x


@dataclass(slots=True)
class SquareRootImpact:
    """See the module docstring. ``coef``: ticks per sqrt(share) (``Y0 * sigma / sqrt(V)``)."""

    coef: float
    kernel: Kernel
    _w: F64 = field(init=False, repr=False)
    _rate: F64 = field(init=False, repr=False)  # 1/timescale, per ns
    _hole: F64 = field(init=False, repr=False)  # transient parts of E at _at_ns
    _move: F64 = field(init=False, repr=False)  # transient parts of I at _at_ns
    _hole_perm: float = field(default=0.0, init=False, repr=False)
    _move_perm: float = field(default=0.0, init=False, repr=False)
    _at_ns: int = field(default=0, init=False, repr=False)
    _cache: tuple[int, int, int | None] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.coef) and self.coef >= 0):
            raise ValueError(f"square-root impact coefficient must be >= 0, got {self.coef}")
        self._w, scales = self.kernel.exponentials()
        self._rate = 1.0 / (scales * NS_PER_S)
        self.reset()

    @classmethod
    def from_params(cls, p: dict[str, Any]) -> SquareRootImpact:
        """From a ticker's ``sqrt`` block of impact_params.json."""
        k = p["kernel"]
        kernel = Kernel(float(k["permanent"]), float(k["tau0_s"]), float(k["beta"]))
        coef = float(p["y0"]) * float(p["sigma_daily_ticks"]) / math.sqrt(float(p["daily_volume"]))
        return cls(coef, kernel)

    def reset(self) -> None:
        self._hole = np.zeros_like(self._w)
        self._move = np.zeros_like(self._w)
        self._hole_perm = 0.0
        self._move_perm = 0.0
        self._at_ns = 0
        self._cache = None

    def _decay(self, ts_ns: int) -> F64:
        return np.exp(-self._rate * max(0, ts_ns - self._at_ns))

    def hole(self, ts_ns: int) -> float:
        """Signed volume (shares) the latent book has not absorbed at ``ts_ns``."""
        return self._hole_perm + float(self._hole @ self._decay(ts_ns))

    def value(self, ts_ns: int) -> float:
        return self._move_perm + float(self._move @ self._decay(ts_ns))

    def on_trade(self, ts_ns: int, signed_qty: int) -> None:
        ts_ns = max(ts_ns, self._at_ns)
        d = self._decay(ts_ns)
        self._hole *= d
        self._move *= d
        self._at_ns = ts_ns
        e = self._hole_perm + float(self._hole.sum())
        dv = self.coef * (_signed_sqrt(e + signed_qty) - _signed_sqrt(e))
        perm = self.kernel.permanent
        self._hole += signed_qty * self._w
        self._hole_perm += signed_qty * perm
        self._move += dv * self._w
        self._move_perm += dv * perm
        self._cache = None

    def next_change_ns(self, ts_ns: int, offset: int) -> int | None:
        if to_offset(self.value(ts_ns)) != offset:
            return ts_ns
        c = self._cache
        if c is not None and c[1] == offset and c[0] <= ts_ns and (c[2] is None or ts_ns <= c[2]):
            return c[2]
        found = self._scan(ts_ns, offset)
        self._cache = (ts_ns, offset, found)
        return found

    def _scan(self, ts_ns: int, offset: int) -> int | None:
        """Earliest time after ``ts_ns`` at which the rounded impact leaves ``offset``:
        one vectorised look at geometrically spaced times, then secant steps inside
        the bracket found. Exact while the impact moves one way (a one-sided
        position); an excursion shorter than a grid step could be missed after
        trading both ways."""
        if to_offset(self._move_perm) == offset and (
            np.all(self._move >= 0) or np.all(self._move <= 0)
        ):
            return None  # decays monotonically to a value that rounds the same
        dt = self._scan_steps()
        at = ts_ns - self._at_ns
        decay = np.exp(-np.outer(self._rate, np.maximum(0, at + dt)))
        values = self._move_perm + self._move @ decay
        changed = np.flatnonzero(np.abs(values - offset) >= 0.5)
        if changed.size == 0:
            return None
        k = int(changed[0])
        lo = ts_ns + (int(dt[k - 1]) if k else 0)
        return self._refine(lo, ts_ns + int(dt[k]), offset)

    def _scan_steps(self) -> F64:
        steps: F64 | None = _SCAN_CACHE.get(float(self._rate.min()))
        if steps is None:
            # 60 of the slowest timescales, at most 30 days: the replay is one day
            horizon = min(60.0 / float(self._rate.min()), 30 * 86_400 * NS_PER_S)
            n = math.ceil(math.log(horizon / _SCAN_FIRST_NS) / math.log(_SCAN_GROWTH)) + 1
            steps = np.round(_SCAN_FIRST_NS * _SCAN_GROWTH ** np.arange(n)).astype(np.float64)
            _SCAN_CACHE[float(self._rate.min())] = steps
        return steps

    def _changed(self, t: int, offset: int) -> bool:
        return to_offset(self.value(t)) != offset

    def _refine(self, lo: int, hi: int, offset: int) -> int:
        """The first time in ``(lo, hi]`` (to ``_BISECT_NS``) at which the rounded impact
        is no longer ``offset``, given that it is at ``lo`` and is not at ``hi``:
        Newton steps on ``value(t) = edge`` (the impact is a sum of exponentials, so
        its slope is exact), each checked a half resolution either side, with
        bisection whenever a step leaves the bracket."""
        edge = offset + (0.5 if self.value(hi) > offset else -0.5)
        half = _BISECT_NS // 2
        r = lo
        for _ in range(64):
            if hi - lo <= _BISECT_NS:
                break
            d = self._decay(r)
            slope = -float((self._move * self._rate) @ d)
            g = self._move_perm + float(self._move @ d) - edge
            step = -g / slope if slope else math.inf
            r = r + round(step) if math.isfinite(step) else hi
            if not lo + half < r < hi - half:
                r = (lo + hi) // 2
            a, b = r - half, r + half
            if self._changed(b, offset):
                if self._changed(a, offset):
                    hi = a
                else:
                    return b
            else:
                lo = b
        return hi


_SCAN_CACHE: dict[float, F64] = {}


def _signed_sqrt(x: float) -> float:
    return math.copysign(math.sqrt(abs(x)), x)
