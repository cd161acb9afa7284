"""Build chain/native/_fastvote (the C fast path of chain.eip712) in place with gcc; `make deps` runs it.

Idempotent: rebuilds only when the .so is missing or older than the C source or this script. Prints one line.
Without a C compiler it says so and exits 0 (chain.eip712 then keeps its ctypes/cffi path); a compiler
error fails the build. Usage: python chain/native/build.py [--force]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "_fastvote.c"
TARGET = HERE / ("_fastvote" + sysconfig.get_config_var("EXT_SUFFIX"))


def main(argv: list[str]) -> int:
    name = TARGET.relative_to(HERE.parent.parent)
    newest_input = max(SOURCE.stat().st_mtime, Path(__file__).stat().st_mtime)
    if "--force" not in argv and TARGET.exists() and TARGET.stat().st_mtime >= newest_input:
        print(f"{name}: up to date")
        return 0
    compiler = shutil.which(os.environ.get("CC", "gcc"))
    if compiler is None:
        print(f"{name}: not built, no C compiler (chain.eip712 uses its ctypes/cffi path)")
        return 0
    partial = TARGET.with_name(TARGET.name + ".tmp")
    command = [compiler, "-O2", "-shared", "-fPIC", "-Wall", "-Werror", "-fvisibility=hidden",
               "-I" + sysconfig.get_paths()["include"], str(SOURCE), "-o", str(partial)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode:
        partial.unlink(missing_ok=True)
        print(f"{name}: build failed: {' '.join(command)}\n{result.stderr}", file=sys.stderr)
        return 1
    os.replace(partial, TARGET)  # a new file, not rewritten in place: processes that loaded the old one keep it
    print(f"{name}: built with {Path(compiler).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
