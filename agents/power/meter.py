"""An external power meter (a wall-plug meter, a bench supply, a lab DAQ) read by command or TCP.

Command mode (`command`): the command runs once per read, without a shell, and must exit 0
within `timeout_s` printing one line: either a bare number, in the unit given by the `unit`
option (W or J), or the number tagged with its unit as in the TCP protocol (`W 12.5`).

TCP mode (`address` = host:port), a line protocol in ASCII, each line ending in `\\n`:

    agent -> meter:  READ
    meter -> agent:  W <watts>       instantaneous power, e.g. `W 12.5`
                     J <joules>      a cumulative energy counter that never decreases,
                                     e.g. `J 1234.5` (any origin: only differences are used)
                     ERR <message>   the meter cannot answer; the sampler stops with it

The agent opens one connection when the sensor opens, keeps it for the run, sends `READ` and
waits for the answer before it sends the next one. The meter is one rail, named by `rail`.
"""

from __future__ import annotations

import math
import shlex
import socket
import subprocess
import time
from dataclasses import dataclass
from typing import IO, Callable, List, Tuple

from agents.errors import SensorUnavailable, UserError, clip
from agents.power.base import Clock, PowerSensor, Reading, stamped

# Aliases are evaluated at run time: typing's generics, while boards run Python 3.8.
Runner = Callable[[List[str], float], str]
Connect = Callable[[Tuple[str, int], float], socket.socket]
UNITS = ("W", "J")


def run_command(argv: list[str], timeout_s: float) -> str:
    """The production command runner: stdout of `argv`, which must exit 0 within `timeout_s`."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    if done.returncode != 0:
        raise OSError(f"exit code {done.returncode}: {clip(done.stderr.strip())}")
    return done.stdout


@dataclass
class MeterOptions:
    """command: run per read (prints watts or joules). address: host:port of a meter speaking
    the TCP protocol. unit: W or J, for a command printing a bare number. rail: the rail's name.
    timeout_s: per read. interval_s: the meter's update interval; never polled faster."""

    command: str | None = None
    address: str | None = None
    unit: str = "W"
    rail: str = "meter"
    timeout_s: float = 2.0
    interval_s: float = 0.05

    def validate(self, source: str) -> None:
        """Exactly one of command and address; a known unit; a host:port address."""
        if (self.command is None) == (self.address is None):
            raise UserError(f"{source}: give exactly one of command and address")
        if self.unit not in UNITS:
            raise UserError(f"{source}: unit must be W or J, got {self.unit!r}")
        if self.address is not None:
            host, _, port = self.address.rpartition(":")
            if not host or not port.isdigit():
                raise UserError(f"{source}: address must be host:port, got {self.address!r}")
        if self.timeout_s <= 0 or self.interval_s <= 0:
            raise UserError(f"{source}: timeout_s and interval_s must be > 0")


class MeterSensor(PowerSensor):
    """One rail read from an external meter: power (W) or a cumulative energy counter (J)."""

    name = "meter"
    Options = MeterOptions

    def __init__(self, options: MeterOptions, clock: Clock = time.perf_counter_ns,
                 run: Runner = run_command, connect: Connect = socket.create_connection):
        self.options, self._clock, self._run = options, clock, run
        self._sock: socket.socket | None = None
        self._lines: IO[bytes] | None = None
        if options.address is not None:
            host, _, port = options.address.rpartition(":")
            try:
                self._sock = connect((host.strip("[]"), int(port)), options.timeout_s)
            except OSError as e:
                raise SensorUnavailable("meter", f"cannot connect to {options.address}: {e}") from e
            self._lines = self._sock.makefile("rb")
        try:
            self.read()  # a meter that cannot answer once is unusable: say so now, not mid-run
        except SensorUnavailable:
            self.close()
            raise

    @property
    def min_interval_s(self) -> float:
        """The `interval_s` option: how often the meter has a new value."""
        return self.options.interval_s

    def rails(self) -> list[str]:
        """The one rail, named by the `rail` option."""
        return [self.options.rail]

    def summed_rails(self) -> list[str]:
        """The one rail."""
        return [self.options.rail]

    def read(self) -> Reading:
        """Ask the meter once.

        Raises:
            SensorUnavailable: no answer, ERR, or an answer that is not a tagged number.
        """
        t_ns, text = stamped(self._clock, self._ask)
        unit, value = _parse(text, self.options.unit if self._sock is None else None)
        rail = self.options.rail
        if unit == "W":
            return Reading(t_ns=t_ns, power_w={rail: value})
        return Reading(t_ns=t_ns, energy_j={rail: value})

    def close(self) -> None:
        """Close the TCP connection, if any."""
        if self._lines is not None:
            self._lines.close()
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def _ask(self) -> str:
        where = self.options.address or self.options.command
        try:
            if self._sock is None or self._lines is None:
                argv = shlex.split(self.options.command or "")
                return self._run(argv, self.options.timeout_s)
            self._sock.sendall(b"READ\n")
            line = self._lines.readline()
        except (OSError, subprocess.SubprocessError) as e:
            raise SensorUnavailable("meter", f"{where}: {e}") from e
        if not line:
            raise SensorUnavailable("meter", f"{where}: the meter closed the connection")
        return line.decode("ascii", "replace")


def _parse(text: str, bare_unit: str | None) -> tuple[str, float]:
    """(unit, value) from one answer; `bare_unit` is the unit of an untagged number, if allowed."""
    parts = text.strip().split()
    if parts and parts[0] == "ERR":
        raise SensorUnavailable("meter", f"the meter answered: {' '.join(parts[1:]) or 'ERR'}")
    if len(parts) == 1 and bare_unit is not None:
        parts = [bare_unit, parts[0]]
    try:
        if len(parts) == 2 and parts[0] in UNITS and math.isfinite(float(parts[1])):
            return parts[0], float(parts[1])
    except ValueError:
        pass
    expect = "'W <watts>' or 'J <joules>'" + (" or a bare number" if bare_unit else "")
    raise SensorUnavailable("meter", f"unexpected answer {text.strip()[:60]!r}; expected {expect}")
