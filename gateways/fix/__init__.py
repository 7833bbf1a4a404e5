"""FIX engine: our session layer (initiator and acceptor) on the tag=value wire format.

The public surface, for the daemon (initiator) and the exchange (acceptor):

* settings: :class:`SessionSettings`, :class:`InitiatorSettings`, :class:`AcceptorSettings`,
  and :func:`load_quickfix_settings` for a QuickFIX-style settings file
* transports: :class:`FixInitiator`, :class:`FixAcceptor`
* the sans-I/O state machine both use: :class:`FixSession`
* events: :class:`LoggedOn`, :class:`LoggedOut`, :class:`AppMessage`, :class:`RejectReceived`,
  :class:`NotResent`; the resend policy hook (:class:`ResendCandidate`, ``ResendPolicy``)
* data dictionaries (QuickFIX XML): :class:`DataDictionary`, :func:`load_dictionary`,
  :func:`session_dictionary`
* application messages <-> core types: :class:`FixMessages`, :class:`FixMappingError`
* codec helpers: :func:`parse`, :func:`encode_fields`, :func:`body_of`, :func:`pipe`,
  :func:`reverse_route`, :func:`format_utc`, :func:`parse_utc`

See docs/fix.md.
"""

from gateways.fix.acceptor import FixAcceptor
from gateways.fix.codec import (
    FieldValue,
    FixMessage,
    FrameDecoder,
    GarbledMessage,
    HeaderEncoder,
    body_of,
    checksum,
    encode_fields,
    parse,
    pipe,
    split_header,
)
from gateways.fix.dictionary import (
    DataDictionary,
    DictionaryError,
    session_dictionary,
)
from gateways.fix.dictionary import load as load_dictionary
from gateways.fix.events import (
    AppMessage,
    LoggedOn,
    LoggedOut,
    NotResent,
    RejectReceived,
    ResendCandidate,
    SessionEvent,
)
from gateways.fix.initiator import FixInitiator, backoff_delay
from gateways.fix.messages import BusinessReject, FixMappingError, FixMessages, Outbound
from gateways.fix.quickfix_config import (
    QuickFixConfigError,
    QuickFixSettings,
    load_quickfix_settings,
)
from gateways.fix.rejects import reverse_route
from gateways.fix.resend import ResendPolicy
from gateways.fix.session import FixSession, SessionNotReady, SessionStats, State
from gateways.fix.settings import AcceptorSettings, InitiatorSettings, SessionSettings
from gateways.fix.store import FileStore, FsyncPolicy, MemoryStore, StoreCorrupt
from gateways.fix.tags import BusinessRejectReason, MsgType, SessionRejectReason
from gateways.fix.timefmt import format_utc, parse_utc

__all__ = [
    "AcceptorSettings",
    "AppMessage",
    "BusinessReject",
    "BusinessRejectReason",
    "DataDictionary",
    "DictionaryError",
    "FieldValue",
    "FileStore",
    "FixAcceptor",
    "FixInitiator",
    "FixMappingError",
    "FixMessage",
    "FixMessages",
    "FixSession",
    "FrameDecoder",
    "FsyncPolicy",
    "GarbledMessage",
    "HeaderEncoder",
    "InitiatorSettings",
    "LoggedOn",
    "LoggedOut",
    "MemoryStore",
    "MsgType",
    "NotResent",
    "Outbound",
    "QuickFixConfigError",
    "QuickFixSettings",
    "RejectReceived",
    "ResendCandidate",
    "ResendPolicy",
    "SessionEvent",
    "SessionNotReady",
    "SessionRejectReason",
    "SessionSettings",
    "SessionStats",
    "State",
    "StoreCorrupt",
    "backoff_delay",
    "body_of",
    "checksum",
    "encode_fields",
    "format_utc",
    "load_dictionary",
    "load_quickfix_settings",
    "parse",
    "parse_utc",
    "pipe",
    "reverse_route",
    "session_dictionary",
    "split_header",
]
