#!/usr/bin/python3
"""Test client for the cloud link (Debian's python3-qpid-proton).

  amqp_client.py send   --n N [--body TEXT | --body-file F | --body-bytes B | --amqp-map] [--prefix P] [--ttl MS]
                        [--expired] [--locked-until MS] [--reply-to ADDR] [--poison-at I --poison-reply-to ADDR]
  amqp_client.py collect --n N [--timeout S] [--out FILE]
  amqp_client.py roundtrip --n N [...both]
  amqp_client.py inflate-credit --to HOST:PORT --extra K --port-file F --stats-file F [--listen HOST]
  amqp_client.py stream --n N --rate R --bodies-file F --out FILE --sent-file FILE [--prefix P] [--reply-to ADDR]
                        [--timeout S]

Connection from BROKER_AMQP_URL, BROKER_USER, BROKER_PASSWORD_FILE.
Requests go to /queue/requests with reply_to /queue/replies (RabbitMQ 3.10
refuses dynamic reply queues, so the reply queue is fixed; --reply-to names
another) and correlation ids P-0 .. P-(N-1).  --poison-at I sends one more
request before request I, with correlation id P-poison and reply_to
--poison-reply-to.  --body-bytes B sends a data section of B bytes (a JSON
text padded to that size); --amqp-map an AMQP map body.  collect prints a summary line
  replies=R unique=U duplicates=D uncorrelated=X
and writes one JSON line per reply ({"cid":..., "body":...}) to --out.
Exit 0 when exactly N distinct expected correlation ids came back.

stream sends N durable requests at R a second, request i with line i mod
L of --bodies-file (JSON lines {"address": ..., "body": "... @CID@ ..."}),
while a second connection takes the replies from --reply-to; each side
reconnects (every 0.5 s) when its connection fails, as across a broker
restart, and a request whose send was not confirmed is sent again (its
line in --sent-file says resent).  --sent-file gets "CID unix-time
[resent]" per send, --out one JSON line per reply ({"cid", "body", "t",
"redelivered": the broker delivered this reply before}).  It ends when
every request has a reply and --linger passed, or at --timeout; prints
  sent=N resent=K replies=R unique=U duplicates=D redelivered=X
and exits 0 when every request got a reply.

inflate-credit is a TCP relay between a client and the broker that adds K
to every non-zero link-credit of the client's flow frames, so the broker
sends more transfers than the client granted -- the over-delivery a real
broker sometimes does.  It writes its port to --port-file, and after each
flow "flows=N max_credit=C negative=X" (credit as the client sent it; X
counts values of 2^31 and more, i.e. a negative credit wrapped) to
--stats-file.
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

from proton import Data, Described, Message, symbol, timestamp, uint
from proton.utils import BlockingConnection


def connect():
    url = os.environ["BROKER_AMQP_URL"]
    with open(os.environ["BROKER_PASSWORD_FILE"]) as f:
        pw = f.read().strip()
    return BlockingConnection(url, user=os.environ["BROKER_USER"], password=pw,
                              allowed_mechs="PLAIN", timeout=30)


def send(conn, a):
    snd = conn.create_sender(a.address)
    body = a.body
    if a.body_file:
        with open(a.body_file) as f:
            body = f.read()
    now_ms = int(time.time() * 1000)

    def one(cid, reply_to):
        if a.amqp_map:
            b = {"id": cid, "op": "health"}  # an AMQP map, not a JSON text
        elif a.body_bytes:
            head = b'{"v": 1, "id": "' + cid.encode() + b'", "op": "health", "params": {}, "pad": "'
            b = head + b"x" * max(a.body_bytes - len(head) - 2, 0) + b'"}'
        else:
            b = body.replace("@CID@", cid) if body is not None else json.dumps({"n": cid})
        m = Message(body=b, reply_to=reply_to, correlation_id=cid, id="m-" + cid)
        if a.ttl:
            m.ttl = a.ttl / 1000.0
        if a.locked_until is not None:   # Azure Service Bus's lock annotation, now + MS
            m.annotations = {symbol("x-opt-locked-until"): timestamp(now_ms + a.locked_until)}
        if a.expired:
            m.expiry_time = (now_ms - 60000) / 1000.0  # an hour-old deadline: already past
        snd.send(m, timeout=60)

    for i in range(a.n):
        if a.poison_at is not None and i == a.poison_at:
            one("%s-poison" % a.prefix, a.poison_reply_to)
        one("%s-%d" % (a.prefix, i), a.reply_to)
    # No snd.close(): RabbitMQ 3.10 does not answer a closing detach, the
    # blocking API would wait for it; the connection close ends the link.


def collect(conn, a):
    rcv = conn.create_receiver("/queue/replies", credit=50)
    expected = {"%s-%d" % (a.prefix, i) for i in range(a.n)}
    seen = {}
    uncorrelated = 0
    out = open(a.out, "a") if a.out else None
    deadline = time.time() + a.timeout
    # Keep listening a little past N to catch duplicates.
    while time.time() < deadline:
        left = deadline - time.time()
        if len(seen) >= a.n:
            left = min(left, a.linger)
        try:
            m = rcv.receive(timeout=max(left, 0.1))
        except Exception:
            break
        rcv.accept()
        cid = m.correlation_id
        body = m.body
        if isinstance(body, (bytes, memoryview)):
            body = bytes(body).decode("utf-8", "replace")
        if out:
            out.write(json.dumps({"cid": cid, "body": body}) + "\n")
        if cid in expected:
            seen[cid] = seen.get(cid, 0) + 1
        else:
            uncorrelated += 1
        if len(seen) >= a.n and time.time() >= deadline:
            break
    if out:
        out.close()
    dups = sum(c - 1 for c in seen.values())
    print("replies=%d unique=%d duplicates=%d uncorrelated=%d"
          % (sum(seen.values()) + uncorrelated, len(seen), dups, uncorrelated))
    return 0 if len(seen) == a.n and dups == 0 and uncorrelated == 0 else 1


# ---- inflate-credit: a relay that makes the broker over-deliver ----

FLOW = 0x13


def _relay(src, dst, rewrite):
    """Copies src to dst; AMQP frames (after the protocol headers) go
    through rewrite(frame) -> frame."""
    buf = b""
    headers = 0
    try:
        while True:
            chunk = src.recv(65536)
            if not chunk:
                break
            if rewrite is None:
                dst.sendall(chunk)
                continue
            buf += chunk
            out = b""
            while True:
                if buf[:4] == b"AMQP":
                    if len(buf) < 8:
                        break
                    out += buf[:8]
                    buf = buf[8:]
                    headers += 1
                    continue
                if len(buf) < 8:
                    break
                size = struct.unpack(">I", buf[:4])[0]
                if len(buf) < size:
                    break
                frame, buf = buf[:size], buf[size:]
                out += rewrite(frame) if headers >= 2 else frame  # SASL frames untouched
            if out:
                dst.sendall(out)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def inflate_credit(a):
    host, port = a.to.rsplit(":", 1)
    stats = {"flows": 0, "max_credit": 0, "negative": 0}
    lock = threading.Lock()

    def rewrite(frame):
        doff, ftype = frame[4], frame[5]
        body = frame[doff * 4:]
        if ftype != 0 or not body:
            return frame
        d = Data()
        n = d.decode(body)
        d.rewind()
        d.next()
        perf = d.get_object()
        if not isinstance(perf, Described) or perf.descriptor != FLOW or len(perf.value) < 7:
            return frame
        fields = list(perf.value)
        credit = fields[6]
        if fields[4] is None or credit is None:
            return frame  # a session flow, no link
        with lock:
            stats["flows"] += 1
            stats["max_credit"] = max(stats["max_credit"], int(credit))
            if int(credit) >= 2 ** 31:
                stats["negative"] += 1
            with open(a.stats_file, "w") as f:
                f.write("flows=%d max_credit=%d negative=%d\n" % (stats["flows"], stats["max_credit"],
                                                                   stats["negative"]))
        if int(credit) == 0:
            return frame
        fields[6] = uint(int(credit) + a.extra)
        e = Data()
        e.put_object(Described(perf.descriptor, fields))
        nbody = e.encode() + body[n:]
        head = frame[4:doff * 4]
        return struct.pack(">I", 4 + len(head) + len(nbody)) + head + nbody

    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((a.listen, 0))
    ls.listen(16)
    with open(a.port_file, "w") as f:
        f.write("%d\n" % ls.getsockname()[1])
    while True:
        c, _ = ls.accept()
        try:
            u = socket.create_connection((host, int(port)))
        except OSError:   # the broker is down (restarting): the client tries again
            c.close()
            continue
        threading.Thread(target=_relay, args=(c, u, rewrite), daemon=True).start()
        threading.Thread(target=_relay, args=(u, c, None), daemon=True).start()


# ---- stream: a long run of numbered requests, reconnecting across faults ----

def _retrying(stop, what):
    """Calls what(conn) on a fresh connection until it returns, reconnecting
    every 0.5 s after a failure (the broker restarting) until stop is set."""
    while not stop.is_set():
        conn = None
        try:
            conn = connect()
            return what(conn)
        except Exception:
            time.sleep(0.5)
        finally:
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass


def stream(a):
    bodies = [json.loads(l) for l in open(a.bodies_file) if l.strip()]
    cids = ["%s-%d" % (a.prefix, i) for i in range(a.n)]
    stop = threading.Event()
    lock = threading.Lock()
    seen = {}
    counts = {"resent": 0, "replies": 0, "redelivered": 0}
    sent_log = open(a.sent_file, "a", buffering=1)
    out = open(a.out, "a", buffering=1)
    end = time.time() + a.timeout
    state = {"next": 0, "tries": 0}

    def sender(conn):
        senders = {}
        period = 1.0 / a.rate
        due = time.time()
        while state["next"] < a.n and not stop.is_set():
            i = state["next"]
            b = bodies[i % len(bodies)]
            if b["address"] not in senders:
                senders[b["address"]] = conn.create_sender(b["address"])
            due = max(due, time.time())
            time.sleep(max(due - time.time(), 0))
            m = Message(body=b["body"].replace("@CID@", cids[i]), reply_to=a.reply_to, correlation_id=cids[i],
                        id="m-" + cids[i], durable=True)
            state["tries"] += 1
            sent_log.write("%s %.3f%s\n" % (cids[i], time.time(), " resent" if state["tries"] > 1 else ""))
            if state["tries"] > 1:
                counts["resent"] += 1
            senders[b["address"]].send(m, timeout=10)   # waits for the broker's accept
            state["next"] += 1
            state["tries"] = 0
            due += period

    def receiver(conn):
        rcv = conn.create_receiver(a.reply_to, credit=100)
        while not stop.is_set():
            try:
                m = rcv.receive(timeout=1)
            except Exception as e:
                if type(e).__name__ == "Timeout":
                    continue
                raise
            body = m.body
            if isinstance(body, (bytes, memoryview)):
                body = bytes(body).decode("utf-8", "replace")
            red = m.first_acquirer is False or (m.delivery_count or 0) > 0
            out.write(json.dumps({"cid": m.correlation_id, "body": body, "t": round(time.time(), 3),
                                  "redelivered": red}) + "\n")
            with lock:
                seen[m.correlation_id] = seen.get(m.correlation_id, 0) + 1
                counts["replies"] += 1
                counts["redelivered"] += red
            rcv.accept()

    rt = threading.Thread(target=_retrying, args=(stop, receiver), daemon=True)
    rt.start()
    _retrying(stop, sender)
    complete_at = None
    while time.time() < end:
        with lock:
            n = sum(1 for c in cids if c in seen)
        if n == a.n and complete_at is None:
            complete_at = time.time()
        if complete_at is not None and time.time() >= complete_at + a.linger:
            break
        time.sleep(0.2)
    stop.set()
    rt.join(5)
    with lock:
        unique = sum(1 for c in cids if c in seen)
        dups = sum(v - 1 for v in seen.values())
        print("sent=%d resent=%d replies=%d unique=%d duplicates=%d redelivered=%d"
              % (state["next"], counts["resent"], counts["replies"], unique, dups, counts["redelivered"]))
    return 0 if unique == a.n else 1


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["send", "collect", "roundtrip", "inflate-credit", "stream"])
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--prefix", default="c")
    p.add_argument("--body")
    p.add_argument("--body-file")
    p.add_argument("--ttl", type=int, default=0)
    p.add_argument("--expired", action="store_true")
    p.add_argument("--address", default="/queue/requests", help="where requests go")
    p.add_argument("--locked-until", type=int, help="x-opt-locked-until = now + this many ms (may be negative)")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--linger", type=float, default=1.0)
    p.add_argument("--out")
    p.add_argument("--reply-to", default="/queue/replies")
    p.add_argument("--poison-at", type=int)
    p.add_argument("--poison-reply-to")
    p.add_argument("--body-bytes", type=int, default=0)
    p.add_argument("--amqp-map", action="store_true")
    p.add_argument("--to")
    p.add_argument("--extra", type=int, default=3)
    p.add_argument("--port-file")
    p.add_argument("--stats-file")
    p.add_argument("--listen", default="127.0.0.1", help="inflate-credit: the address the relay listens on")
    p.add_argument("--rate", type=float, default=20, help="stream: requests a second")
    p.add_argument("--bodies-file")
    p.add_argument("--sent-file")
    a = p.parse_args()
    if a.cmd == "inflate-credit":
        inflate_credit(a)
        return 0
    if a.cmd == "stream":
        return stream(a)
    conn = connect()
    rc = 0
    if a.cmd in ("send", "roundtrip"):
        send(conn, a)
    if a.cmd in ("collect", "roundtrip"):
        rc = collect(conn, a)
    try:
        conn.close()
    except Exception:
        pass
    return rc


if __name__ == "__main__":
    sys.exit(main())
