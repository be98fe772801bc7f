"""The Khronos glTF validator (node + the npm package gltf-validator), for the GLB tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path


def validator_env() -> dict | None:
    node = shutil.which("node")
    if node is None:
        return None
    local = Path(__file__).resolve().parents[1] / ".tools" / "node_modules"  # `make test` installs it
    roots = [os.environ.get("NODE_PATH", ""), str(local)]
    npm = shutil.which("npm")
    if npm:
        try:
            roots.append(subprocess.run([npm, "root", "-g"], capture_output=True, text=True,
                                        timeout=30).stdout.strip())
        except (OSError, subprocess.SubprocessError):
            pass
    env = dict(os.environ, NODE_PATH=os.pathsep.join(r for r in roots if r))
    probe = subprocess.run([node, "-e", "require.resolve('gltf-validator')"], env=env,
                           capture_output=True, timeout=30)
    return env if probe.returncode == 0 else None


def validate_glb(path: Path, env: dict) -> dict:
    """The validator's ``issues`` object for the GLB file at ``path``."""
    script = ("const v=require('gltf-validator');const fs=require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r=>console.log(JSON.stringify(r.issues)))"
              ".catch(e=>{console.error(e);process.exit(3);});")
    res = subprocess.run(["node", "-e", script, str(path)], env=env, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)
