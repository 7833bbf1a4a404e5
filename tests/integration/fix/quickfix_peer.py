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


def out(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pipe(msg: fix.Message) -> str:
    return str(msg.toString()).replace("\x01", "|")


def utc_now() -> str:
    t = time.time()
    return time.strftime("%Y%m%d-%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}"


class App(fix.Application):  # type: ignore[misc]
    def __init__(self, role: str, begin: str) -> None:
        super().__init__()
        self.role = role
        self.begin = begin
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
        m = fix.Message()
        m.getHeader().setField(fix.BeginString(self.begin))
        m.getHeader().setField(fix.MsgType("8"))
        fields: list[tuple[int, str]] = [
            (37, f"QFO-{cl}"),
            (11, cl),
            (17, f"QFE{self.exec_seq}"),
            (39, status),
            (54, side),
            (55, symbol),
            (38, str(qty)),
            (44, price),
            (151, str(leaves)),
            (14, str(cum)),
            (6, price if cum else "0"),
            (60, utc_now()),
        ]
        if self.begin == "FIX.4.2":
            fields.append((20, "0"))
            fields.append((150, "1" if exec_type == "F" else exec_type))
        else:
            fields.append((150, exec_type))
        if exec_type == "F":
            fields += [(32, str(cum)), (31, price)]
        for tag, value in fields:
            m.setField(fix.StringField(tag, value))
        assert self.session_id is not None
        fix.Session.sendToTarget(m, self.session_id)

    def send_order(self, i: int) -> None:
        m = fix.Message()
        m.getHeader().setField(fix.BeginString(self.begin))
        m.getHeader().setField(fix.MsgType("D"))
        for tag, value in [
            (11, f"QF{i}"),
            (21, "1"),
            (55, "AMZN"),
            (54, "1"),
            (60, utc_now()),
            (38, "200"),
            (40, "2"),
            (44, "187.25"),
            (59, "0"),
        ]:
            m.setField(fix.StringField(tag, value))
        assert self.session_id is not None
        fix.Session.sendToTarget(m, self.session_id)


def config(role: str, begin: str, port: int, sender: str, target: str, work: Path) -> Path:
    dd = "FIX42.xml" if begin == "FIX.4.2" else "FIX44.xml"
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
        f"DataDictionary={DICT_DIR / dd}",
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
