"""A tiny, deliberately permissive implementation of the jitsu wire format
(include/jitsu/proto.h), for tests that play a broken or hostile client.

Everything here can build messages the real client never would: any magic,
version, reserved bytes or length in the header, any fds, any payload. The
receive side is strict and bounded by the socket's timeout, so a test that
waits for an answer can never hang.
"""
import array
import errno
import os
import socket
import struct

MAGIC = b"JTSU"
VERSION = 1
HDR_LEN = 12
MAX_PAYLOAD = 1024 * 1024
MAX_ARGS = 4096
MAX_ARG_LEN = 128 * 1024
MAX_ENV = 128
MAX_ENV_LEN = 4096
MAX_SHORT = 4096
MAX_FDS = 4

REQ_EXEC, REQ_LIST, SIGNAL, RESUME, BYE, ANSWER, CANCEL = 1, 2, 3, 4, 5, 6, 7
ERROR, STARTED, EXIT, SUSPEND, TEXT, PROMPT, NOTICE = 64, 65, 66, 67, 68, 69, 70

E_DENIED, E_NOTFOUND, E_NOEXEC, E_PROTOCOL, E_INTERNAL, E_USAGE, E_BUSY = 1, 2, 3, 4, 5, 6, 7


# ---- encoding ---------------------------------------------------------------

def header(mtype, length, magic=MAGIC, version=VERSION, reserved=b"\0\0"):
    return magic + bytes([version, mtype]) + reserved + struct.pack(">I", length)


def frame(mtype, payload=b"", **hdr):
    """One message; header fields may be overridden to build bad ones."""
    return header(mtype, len(payload), **hdr) + payload


def u16(v):
    return struct.pack(">H", v)


def u32(v):
    return struct.pack(">I", v)


def string(s):
    if isinstance(s, str):
        s = s.encode()
    return u32(len(s)) + s


def strv(items, count=None):
    """A counted list of strings; count may lie about the number."""
    return u32(len(items) if count is None else count) + b"".join(string(x) for x in items)


def exec_payload(argv, target="", reason="", env=(), rows=0, cols=0, flags=0, argc=None,
                 envc=None, trailer=b""):
    return (u32(flags) + string(target) + string(reason) + strv(argv, argc) +
            strv(list(env), envc) + u16(rows) + u16(cols) + trailer)


# ---- sending ----------------------------------------------------------------

def send(sock, data, fds=()):
    """Sends data; fds go with the first byte, as proto_send does."""
    data = memoryview(data)
    first = True
    while first or len(data):
        anc = []
        if first and fds:
            anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        n = sock.sendmsg([data], anc)
        data = data[n:]
        first = False


# ---- receiving --------------------------------------------------------------

class ProtocolViolation(Exception):
    """The daemon sent something that is not a well-formed message."""


def _recv_exact(sock, n, fds, maxfds):
    buf = bytearray()
    while len(buf) < n:
        try:
            data, anc, flags, _ = sock.recvmsg(n - len(buf), socket.CMSG_SPACE(4 * maxfds))
        except ConnectionResetError:
            data, anc, flags = b"", [], 0
        for level, kind, cdata in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                a = array.array("i")
                a.frombytes(cdata[:len(cdata) - len(cdata) % a.itemsize])
                fds.extend(a)
        if flags & socket.MSG_CTRUNC:
            raise ProtocolViolation("control data truncated")
        if not data:
            if not buf:
                return None
            raise ProtocolViolation("EOF inside a message after %d of %d bytes" % (len(buf), n))
        buf += data
    return bytes(buf)


class Msg:
    def __init__(self, mtype, payload, fds):
        self.type, self.payload, self.fds = mtype, payload, fds

    def u32(self):
        if len(self.payload) != 4:
            raise ProtocolViolation("u32 message of %d bytes" % len(self.payload))
        return struct.unpack(">I", self.payload)[0]

    def u32x2(self):
        if len(self.payload) != 8:
            raise ProtocolViolation("u32x2 message of %d bytes" % len(self.payload))
        return struct.unpack(">II", self.payload)

    def string(self):
        (n,) = struct.unpack(">I", self.payload[:4])
        if n != len(self.payload) - 4:
            raise ProtocolViolation("string length %d in %d bytes" % (n, len(self.payload)))
        return self.payload[4:].decode(errors="replace")

    def error(self):
        """(code, message) of a PROTO_ERROR."""
        if self.type != ERROR:
            raise ProtocolViolation("expected ERROR, got type %d" % self.type)
        (code,) = struct.unpack(">I", self.payload[:4])
        return code, Msg(ERROR, self.payload[4:], []).string()

    def close_fds(self):
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def __repr__(self):
        return "Msg(type=%d, payload=%r, fds=%r)" % (self.type, self.payload[:80], self.fds)


def recv(sock, maxfds=1):
    """One message, or None on a clean EOF (or a reset) before a header.
    socket.timeout propagates: set one on the socket."""
    fds = []
    hdr = _recv_exact(sock, HDR_LEN, fds, maxfds)
    if hdr is None:
        return None
    if hdr[:4] != MAGIC or hdr[4] != VERSION or hdr[6:8] != b"\0\0":
        raise ProtocolViolation("bad header %r" % hdr)
    (n,) = struct.unpack(">I", hdr[8:])
    if n > MAX_PAYLOAD:
        raise ProtocolViolation("payload length %d" % n)
    payload = _recv_exact(sock, n, fds, maxfds) if n else b""
    if payload is None:
        raise ProtocolViolation("EOF after the header")
    return Msg(hdr[5], payload, fds)


def recv_all(sock, maxfds=1):
    """Every message until EOF (bounded by the socket's timeout)."""
    out = []
    while True:
        m = recv(sock, maxfds)
        if m is None:
            return out
        out.append(m)


# ---- connecting as somebody else -------------------------------------------

def connect_as(path, uid, gid, groups=(), timeout=10.0):
    """A stream socket connected to path by a child running as uid/gid.

    The kernel records the credentials of the process that connects
    (SO_PEERCRED, SO_PEERGROUPS), so the daemon sees the test user; the
    connected socket then comes back here over a socketpair, so the test
    can drive it with full control as root."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 1
        try:
            parent.close()
            os.setgroups(list(groups))
            os.setgid(gid)
            os.setuid(uid)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            child.sendmsg([b"k"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                    array.array("i", [s.fileno()]).tobytes())])
            code = 0
        except BaseException as e:  # report, never return into pytest
            try:
                child.sendall(b"E" + repr(e).encode()[:200])
            except BaseException:
                pass
        finally:
            os._exit(code)
    child.close()
    try:
        parent.settimeout(timeout)
        data, anc, _, _ = parent.recvmsg(256, socket.CMSG_SPACE(4))
    finally:
        parent.close()
        os.waitpid(pid, 0)
    if data != b"k" or not anc:
        raise OSError(errno.EIO, "connect_as failed: %r" % data)
    fd = array.array("i", anc[0][2][:4])[0]
    s = socket.socket(fileno=fd)
    s.settimeout(timeout)
    return s
