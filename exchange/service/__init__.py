"""The exchange as a network service: market-data publisher, pacing, audit log, order entry."""
