"""The simulated and paper venue: matching engine, replay, order flow, FIX acceptor.

Runs as its own process in live/demo mode and in-process inside the training
environment; the matching engine is the same in both.
"""
