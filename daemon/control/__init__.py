"""The control plane: command logic once (:mod:`.handler`), transports thin (Redis, CLI)."""
