#!/usr/bin/env python3
"""A reliable UDP file server: the seminar's program, fixed (see README.md). Usage: server.py BIND PORT ROOT.

One thread, one socket, one select() loop. Each download is a Transfer, keyed by (client address, transfer
id): two clients never share state, and a request repeated by a client (its REQ was slow, or our META was
lost) finds its own transfer again instead of starting a second one. A transfer sends up to WINDOW blocks
ahead of the oldest unacknowledged one (a small selective-repeat window; WINDOW = 1 is stop-and-wait), times
every block, and sends a block again when its timer runs out, doubling that block's timeout each time (backoff)
up to RTO_MAX. A transfer that hears nothing from its client for GIVE_UP seconds is dropped.
"""
import hashlib
import os
import select
import socket
import sys
import time

from wire import ACK, BLOCK, DATA, ERR, FIN, FINACK, META, META_BODY, REQ, blocks, pack, unpack

WINDOW = 32  # blocks in flight per transfer
RTO_INITIAL = 0.5  # seconds, before the first round-trip sample
RTO_MIN, RTO_MAX = 0.2, 2.0  # bounds of a block's timeout, backoff included
GIVE_UP = 30.0  # seconds without a datagram from the client
MAX_TRANSFERS = 256  # concurrent downloads; further requests are ignored until one ends


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.digest()


class Transfer:
    def __init__(self, sock, addr, tid, path):
        self.sock, self.addr, self.tid = sock, addr, tid
        self.file = open(path, "rb")
        self.size = os.fstat(self.file.fileno()).st_size
        self.meta = META_BODY.pack(self.size, sha256_of(path))
        self.total = blocks(self.size)
        self.next_new = 0  # the lowest block never sent
        self.unacked = {}  # seq -> [first send time, deadline, retransmissions]
        self.srtt = None  # smoothed round-trip time and its variation (RFC 6298)
        self.rttvar = 0.0
        self.rto = RTO_INITIAL
        self.last_heard = time.monotonic()
        self.sent = self.resent = 0

    def send(self, kind, seq=0, payload=b""):
        self.sock.sendto(pack(kind, self.tid, seq, payload), self.addr)

    def send_meta(self):
        self.send(META, 0, self.meta)

    def send_block(self, seq, now, retries):
        self.file.seek(seq * BLOCK)
        self.send(DATA, seq, self.file.read(BLOCK))
        timeout = min(RTO_MAX, self.rto * (2**retries))  # exponential backoff per block
        first = now if retries == 0 else self.unacked[seq][0]
        self.unacked[seq] = [first, now + timeout, retries]
        self.sent += 1
        self.resent += retries > 0

    def fill_window(self, now):
        while len(self.unacked) < WINDOW and self.next_new < self.total:
            self.send_block(self.next_new, now, 0)
            self.next_new += 1

    def on_ack(self, seq, now):
        entry = self.unacked.pop(seq, None)
        if entry is None:
            return  # a duplicate ACK, or one for a block acknowledged already
        first, _, retries = entry
        if retries == 0:  # Karn: a retransmitted block gives no honest sample
            sample = now - first
            if self.srtt is None:
                self.srtt, self.rttvar = sample, sample / 2
            else:
                self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - sample)
                self.srtt = 0.875 * self.srtt + 0.125 * sample
            self.rto = min(RTO_MAX, max(RTO_MIN, self.srtt + 4 * self.rttvar))
        self.fill_window(now)

    def on_timer(self, now):
        for seq, (_, deadline, retries) in list(self.unacked.items()):
            if now >= deadline:
                self.send_block(seq, now, retries + 1)

    def next_deadline(self):
        return min((e[1] for e in self.unacked.values()), default=None)

    def close(self):
        self.file.close()


def resolve(root, name):
    """The file `name` inside `root`, or None: plain names only, no paths."""
    if not name or "/" in name or "\\" in name or name in (".", "..") or "\0" in name:
        return None
    path = os.path.join(root, name)
    return path if os.path.isfile(path) else None


def serve(sock, root):
    transfers = {}  # (address, transfer id) -> Transfer
    while True:
        now = time.monotonic()
        deadlines = [d for t in transfers.values() if (d := t.next_deadline()) is not None]
        wait = max(0.0, min(deadlines) - now) if deadlines else 1.0
        readable, _, _ = select.select([sock], [], [], min(wait, 1.0))
        now = time.monotonic()
        if readable:
            datagram, addr = sock.recvfrom(2048)
            try:
                handle(sock, root, transfers, datagram, addr, now)
            except OSError as e:  # an unreadable file, a send that failed: that datagram only, never the server
                log(f"{addr_str(addr)}: {e}")
        for key, t in list(transfers.items()):
            if now - t.last_heard > GIVE_UP:
                log(f"{addr_str(t.addr)} #{t.tid:08x}: silent for {GIVE_UP:.0f} s, giving up")
                t.close()
                del transfers[key]
            else:
                t.on_timer(now)


def handle(sock, root, transfers, datagram, addr, now):
    packet = unpack(datagram)
    if packet is None:
        return  # corrupt or foreign: dropped, the sender's timer repairs it
    kind, tid, seq, payload = packet
    key = (addr, tid)
    t = transfers.get(key)
    if t is not None:
        t.last_heard = now
    if kind == REQ:
        if t is not None:
            t.send_meta()  # the client did not get our META yet
            return
        if len(transfers) >= MAX_TRANSFERS:
            return
        name = payload.decode("utf-8", errors="replace")
        path = resolve(root, name)
        if path is None:
            sock.sendto(pack(ERR, tid, 0, f"no such file: {name}".encode()), addr)
            return
        t = transfers[key] = Transfer(sock, addr, tid, path)
        log(f"{addr_str(addr)} #{tid:08x}: {name}, {t.size} bytes in {t.total} blocks")
        t.send_meta()
        t.fill_window(now)
    elif kind == ACK and t is not None:
        t.on_ack(seq, now)
    elif kind == FIN:
        sock.sendto(pack(FINACK, tid), addr)  # also for a transfer already forgotten (our FINACK was lost)
        if t is not None:
            log(f"{addr_str(addr)} #{tid:08x}: done, {t.sent} datagrams sent, {t.resent} of them again")
            t.close()
            del transfers[key]


def addr_str(addr):
    return f"{addr[0]}:{addr[1]}"


def main():
    if len(sys.argv) != 4:
        log("usage: server.py BIND PORT ROOT")
        return 2
    bind, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    sock = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((bind, port))
    log(f"listening on {bind} port {port}, serving {root}")
    try:
        serve(sock, root)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
