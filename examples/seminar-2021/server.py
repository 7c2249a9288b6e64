#!/usr/bin/env python3
"""The seminar report's UDP file server (seminar report of 21-05-2021, "Server code"), rewritten from the
report's description for udplab's endpoint contract: server.py BIND PORT ROOT.

What it does, as the report's program does:
  * every datagram is read with recvfrom(1024) and decoded as text;
  * "KEY" is answered with the toy Diffie-Hellman public key "14";
  * "!EXIT" stops the server;
  * anything else is a file name: the answer is "EXISTS <size>", then the file in 1024-byte datagrams
    as fast as the socket takes them, then one empty datagram. No sequence numbers, no acknowledgements,
    no checksum, no retransmission.
  * ONE peer address for the whole server, the global `addr`, overwritten by every datagram received and
    read again at every send (the report's retriveFile() sends to the global `addr`).

Deliberate bugs kept from the report: all of the above. See README.md for the list.

Two changes, both said here: each transfer runs in a thread of its own (the report's loop is single-threaded,
so there a second client waits; any threaded rewrite makes the shared `addr` re-point a running transfer to
the newest client, which is the bug the seminar teaches), and a name is looked up inside ROOT only, a missing
file being logged instead of crashing the process (the original crashes in os.path.getsize; nothing goes on
the wire in either case).
"""
import os
import socket
import sys
import threading

CHUNK = 1024  # the report's f.read(1024)
BUFSIZE = 1024  # the report's recvfrom(1024)
MY_PUBLIC_KEY = 14  # the report's toy key: prime 17, root 3, secret 89

addr = None  # the one global peer address, as in the report


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def retrive_file(server, root, filename):
    path = os.path.join(root, filename)
    if "/" in filename or filename in ("", ".", "..") or not os.path.isfile(path):
        log(f"{filename!r}: no such file (the original server crashes here)")
        return
    size = os.path.getsize(path)
    log(filename, "exists,", size, "bytes, sent to whoever spoke last")
    server.sendto(("EXISTS " + str(size)).encode("utf-8"), addr)
    with open(path, "rb") as f:
        bytes_to_send = f.read(CHUNK)
        server.sendto(bytes_to_send, addr)
        while bytes_to_send:
            bytes_to_send = f.read(CHUNK)
            server.sendto(bytes_to_send, addr)  # the last one is empty, as in the report


def main():
    global addr
    if len(sys.argv) != 4:
        log("usage: server.py BIND PORT ROOT")
        return 2
    bind, port, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET  # the report's is AF_INET only
    server = socket.socket(family, socket.SOCK_DGRAM)
    server.bind((bind, port))
    log("listening on", bind, port, "serving", root)
    while True:
        data, addr = server.recvfrom(BUFSIZE)
        data = data.decode("utf-8", errors="replace")
        if data == "!EXIT":
            log("Client disconnected.")
            break
        if data == "KEY":
            server.sendto(str(MY_PUBLIC_KEY).encode("utf-8"), addr)
        else:
            threading.Thread(target=retrive_file, args=(server, root, data), daemon=True).start()
    return 0


if __name__ == "__main__":
    sys.exit(main())
