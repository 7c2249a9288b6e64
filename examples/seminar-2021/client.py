#!/usr/bin/env python3
"""The seminar report's UDP file client (seminar report of 21-05-2021, "client code"), rewritten from the
report's description for udplab's endpoint contract: client.py HOST PORT REMOTE LOCAL.

As in the report: it sends the file name, reads the answer with recvfrom(1024), and on "EXISTS <size>" writes
every datagram it receives, in arrival order, straight into the final file until it has COUNTED <size> bytes.
No sequence numbers, no acknowledgements, no check of what arrived: reordering and duplication give a wrong
file (duplicates also end it early), loss gives a transfer that never reaches its count.

Changes, all said here: the file goes to LOCAL instead of 'new_' + the answer; a stall timeout
(SEMINAR_STALL_S seconds without a datagram, default 3, as udplab's own port of this program; 0 blocks forever
like the report's client) ends a stalled transfer with "stalled at N of M bytes" and exit status 1, leaving
the partial file where it was written; and the socket asks for a 4 MiB receive buffer (SEMINAR_RCVBUF bytes;
0 keeps the OS default, as the report's client does), so that a clean path stays clean: with Linux's default
~208 KiB the server outruns this client and a clean run stalls by chance (the lesson of teaching scenario 05).
"""
import os
import socket
import sys


def main():
    if len(sys.argv) != 5:
        print("usage: client.py HOST PORT REMOTE LOCAL", file=sys.stderr)
        return 2
    host, port, remote, local = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    stall = float(os.environ.get("SEMINAR_STALL_S", "3"))
    addr = (host, port)
    client = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(stall if stall > 0 else None)
    rcvbuf = int(os.environ.get("SEMINAR_RCVBUF", str(4 << 20)))
    if rcvbuf > 0:
        client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # capped by net.core.rmem_max

    client.sendto(remote.encode("utf-8"), addr)
    total_recv = 0
    filesize = None
    try:
        data, addr = client.recvfrom(1024)
        data = data.decode("utf-8", errors="replace")
        if data[:6] != "EXISTS":
            print("file does'nt exist (the first answer was not EXISTS <size>)", file=sys.stderr)
            return 1
        filesize = int(data[6:])
        with open(local, "wb") as f:
            while total_recv < filesize:
                data, addr = client.recvfrom(1024)
                total_recv += len(data)
                f.write(data)
        print("download complete !!", file=sys.stderr)
        return 0
    except socket.timeout:
        if filesize is None:
            print(f"stalled at 0 bytes: no answer to the request for {remote}", file=sys.stderr)
        else:
            print(f"stalled at {total_recv} of {filesize} bytes", file=sys.stderr)
        return 1
    finally:
        client.close()


if __name__ == "__main__":
    sys.exit(main())
