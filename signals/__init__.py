"""The learned models around the policy: short-horizon signal, volatility, regime.

They read the market through :class:`signals.market.MarketTracker`, are stored as
checksummed artifacts (:mod:`signals.artifact`) and may only ever tighten risk: their
outputs become tighten requests (:mod:`signals.posture`) that the risk overlay applies
without being able to loosen a configured limit (``risk/dynamic_limits.py``). Nothing
here is imported by ``risk``. See docs/signals.md.
"""
