"""A Python that genuinely cannot import some packages: for tests of boards that lack them.

`env_without(tmp_path, "onnx")` returns an environment whose `sitecustomize.py` (first on
PYTHONPATH) wraps every import finder so that those top-level packages are not found, exactly
as on a board where they are not installed: `import onnx` raises ModuleNotFoundError and
`importlib.util.find_spec("onnx")` is None. Child processes inherit it.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_SITE = '''
import sys

HIDDEN = set({hidden!r})


class _Hide:
    def __init__(self, inner):
        self._inner = inner

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            return None
        return self._inner.find_spec(name, path, target)

    def __getattr__(self, attr):
        return getattr(self._inner, attr)


sys.meta_path[:] = [_Hide(f) for f in sys.meta_path]
'''


def env_without(tmp_path: Path, *modules: str) -> dict[str, str]:
    """os.environ plus a PYTHONPATH whose sitecustomize hides `modules` (and the repo root, so
    that `python -m agents` works from any directory)."""
    site = tmp_path / f"site-without-{'-'.join(modules)}"
    site.mkdir(parents=True, exist_ok=True)
    (site / "sitecustomize.py").write_text(_SITE.format(hidden=sorted(modules)))
    rest = os.environ.get("PYTHONPATH")
    path = os.pathsep.join([str(site), str(REPO)] + ([rest] if rest else []))
    return {**os.environ, "PYTHONPATH": path}
