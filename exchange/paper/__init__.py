"""Paper mode: a real venue's book (live or recorded), the daemon's orders filled
against it by the matching engine, nothing sent upstream. See docs/exchange.md."""
