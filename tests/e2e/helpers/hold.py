#!/usr/bin/python3
"""Hold one TCP connection open across a change, run inside a client pod.

usage: hold.py IP PORT [SPORT]
Connects (from SPORT if given), prints the server's name, then for each line read on stdin sends
it and prints what the server echoes ("error: ..." when the connection
broke), until stdin closes.
"""
import socket
import sys


def main():
    src = ("0.0.0.0", int(sys.argv[3])) if len(sys.argv) > 3 else None
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5,
                                 source_address=src)
    f = s.makefile("rwb")
    print(f.readline().decode().strip(), flush=True)
    for line in sys.stdin:
        try:
            f.write(line.encode())
            f.flush()
            got = f.readline().decode().strip()
            print(got if got else "error: closed", flush=True)
        except OSError as e:
            print("error: %s" % type(e).__name__, flush=True)


if __name__ == "__main__":
    main()
