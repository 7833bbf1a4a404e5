"""FIX tag numbers, message types and reject reasons the engine speaks.

Plain integer/bytes constants rather than enums: they sit on the hot path, where an
attribute lookup on a module is all the indirection we can afford.
"""

from __future__ import annotations

from enum import IntEnum

SOH = b"\x01"

# ------------------------------------------------------------------ header / trailer
BEGIN_STRING = 8
BODY_LENGTH = 9
MSG_TYPE = 35
SENDER_COMP_ID = 49
TARGET_COMP_ID = 56
MSG_SEQ_NUM = 34
SENDING_TIME = 52
POSS_DUP_FLAG = 43
POSS_RESEND = 97
ORIG_SENDING_TIME = 122
ON_BEHALF_OF_COMP_ID = 115
ON_BEHALF_OF_SUB_ID = 116
ON_BEHALF_OF_LOCATION_ID = 144
DELIVER_TO_COMP_ID = 128
DELIVER_TO_SUB_ID = 129
DELIVER_TO_LOCATION_ID = 145
APPL_VER_ID = 1128
CHECK_SUM = 10

# ------------------------------------------------------------------------ session
BEGIN_SEQ_NO = 7
END_SEQ_NO = 16
NEW_SEQ_NO = 36
GAP_FILL_FLAG = 123
TEST_REQ_ID = 112
TEXT = 58
ENCRYPT_METHOD = 98
HEART_BT_INT = 108
RESET_SEQ_NUM_FLAG = 141
USERNAME = 553
PASSWORD = 554
DEFAULT_APPL_VER_ID = 1137
REF_SEQ_NUM = 45
REF_TAG_ID = 371
REF_MSG_TYPE = 372
SESSION_REJECT_REASON = 373
BUSINESS_REJECT_REF_ID = 379
BUSINESS_REJECT_REASON = 380

# -------------------------------------------------------------------- application
ACCOUNT = 1
AVG_PX = 6
CL_ORD_ID = 11
CUM_QTY = 14
EXEC_ID = 17
EXEC_TRANS_TYPE = 20
HANDL_INST = 21
LAST_PX = 31
LAST_QTY = 32
ORDER_ID = 37
ORDER_QTY = 38
ORD_STATUS = 39
ORD_TYPE = 40
ORIG_CL_ORD_ID = 41
PRICE = 44
SIDE = 54
SYMBOL = 55
TIME_IN_FORCE = 59
TRANSACT_TIME = 60
CXL_REJ_REASON = 102
CXL_TYPE = 125
EXEC_TYPE = 150
LEAVES_QTY = 151
CXL_REJ_RESPONSE_TO = 434
MASS_STATUS_REQ_ID = 584
MASS_STATUS_REQ_TYPE = 585
LAST_LIQUIDITY_IND = 851
TOT_NUM_REPORTS = 911
LAST_RPT_REQUESTED = 912


class MsgType:
    """MsgType(35) values as bytes, the form they have on the wire."""

    HEARTBEAT = b"0"
    TEST_REQUEST = b"1"
    RESEND_REQUEST = b"2"
    REJECT = b"3"
    SEQUENCE_RESET = b"4"
    LOGOUT = b"5"
    LOGON = b"A"
    EXECUTION_REPORT = b"8"
    ORDER_CANCEL_REJECT = b"9"
    NEW_ORDER_SINGLE = b"D"
    ORDER_CANCEL_REQUEST = b"F"
    ORDER_CANCEL_REPLACE_REQUEST = b"G"
    ORDER_STATUS_REQUEST = b"H"
    ORDER_MASS_STATUS_REQUEST = b"AF"
    BUSINESS_MESSAGE_REJECT = b"j"


ADMIN_MSG_TYPES = frozenset({b"0", b"1", b"2", b"3", b"4", b"5", b"A"})


class SessionRejectReason(IntEnum):
    """SessionRejectReason(373)."""

    INVALID_TAG_NUMBER = 0
    REQUIRED_TAG_MISSING = 1
    TAG_NOT_DEFINED_FOR_MSG_TYPE = 2
    UNDEFINED_TAG = 3
    TAG_WITHOUT_VALUE = 4
    VALUE_INCORRECT = 5
    INCORRECT_DATA_FORMAT = 6
    DECRYPTION_PROBLEM = 7
    SIGNATURE_PROBLEM = 8
    COMP_ID_PROBLEM = 9
    SENDING_TIME_ACCURACY = 10
    INVALID_MSG_TYPE = 11
    XML_VALIDATION_ERROR = 12
    TAG_APPEARS_MORE_THAN_ONCE = 13
    TAG_OUT_OF_ORDER = 14
    REPEATING_GROUP_OUT_OF_ORDER = 15
    INCORRECT_NUM_IN_GROUP = 16
    NON_DATA_VALUE_INCLUDES_DELIMITER = 17
    OTHER = 99


class BusinessRejectReason(IntEnum):
    """BusinessRejectReason(380)."""

    OTHER = 0
    UNKNOWN_ID = 1
    UNKNOWN_SECURITY = 2
    UNSUPPORTED_MESSAGE_TYPE = 3
    APPLICATION_NOT_AVAILABLE = 4
    CONDITIONALLY_REQUIRED_FIELD_MISSING = 5
