"""Market-data gateways: wire formats in, :class:`core.book.L2Book` and trade prints out.

- :mod:`.protocol` is rlexec's own market-data wire protocol (JSON over a websocket),
  spoken by the exchange's publisher and by :mod:`.client`, the daemon's subscriber.
- :mod:`.book_builder` keeps a book from a snapshot plus sequenced deltas; the
  sequencing rule is pluggable so our feed, LOBSTER replay output and venue diff feeds
  (:mod:`.binance`) all use it.
- :mod:`.venue` is the small adapter interface that plugs a venue's public L2 feed into
  paper trading; :mod:`.venue_feed` runs one such adapter against a live websocket and
  :mod:`.recording` reads recorded captures.
"""
