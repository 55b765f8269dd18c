"""A stand-in external power meter speaking the TCP line protocol of agents.power.meter.

    python fake_meter.py --mode energy --watts 6.0   # answers READ with `J <6 W x seconds>`
    python fake_meter.py --mode power --watts 6.0    # answers READ with `W 6.0`
    python fake_meter.py --mode err                  # answers READ with `ERR overload`

Listens on 127.0.0.1 on an ephemeral port and prints the port on its first line.
"""

import argparse
import socket
import time

parser = argparse.ArgumentParser()
parser.add_argument("--mode", choices=["energy", "power", "err"], required=True)
parser.add_argument("--watts", type=float, default=0.0)
args = parser.parse_args()

server = socket.create_server(("127.0.0.1", 0))
print(server.getsockname()[1], flush=True)
t0 = time.perf_counter()


def answer(line: bytes) -> bytes:
    if line.strip() != b"READ":
        return b"ERR unknown command\n"
    if args.mode == "err":
        return b"ERR overload\n"
    if args.mode == "power":
        return f"W {args.watts}\n".encode()
    return f"J {args.watts * (time.perf_counter() - t0):.6f}\n".encode()


while True:
    conn, _ = server.accept()
    with conn, conn.makefile("rb") as lines:
        for line in lines:
            conn.sendall(answer(line))
