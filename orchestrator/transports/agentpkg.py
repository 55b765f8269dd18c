"""The agent as one file: a zipapp of `agents/`, content-addressed, for boards reached by SSH.

The board needs python3, numpy and its engine SDK; nothing of benchlab is installed there.
The archive's name carries the agent version and a hash of its contents, so a board keeps
one copy per distinct agent and an upload happens once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipapp
from pathlib import Path

import agents

# Runs first on a board's python3, whatever its age: the check parses on Python 3.6 and says why
# the agent cannot run instead of a SyntaxError from deep inside it.
ZIPAPP_MAIN = ("import sys\n"
               "if sys.version_info < (3, 8):\n"
               "    sys.stderr.write('benchlab agent needs Python >= 3.8; this is %s %s\\n'\n"
               "                     % (sys.executable, '.'.join(str(v) for v in sys.version_info[:3])))\n"
               "    sys.exit(2)\n"
               "from agents.__main__ import main\n"
               "sys.exit(main())\n")


def _sources() -> list[Path]:
    root = Path(agents.__file__).parent
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def agent_digest() -> str:
    """sha256 over the agent's sources (path and bytes), so any change makes a new archive."""
    root = Path(agents.__file__).parent
    h = hashlib.sha256()
    for path in _sources():
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def archive_name() -> str:
    """`benchlab-agent-<version>-<digest12>.pyz`."""
    return f"benchlab-agent-{agents.__version__}-{agent_digest()[:12]}.pyz"


def build_zipapp(cache_dir: Path | None = None) -> Path:
    """The agent zipapp, built once per content into `cache_dir` (atomic rename)."""
    cache_dir = cache_dir or Path(os.environ.get("BENCH_CACHE_DIR") or Path.home() / ".cache/benchlab") / "agent"
    target = cache_dir / archive_name()
    if target.is_file():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    root = Path(agents.__file__).parent
    with tempfile.TemporaryDirectory() as tmp:
        staging = Path(tmp) / "app"
        for src in _sources():
            dst = staging / "agents" / src.relative_to(root)
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
        (staging / "__main__.py").write_text(ZIPAPP_MAIN)
        partial = cache_dir / f".{target.name}.{os.getpid()}"
        zipapp.create_archive(staging, partial, interpreter="/usr/bin/env python3")
        os.replace(partial, target)
    return target
