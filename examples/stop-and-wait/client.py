#!/usr/bin/env python3
"""A reliable UDP file client: the seminar's program, fixed (see README.md).
Usage: client.py HOST PORT REMOTE LOCAL. Exit status 0 only when LOCAL holds the whole file and its SHA-256
matches the server's; 1 when the server says no, goes silent for GIVE_UP seconds, or the file does not verify.

The client asks for REMOTE with a random transfer id and repeats the request (with backoff) until the server's
META (size and SHA-256) arrives. It acknowledges every DATA block it receives, duplicates too (the server may
have missed the first ACK), writes each new block at its place in a temporary file next to LOCAL, and when it
holds every block it checks the SHA-256, renames the temporary file to LOCAL, and says goodbye (FIN, until the
server's FINACK or FIN_TRIES tries).
"""
import hashlib
import os
import random
import select
import socket
import sys
import tempfile
import time

from wire import ACK, BLOCK, DATA, ERR, FIN, FINACK, META, META_BODY, REQ, blocks, pack, unpack

GIVE_UP = 20.0  # seconds without a valid datagram from the server (outlasts a multi-second blackout)
REQ_RTO, REQ_RTO_MAX = 0.25, 2.0  # request retransmission: first timeout, backoff cap
FIN_TRIES, FIN_RTO = 5, 0.3


class GiveUp(Exception):
    pass


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def receive(sock, server, tid, remote, tmp):
    """Fills `tmp` with the file; returns (size, sha256 the server announced)."""
    meta = None  # (size, sha256) once META arrived
    have = set()  # blocks written
    corrupt = duplicates = 0
    last_heard = time.monotonic()
    req_rto, next_req = REQ_RTO, 0.0
    while meta is None or len(have) < blocks(meta[0]):
        now = time.monotonic()
        if now - last_heard > GIVE_UP:
            held = f"{len(have)} of {blocks(meta[0])} blocks" if meta else "no answer to the request"
            raise GiveUp(f"nothing from the server for {GIVE_UP:.0f} s ({held})")
        if meta is None and now >= next_req:
            sock.sendto(pack(REQ, tid, 0, remote.encode("utf-8")), server)
            next_req, req_rto = now + req_rto, min(REQ_RTO_MAX, req_rto * 2)
        wait = min(next_req - now, 1.0) if meta is None else 1.0
        if not select.select([sock], [], [], max(0.0, wait))[0]:
            continue
        datagram, _ = sock.recvfrom(2048)
        packet = unpack(datagram)
        if packet is None:
            corrupt += 1
            continue
        kind, ptid, seq, payload = packet
        if ptid != tid:
            continue  # an old transfer's straggler
        last_heard = time.monotonic()
        if kind == ERR:
            raise GiveUp("server: " + payload.decode("utf-8", errors="replace"))
        if kind == META and meta is None:
            meta = META_BODY.unpack(payload)
        elif kind == DATA:
            sock.sendto(pack(ACK, tid, seq), server)
            if seq in have:
                duplicates += 1
            elif meta is None or seq < blocks(meta[0]):
                tmp.seek(seq * BLOCK)
                tmp.write(payload)
                have.add(seq)
    log(f"{len(have)} blocks, {duplicates} duplicates, {corrupt} corrupt datagrams dropped")
    return meta


def say_goodbye(sock, server, tid):
    for _ in range(FIN_TRIES):
        sock.sendto(pack(FIN, tid), server)
        deadline = time.monotonic() + FIN_RTO
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            packet = unpack(sock.recvfrom(2048)[0])
            if packet and packet[1] == tid:
                if packet[0] == FINACK:
                    return True
                if packet[0] == DATA:  # our last ACK was lost: the server is still sending that block
                    sock.sendto(pack(ACK, tid, packet[2]), server)
    return False


def main():
    if len(sys.argv) != 5:
        log("usage: client.py HOST PORT REMOTE LOCAL")
        return 2
    host, port, remote, local = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server = (host, port)
    sock = socket.socket(family, socket.SOCK_DGRAM)
    tid = random.getrandbits(32)
    fd, tmp_path = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(local)), prefix=".saw-", suffix=".part")
    try:
        with os.fdopen(fd, "w+b") as tmp:
            size, sha = receive(sock, server, tid, remote, tmp)
            tmp.truncate(size)
            tmp.flush()
            os.fsync(tmp.fileno())
            tmp.seek(0)
            got = hashlib.file_digest(tmp, "sha256").digest()
        if got != sha:
            raise GiveUp(f"the received file does not match the server's SHA-256 ({got.hex()[:16]}…)")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp made it private; the final file gets the usual mode
        os.replace(tmp_path, local)  # only a complete, verified file ever stands under LOCAL
        if not say_goodbye(sock, server, tid):
            log(f"no FINACK after {FIN_TRIES} tries; the file is complete, the server forgets us by itself")
        log(f"{remote}: {size} bytes, SHA-256 {sha.hex()} verified, written to {local}")
        return 0
    except GiveUp as e:
        log(f"giving up: {e}")
        return 1
    finally:
        if os.path.exists(tmp_path):
            os.unlink(tmp_path)
        sock.close()


if __name__ == "__main__":
    sys.exit(main())
