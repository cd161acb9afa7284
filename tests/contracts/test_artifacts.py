"""The committed artifacts are exactly what contracts/build.mjs produces from contracts/src."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from chain.artifacts import ARTIFACTS_DIR, REPO_ROOT, contract_names, load_artifact

BUILD = REPO_ROOT / "contracts" / "build.mjs"
EXPECTED = ["ArchiveAnchor", "ContractWallet", "GovernanceToken", "StarknetCoreState", "UpgradeExecutor"]


def _node(*args: str) -> subprocess.Popen:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed (needed by contracts/build.mjs)")
    return subprocess.Popen(
        [node, str(BUILD), *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture(scope="module")
def check_runs(tmp_path_factory) -> dict[str, tuple[int, str, Path]]:
    """Run `--check` on the committed artifacts and on an altered copy, concurrently (each ~5 s)."""
    altered = tmp_path_factory.mktemp("artifacts") / "artifacts"
    shutil.copytree(ARTIFACTS_DIR, altered)
    # 1. alter one byte of the bytecode, 2. delete an artifact, 3. add a stale one
    token = altered / "GovernanceToken.json"
    data = json.loads(token.read_text())
    data["bytecode"] = data["bytecode"][:-1] + ("0" if data["bytecode"][-1] != "0" else "1")
    token.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    (altered / "ArchiveAnchor.json").unlink()
    (altered / "Obsolete.json").write_text("{}\n")
    # a whitespace-only change must also be detected (byte-for-byte comparison)
    wallet = altered / "ContractWallet.json"
    wallet.write_text(wallet.read_text() + "\n")

    procs = {"committed": _node("--check"), "altered": _node("--check", "--artifacts-dir", str(altered))}
    results = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=120)
        results[name] = (proc.returncode, out + err, altered)
    return results


def test_committed_artifacts_match_sources(check_runs):
    code, output, _ = check_runs["committed"]
    assert code == 0, f"artifacts out of date; run `node contracts/build.mjs`:\n{output}"
    assert "5 artifacts up to date" in output


def test_check_fails_naming_altered_missing_and_stale_artifacts(check_runs):
    code, output, _ = check_runs["altered"]
    assert code == 1, output
    assert "differs: " in output and "GovernanceToken.json" in output
    assert "missing: " in output and "ArchiveAnchor.json" in output
    assert "stale" in output and "Obsolete.json" in output
    assert "ContractWallet.json" in output
    # untouched artifacts are not reported
    for name in ("StarknetCoreState", "UpgradeExecutor"):
        assert f"{name}.json" not in output


def test_artifact_loader():
    assert contract_names() == EXPECTED
    for name in EXPECTED:
        artifact = load_artifact(name)
        assert artifact["contractName"] == name
        assert artifact["sourceName"] == f"contracts/src/{name}.sol"
        assert artifact["compiler"]["version"].startswith("0.8.28+")
        assert artifact["bytecode"].startswith("0x") and len(artifact["bytecode"]) > 100
        assert artifact["deployedBytecode"].startswith("0x")
        assert any(e["type"] == "function" for e in artifact["abi"])
        # stable formatting: sorted keys, 2-space indent, trailing newline
        text = (ARTIFACTS_DIR / f"{name}.json").read_text()
        assert text == json.dumps(artifact, indent=2, sort_keys=True) + "\n"
    assert load_artifact("GovernanceToken") is load_artifact("GovernanceToken")  # cached
    with pytest.raises(FileNotFoundError, match="npm|build.mjs"):
        load_artifact("NoSuchContract")
