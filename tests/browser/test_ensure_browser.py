"""scripts/ensure_browser.sh: a Chromium that is there is used as is; a CHROMIUM that is not fails loudly."""

from __future__ import annotations

import os
import subprocess

from conftest import REPO

SCRIPT = REPO / "scripts" / "ensure_browser.sh"


def _run(chromium: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "CHROMIUM": chromium}
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)


def test_an_executable_chromium_is_accepted_without_installing(tmp_path):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    done = _run(str(fake))
    assert done.returncode == 0, done.stderr
    assert "installing" not in done.stdout + done.stderr


def test_a_missing_chromium_override_fails_naming_it(tmp_path):
    missing = tmp_path / "no-chromium-here"
    done = _run(str(missing))
    assert done.returncode != 0
    assert f"CHROMIUM={missing} is not an executable file" in done.stderr
