"""QuickFIX (the C++ engine, via its Python binding) as the counterparty we did not write.

Runs in its own process. ``acceptor`` mode is a tiny venue: every NewOrderSingle gets
an ExecutionReport New and then a partial fill of half the quantity. ``initiator`` mode
is a tiny client. Both print one line per event on stdout and take commands on stdin:

    SEND <n>            initiator: send n NewOrderSingles (ClOrdID QF<i>)
    UNSOLICITED <n>     acceptor: send n ExecutionReports (stored if logged out)
    LOGOUT              log the session out
    QUIT

Lines out: ``READY``, ``LOGON``, ``LOGOUT``, ``APP <msg with | for SOH>``,
``ADMIN <msg>`` (inbound admin messages, so tests can see ResendRequests).
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from pathlib import Path

import quickfix as fix

DICT_DIR = Path(sys.prefix) / "share" / "quickfix"
# argv "version": a BeginString, or a FIXT.1.1 application version (FIX.5.0, SP1, SP2).
APP_DICTS = {"FIX.5.0": "FIX50.xml", "FIX.5.0SP1": "FIX50SP1.xml", "FIX.5.0SP2": "FIX50SP2.xml"}


def rank(version: str) -> int:
    """40 ... 44 for FIX.4.x, 50 for the FIX.5.0 family."""
    return int(version[4] + version[6])


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pipe(msg: fix.Message) -> str:
    return str(msg.toString()).replace("\x01", "|")


def utc_now() -> str:
    t = time.time()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


class App(fix.Application):  # type: ignore[misc]
    def __init__(self, role: str, version: str) -> None:
        super().__init__()
        self.role = role
        self.version = version
        self.begin = "FIXT.1.1" if version in APP_DICTS else version
        self.session_id: fix.SessionID | None = None
        self.exec_seq = 0

    def onCreate(self, sid: fix.SessionID) -> None:
        self.session_id = sid

    def onLogon(self, sid: fix.SessionID) -> None:
        out("LOGON")

    def onLogout(self, sid: fix.SessionID) -> None:
        out("LOGOUT")

    def toAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:
        pass

    def fromAdmin(self, msg: fix.Message, sid: fix.SessionID) -> None:
        out("ADMIN " + pipe(msg))

    def toApp(self, msg: fix.Message, sid: fix.SessionID) -> None:
        pass

    def fromApp(self, msg: fix.Message, sid: fix.SessionID) -> None:
        out("APP " + pipe(msg))
        mt = fix.MsgType()
        msg.getHeader().getField(mt)
        if self.role == "acceptor" and mt.getValue() == "D":
            cl = msg.getField(11)
            qty = int(msg.getField(38))
            price = msg.getField(44) if msg.isSetField(44) else "0"
            self.send_er(cl, msg.getField(55), msg.getField(54), qty, price, "0", "0", 0, qty)
            half = qty // 2
            self.send_er(
                cl, msg.getField(55), msg.getField(54), qty, price, "F", "1", half, qty - half
            )

    def send_er(
        self,
        cl: str,
        symbol: str,
        side: str,
        qty: int,
        price: str,
        exec_type: str,
        status: str,
        cum: int,
        leaves: int,
    ) -> None:
        self.exec_seq += 1
        r = rank(self.version)
        m = fix.Message()
        m.getHeader().setField(fix.BeginString(self.begin))
        m.getHeader().setField(fix.MsgType("8"))
        fields: list[tuple[int, str]] = [
            (37, f"QFO-{cl}"),
            (11, cl),
            (17, str(self.exec_seq) if r == 40 else f"QFE{self.exec_seq}"),  # 4.0: an int
            (39, status),
            (54, side),
            (55, symbol),
            (38, str(qty)),
            (44, price),
            (14, str(cum)),
            (6, price if cum else "0"),
            (60, utc_now()),
        ]
        if r >= 41:
            fields.append((151, str(leaves)))
        if r <= 42:
            fields.append((20, "0"))
        if r in (41, 42):  # fills are ExecType 1/2 before FIX.4.3; no ExecType in 4.0
            fields.append((150, ("1" if cum < qty else "2") if exec_type == "F" else exec_type))
        elif r >= 43:
            fields.append((150, exec_type))
        if exec_type == "F" or r <= 41:  # LastShares/LastPx are required before FIX.4.2
            fields += [(32, str(cum if exec_type == "F" else 0)), (31, price)]
        for tag, value in fields:
            m.setField(fix.StringField(tag, value))
        assert self.session_id is not None
        fix.Session.sendToTarget(m, self.session_id)

    def send_order(self, i: int) -> None:
        m = fix.Message()
        m.getHeader().setField(fix.BeginString(self.begin))
        m.getHeader().setField(fix.MsgType("D"))
        fields = [
            (11, f"QF{i}"),
            (21, "1"),
            (55, "AMZN"),
            (54, "1"),
            (38, "200"),
            (40, "2"),
            (44, "187.25"),
            (59, "0"),
        ]
        if rank(self.version) >= 42:  # no TransactTime on orders before FIX.4.2
            fields.append((60, utc_now()))
        for tag, value in fields:
            m.setField(fix.StringField(tag, value))
        assert self.session_id is not None
        fix.Session.sendToTarget(m, self.session_id)


def config(role: str, version: str, port: int, sender: str, target: str, work: Path) -> Path:
    begin = "FIXT.1.1" if version in APP_DICTS else version
    if version in APP_DICTS:
        dicts = [
            f"TransportDataDictionary={DICT_DIR / 'FIXT11.xml'}",
            f"AppDataDictionary={DICT_DIR / APP_DICTS[version]}",
            f"DefaultApplVerID={version}",
        ]
    else:
        dicts = [f"DataDictionary={DICT_DIR / ('FIX' + version[4] + version[6] + '.xml')}"]
    lines = [
        "[DEFAULT]",
        f"ConnectionType={role}",
        f"FileStorePath={work / 'store'}",
        f"FileLogPath={work / 'log'}",
        "StartTime=00:00:00",
        "EndTime=00:00:00",
        "HeartBtInt=30",
        "ReconnectInterval=1",
        "UseDataDictionary=Y",
        *dicts,
        "ValidateUserDefinedFields=N",
        "SocketNodelay=Y",
        "[SESSION]",
        f"BeginString={begin}",
        f"SenderCompID={sender}",
        f"TargetCompID={target}",
    ]
    if role == "acceptor":
        lines.append(f"SocketAcceptPort={port}")
        lines.append("SocketAcceptHost=127.0.0.1")
    else:
        lines.append("SocketConnectHost=127.0.0.1")
        lines.append(f"SocketConnectPort={port}")
    path = work / "qf.cfg"
    path.write_text("\n".join(lines) + "\n")
    return path


def main() -> None:
    role, begin, port, sender, target = sys.argv[1:6]
    work = Path(sys.argv[6]) if len(sys.argv) > 6 else Path(tempfile.mkdtemp(prefix="qf-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg = config(role, begin, int(port), sender, target, work)
    settings = fix.SessionSettings(str(cfg))
    app = App(role, begin)
    store = fix.FileStoreFactory(settings)
    logs = fix.FileLogFactory(settings)
    engine_cls = fix.SocketAcceptor if role == "acceptor" else fix.SocketInitiator
    engine = engine_cls(app, store, settings, logs)
    engine.start()
    out("READY")
    lock = threading.Lock()
    for line in sys.stdin:
        cmd = line.split()
        if not cmd:
            continue
        with lock:
            if cmd[0] == "SEND":
                for i in range(int(cmd[1])):
                    app.send_order(i)
            elif cmd[0] == "UNSOLICITED":
                for i in range(int(cmd[1])):
                    app.send_er(f"UNS{i}", "AMZN", "1", 100, "187.25", "0", "0", 0, 100)
                out("STORED")
            elif cmd[0] == "LOGOUT":
                assert app.session_id is not None
                fix.Session.lookupSession(app.session_id).logout("bye")
            elif cmd[0] == "QUIT":
                break
    engine.stop()


if __name__ == "__main__":
    main()
