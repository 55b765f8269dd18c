"""The error hierarchy shared by the agent and the orchestrator.

Each class maps to one outcome a user sees: a `UserError` is one line and exit code 1, a
`ModelError` is a run stored with status `model-error` (not retried), an `InfraError` is a run
stored with status `infra-error` (retried elsewhere).
"""


def clip(text: str, limit: int = 2000, keep: str = "head") -> str:
    """`text` whole, or `limit` characters of it (its start, or with keep="tail" its end) and a
    marker saying how many were cut: error text is never cut silently."""
    if len(text) <= limit:
        return text
    if keep == "tail":
        return f"[{len(text) - limit} more characters] …{text[-limit:]}"
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


class BenchError(Exception):
    """Base of every error benchlab raises on purpose."""


class UserError(BenchError):
    """Bad input from the user: printed as one line, exit code 1, nothing stored changes."""


class ModelError(BenchError):
    """The model cannot run on this engine or precision (bad model, unsupported op)."""


class InfraError(BenchError):
    """The board, the transport or the process failed (lost, timeout, out of memory)."""


class EngineUnavailable(InfraError):
    """The engine's SDK is not installed or not usable on this device.

    Args:
        engine: the engine's registry name.
        reason: why it cannot be used, e.g. the ImportError's message.
    """

    def __init__(self, engine: str, reason: str):
        super().__init__(f"engine '{engine}' is not available here: {reason}")
        self.engine = engine
        self.reason = reason


class SensorUnavailable(InfraError):
    """A power sensor is absent, unreadable or unsupported on this device.

    The runner does not fail a run for it: the power fields stay None and `reason` is stored.

    Args:
        sensor: the sensor's registry name.
        reason: why it cannot be used, e.g. "energy_uj is readable by root only".
    """

    def __init__(self, sensor: str, reason: str):
        super().__init__(f"power sensor '{sensor}' is not available here: {reason}")
        self.sensor = sensor
        self.reason = reason


class UnsupportedVariant(ModelError):
    """An (engine, precision) this engine or device cannot do: the variant is skipped, with why."""


# What an engine's catch-all around a converter lets through unchanged: benchlab's own errors
# (already classified) and a package missing on the board, which the runner turns into a skip
# naming the package (a converter's own failure becomes ModelError).
PASS_THROUGH = (BenchError, ModuleNotFoundError)
