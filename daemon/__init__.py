"""The live node: wiring, journal and recovery, control plane, metrics, CLI.

Everything may be imported here; nothing imports this package.
"""
