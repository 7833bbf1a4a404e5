"""FIX engine: our session layer (initiator and acceptor) on the tag=value wire format.

The public surface, for the daemon (initiator) and the exchange (acceptor):

* settings: :class:`SessionSettings`, :class:`InitiatorSettings`, :class:`AcceptorSettings`
* transports: :class:`FixInitiator`, :class:`FixAcceptor`
* the sans-I/O state machine both use: :class:`FixSession`
* events: :class:`LoggedOn`, :class:`LoggedOut`, :class:`AppMessage`, :class:`RejectReceived`
* application messages <-> core types: :class:`FixMessages`, :class:`FixMappingError`

See docs/fix.md.
"""

from gateways.fix.acceptor import FixAcceptor
from gateways.fix.codec import FixMessage, FrameDecoder, HeaderEncoder, parse
from gateways.fix.events import AppMessage, LoggedOn, LoggedOut, RejectReceived, SessionEvent
from gateways.fix.initiator import FixInitiator, backoff_delay
from gateways.fix.messages import BusinessReject, FixMappingError, FixMessages, Outbound
from gateways.fix.session import FixSession, SessionNotReady, SessionStats, State
from gateways.fix.settings import AcceptorSettings, InitiatorSettings, SessionSettings
from gateways.fix.store import FileStore, FsyncPolicy, MemoryStore, StoreCorrupt
from gateways.fix.tags import BusinessRejectReason, MsgType, SessionRejectReason

__all__ = [
    "AcceptorSettings",
    "AppMessage",
    "BusinessReject",
    "BusinessRejectReason",
    "FileStore",
    "FixAcceptor",
    "FixInitiator",
    "FixMappingError",
    "FixMessage",
    "FixMessages",
    "FixSession",
    "FrameDecoder",
    "FsyncPolicy",
    "HeaderEncoder",
    "InitiatorSettings",
    "LoggedOn",
    "LoggedOut",
    "MemoryStore",
    "MsgType",
    "Outbound",
    "RejectReceived",
    "SessionEvent",
    "SessionNotReady",
    "SessionRejectReason",
    "SessionSettings",
    "SessionStats",
    "State",
    "StoreCorrupt",
    "backoff_delay",
    "parse",
]
