#!/usr/bin/python3
"""Test client for the cloud link (Debian's python3-qpid-proton).

  amqp_client.py send   --n N [--body TEXT | --body-file F] [--prefix P] [--ttl MS] [--expired]
  amqp_client.py collect --n N [--timeout S] [--out FILE]
  amqp_client.py roundtrip --n N [...both]

Connection from BROKER_AMQP_URL, BROKER_USER, BROKER_PASSWORD_FILE.
Requests go to /queue/requests with reply_to /queue/replies (RabbitMQ 3.10
refuses dynamic reply queues, so the reply queue is fixed) and correlation
ids P-0 .. P-(N-1).  collect prints a summary line
  replies=R unique=U duplicates=D uncorrelated=X
and writes one JSON line per reply ({"cid":..., "body":...}) to --out.
Exit 0 when exactly N distinct expected correlation ids came back.
"""
import argparse
import json
import os
import sys
import time

from proton import Message
from proton.utils import BlockingConnection


def connect():
    url = os.environ["BROKER_AMQP_URL"]
    with open(os.environ["BROKER_PASSWORD_FILE"]) as f:
        pw = f.read().strip()
    return BlockingConnection(url, user=os.environ["BROKER_USER"], password=pw,
                              allowed_mechs="PLAIN", timeout=30)


def send(conn, a):
    snd = conn.create_sender("/queue/requests")
    body = a.body
    if a.body_file:
        with open(a.body_file) as f:
            body = f.read()
    now_ms = int(time.time() * 1000)
    for i in range(a.n):
        cid = "%s-%d" % (a.prefix, i)
        b = body.replace("@CID@", cid) if body is not None else json.dumps({"n": i})
        m = Message(body=b, reply_to="/queue/replies", correlation_id=cid, id="m-" + cid)
        if a.ttl:
            m.ttl = a.ttl / 1000.0
        if a.expired:
            m.expiry_time = (now_ms - 60000) / 1000.0  # an hour-old deadline: already past
        snd.send(m, timeout=30)
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


def main():
    p = argparse.ArgumentParser()
    p.add_argument("cmd", choices=["send", "collect", "roundtrip"])
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--prefix", default="c")
    p.add_argument("--body")
    p.add_argument("--body-file")
    p.add_argument("--ttl", type=int, default=0)
    p.add_argument("--expired", action="store_true")
    p.add_argument("--timeout", type=float, default=30)
    p.add_argument("--linger", type=float, default=1.0)
    p.add_argument("--out")
    a = p.parse_args()
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
