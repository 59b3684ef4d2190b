"""Builds a plugin project into a component: ``python -m krog_plugin.build [PROJECT]``.

The project has ``pyproject.toml`` (``[project] name``; ``[tool.krog] module``, default
``plugin``) and its code under ``src/``. The component is written to ``dist/<name>.wasm``
and its path printed on stdout (componentize-py's own output goes to stderr).

Only ``src/`` and this SDK are put in the component, with Python's standard library: not the
tests, not the virtual environment.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

SDK_SRC = Path(__file__).resolve().parent.parent
WIT = SDK_SRC.parent / "wit"
WORLD = "transformer"

ENTRY = """\
import {module}  # the author's module: declares its @plugin
from krog_plugin.component import WitWorld  # noqa: F401 - the world's exports
"""


def project_settings(project: Path) -> tuple[str, str]:
    """(the component's name, the author's module) from ``pyproject.toml``."""
    pyproject = project / "pyproject.toml"
    if not pyproject.is_file():
        sys.exit(f"{project} has no pyproject.toml; run this in a plugin project (krog plugin new)")
    with pyproject.open("rb") as file:
        settings = tomllib.load(file)
    name = settings.get("project", {}).get("name")
    if not name:
        sys.exit(f"{pyproject} has no [project] name")
    module = settings.get("tool", {}).get("krog", {}).get("module", "plugin")
    if not (project / "src" / f"{module}.py").is_file() and not (
        project / "src" / module / "__init__.py"
    ).is_file():
        sys.exit(f"the plugin's module src/{module}.py is missing ([tool.krog] module = {module!r})")
    return name, module


def componentize_py() -> str:
    """The componentize-py next to this Python (a venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "componentize-py"
    if beside.is_file():
        return str(beside)
    found = shutil.which("componentize-py")
    if found is None:
        sys.exit(
            "componentize-py is not installed; run `pip install -r requirements.txt` "
            "(it pins componentize-py)"
        )
    return found


def build(project: Path, output: Path | None = None) -> Path:
    name, module = project_settings(project)
    output = output or project / "dist" / f"{name}.wasm"
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="krog-build-") as temp:
        entry = Path(temp) / "krog_entry.py"
        entry.write_text(ENTRY.format(module=module), encoding="utf-8")
        env = dict(os.environ)
        # componentize-py adds a virtualenv's site-packages to the component; the plugin
        # needs none of it (the SDK is passed below), and pytest or componentize-py itself
        # would add megabytes.
        env.pop("VIRTUAL_ENV", None)
        env["PYTHONHASHSEED"] = "0"
        # The module's top level runs here, at build time, and an exception there stops the
        # build: show its Python traceback without componentize-py's Rust backtrace after it.
        env["RUST_LIB_BACKTRACE"] = "0"
        command = [
            componentize_py(),
            "-d", str(WIT),
            "-w", WORLD,
            "componentize", "krog_entry",
            "-p", temp,
            "-p", str(project / "src"),
            "-p", str(SDK_SRC),
            "-o", str(output),
        ]
        done = subprocess.run(command, env=env, stdout=sys.stderr, cwd=temp)
        if done.returncode != 0:
            sys.exit(
                f"componentize-py failed (exit status {done.returncode}); the plugin's modules "
                "are imported at build time, so a traceback above names the line that raised"
            )
    return output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("project", nargs="?", default=".", help="the plugin project (default: .)")
    parser.add_argument("-o", "--output", help="where to write the component")
    args = parser.parse_args()
    output = build(Path(args.project).resolve(), Path(args.output).resolve() if args.output else None)
    print(output)


if __name__ == "__main__":
    main()
