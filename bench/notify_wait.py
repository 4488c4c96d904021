#!/usr/bin/python3
"""Waits for a daemon's sd_notify READY=1 on an abstract datagram socket.

    notify_wait.py NAME TIMEOUT

Binds the abstract socket @NAME (the daemon gets NOTIFY_SOCKET=@NAME), prints
"listening" once bound, then "READY" when a datagram containing READY=1
arrives and exits 0; exits 1 after TIMEOUT seconds without one.
"""
import socket
import sys
import time


def main():
    name, timeout = sys.argv[1], float(sys.argv[2])
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("\0" + name)
    print("listening", flush=True)
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            print("TIMEOUT", flush=True)
            return 1
        s.settimeout(left)
        try:
            msg = s.recv(4096)
        except socket.timeout:
            continue
        if b"READY=1" in msg.split(b"\n"):
            print("READY", flush=True)
            return 0


if __name__ == "__main__":
    sys.exit(main())
