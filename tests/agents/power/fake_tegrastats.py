"""A stand-in for `tegrastats`, run as a real process: prints the lines of a file, one per
--interval milliseconds, cycling, flushing each; `--lines N` exits after N lines."""

import argparse
import sys
import time

parser = argparse.ArgumentParser()
parser.add_argument("lines_file")
parser.add_argument("--interval", type=int, default=1000)
parser.add_argument("--lines", type=int, default=0)
args = parser.parse_args()
lines = [ln for ln in open(args.lines_file).read().splitlines() if ln.strip()]
printed = 0
while not args.lines or printed < args.lines:
    sys.stdout.write(lines[printed % len(lines)] + "\n")
    sys.stdout.flush()
    printed += 1
    time.sleep(args.interval / 1000)
