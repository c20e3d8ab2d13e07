"""``python -m infra.k8s [--check]``: write the generated manifests, or say which are stale."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gateway.errors import ConfigError
from infra.errors import InfraError
from infra.k8s.render import COMMAND, GENERATED, render
from infra.settings import ROOT


def stale(root: Path, files: dict[str, str]) -> list[str]:
    """Paths under the generated folder that differ from ``files``, are missing or are extra."""
    folder = root / GENERATED
    present = {p.name for p in folder.glob("*")} if folder.is_dir() else set()
    differing = [
        name
        for name, text in files.items()
        if name not in present or (folder / name).read_text() != text
    ]
    return sorted(differing + sorted(present - set(files)))


def write(root: Path, files: dict[str, str]) -> list[str]:
    """Bring the generated folder in line with ``files``; the names changed."""
    folder = root / GENERATED
    changed = stale(root, files)
    folder.mkdir(parents=True, exist_ok=True)
    for name in changed:
        path = folder / name
        if name in files:
            path.write_text(files[name])
        else:
            path.unlink()
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.k8s", description=__doc__)
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a file is stale"
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this)")
    args = parser.parse_args(argv)
    try:
        files = render(args.root)
    except (InfraError, ConfigError) as error:
        print(f"infra.k8s: {error}", file=sys.stderr)
        return 1
    if args.check:
        if differing := stale(args.root, files):
            print(
                f"stale in {GENERATED}: {', '.join(differing)}; regenerate with {COMMAND}",
                file=sys.stderr,
            )
            return 1
        return 0
    changed = write(args.root, files)
    if changed:
        print(f"wrote {GENERATED}: {', '.join(changed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
