"""Paths of the real client tools that scripts/lib/clients.sh installs under .cache/."""

import os
from pathlib import Path

_CACHE = Path(__file__).resolve().parent.parent / ".cache"

# EVENTFN_FN_CLI names an fn binary built elsewhere, when the Go module proxy
# will not serve github.com/fnproject/cli to this machine.
FN_CLI: Path = Path(os.environ.get("EVENTFN_FN_CLI") or _CACHE / "bin" / "fn")
OCI_CLI: Path = _CACHE / "oci-cli" / "bin" / "oci"
