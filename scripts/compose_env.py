"""Write the Docker stack's .env from .env.example, with a fresh random value for every secret.

    python scripts/compose_env.py [--output .env]

Secrets are the variables whose names end in PASSWORD, _KEY or _SECRET; they are empty in .env.example and
get random letters and digits here (the Fernet key a real Fernet key). Every other variable keeps the example's
value. An existing output file is never overwritten: secrets already in use (a database initialised with
them, a Fernet key that encrypted connections) must not change behind the user's back.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import secrets
import string
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / ".env.example"
SECRET_NAME = re.compile(r"(PASSWORD|_KEY|_SECRET)$")
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$")
# letters and digits only: the values go into URLs and onto redis-server's command line (a leading `--`
# would read as an option); 32 of 62 symbols is 190 bits
ALPHABET = string.ascii_letters + string.digits


def is_secret(name: str) -> bool:
    """Whether variable `name` holds a secret (by its name)."""
    return bool(SECRET_NAME.search(name))


def new_secret(name: str) -> str:
    """A fresh random value for secret `name`: a Fernet key for *FERNET_KEY, else 32 letters and digits."""
    if name.endswith("FERNET_KEY"):
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    return "".join(secrets.choice(ALPHABET) for _ in range(32))


def render(example: str) -> str:
    """The .env text: the example with every secret filled; comments and other values as they are."""
    lines = []
    for line in example.splitlines():
        match = ASSIGNMENT.match(line)
        if match and is_secret(match.group(1)):
            if match.group(2).strip():
                raise ValueError(f".env.example gives secret {match.group(1)} a value; secrets must be empty there")
            line = f"{match.group(1)}={new_secret(match.group(1))}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def write_env(output: Path, example: Path = EXAMPLE) -> Path:
    """Create `output` (mode 0600) from `example`; FileExistsError if it exists."""
    text = render(example.read_text(encoding="utf-8"))
    try:
        fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise FileExistsError(
            f"{output} exists; it is left as it is (its secrets may already be in use). "
            "Remove it first to start over with new secrets (and new volumes: `docker compose down -v`)."
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return output


def main(argv: list[str] | None = None) -> int:
    """Command line: write .env (or --output) and say which secrets it generated."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / ".env", help="file to create (default: .env)")
    args = parser.parse_args(argv)
    try:
        path = write_env(args.output)
    except (FileExistsError, ValueError) as exc:
        print(f"compose_env: {exc}", file=sys.stderr)
        return 1
    names = [m.group(1) for m in map(ASSIGNMENT.match, path.read_text().splitlines()) if m and is_secret(m.group(1))]
    print(f"wrote {path} (mode 0600) with new values for {', '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
