"""The domain every other package speaks: instruments, orders, books, clocks, ids.

Nothing here knows about the wire, the venue, risk limits or policies; it imports no
other rlexec package (an import-linter contract checks it).
"""
