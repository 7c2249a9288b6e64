"""The wire format shared by server.py and client.py.

Every datagram is

    crc32 (4 bytes) | type (1 byte) | transfer id (4 bytes) | seq (4 bytes) | payload

in network byte order. The CRC32 (zlib) covers everything after it; a datagram whose CRC does not match is
dropped as if it had been lost, and retransmission repairs it. The transfer id is a random number the client
picks for each download, so a server can tell two downloads from one address apart.

    REQ     client -> server   seq 0, payload = the file name (UTF-8)
    META    server -> client   seq 0, payload = file size (8 bytes) + SHA-256 of the file (32 bytes)
    ERR     server -> client   seq 0, payload = a reason (UTF-8)
    DATA    server -> client   seq n, payload = bytes [n * BLOCK, n * BLOCK + BLOCK) of the file
    ACK     client -> server   seq n: block n arrived (sent for every DATA, duplicates too)
    FIN     client -> server   seq 0: "I have the whole file and it verified; forget me"
    FINACK  server -> client   seq 0: "forgotten"
"""
import struct
import zlib

BLOCK = 1024  # payload bytes per DATA datagram, as the seminar's program
HEADER = struct.Struct("!IBII")  # crc32, type, transfer id, seq
META_BODY = struct.Struct("!Q32s")  # size, sha256

REQ, META, ERR, DATA, ACK, FIN, FINACK = range(1, 8)
NAMES = {REQ: "REQ", META: "META", ERR: "ERR", DATA: "DATA", ACK: "ACK", FIN: "FIN", FINACK: "FINACK"}


def pack(kind, tid, seq=0, payload=b""):
    body = HEADER.pack(0, kind, tid, seq)[4:] + payload
    return struct.pack("!I", zlib.crc32(body)) + body


def unpack(datagram):
    """(type, transfer id, seq, payload), or None when the datagram is short, corrupt or of no known type."""
    if len(datagram) < HEADER.size:
        return None
    crc, kind, tid, seq = HEADER.unpack_from(datagram)
    if zlib.crc32(datagram[4:]) != crc or kind not in NAMES:
        return None
    return kind, tid, seq, datagram[HEADER.size :]


def blocks(size):
    """How many DATA blocks a file of `size` bytes takes."""
    return (size + BLOCK - 1) // BLOCK
