"""The daemon's doors to the outside: FIX order entry and market-data feeds.

Gateways translate wire formats into :mod:`core` types and back; they import only
:mod:`core`, so the exchange process can reuse them without pulling in the daemon.
"""
