"""The pre-trade risk overlay: hard-coded limits between any policy and the market.

Imports :mod:`core` only and contains nothing learned.
"""
