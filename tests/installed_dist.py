"""Write a distribution onto a folder the way pip installs one: the module plus a
``*.dist-info`` with an entry point in the group ``covplan``; run covplan as a user
would, with such a folder on the path."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def write_distribution(site_dir: Path, dist_name: str, version: str, module_name: str, module_source: str,
                       entry_point_name: str) -> Path:
    site_dir.mkdir(parents=True, exist_ok=True)
    (site_dir / f"{module_name}.py").write_text(module_source)
    dist_info = site_dir / f"{dist_name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: {version}\n")
    (dist_info / "entry_points.txt").write_text(f"[covplan]\n{entry_point_name} = {module_name}\n")
    return site_dir


def run_covplan(*args: str, extra_path: Path | None = None, **env_overrides: str) -> subprocess.CompletedProcess:
    env = {**os.environ, **env_overrides}
    if extra_path is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(extra_path), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "covplan", *args], capture_output=True, text=True, env=env,
                          timeout=120)
