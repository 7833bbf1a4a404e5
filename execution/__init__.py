"""The one order path: a parent's decision loop, the execution engine, the sim router.

An action becomes desired child orders, the engine reconciles them with the live ones,
every request passes the risk overlay and goes to a router (the in-process simulator's
or FIX), and every report comes back through the same engine: in training, in the
backtest and live alike. Imports ``core`` and ``risk`` only; the policy, its features
and the simulated venue are reached through Protocols, so nothing learned loads here.
"""
