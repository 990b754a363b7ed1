"""Token shards: packing rules, identical rebuilds, resume after a kill, interrupts, manifest and stats."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from atomlm.data.shards import BuildError, RowPacker, build_shards, file_sha256


def _shard_hashes(directory: Path) -> dict[str, str]:
    return {str(p.relative_to(directory)): file_sha256(p) for p in sorted(directory.glob("*/*.bin"))}


def test_packer_never_splits_a_fitting_document_and_splits_long_ones():
    packer = RowPacker(seq_len=8, pad_id=0)
    documents = [[5, 5, 5, 9], [6, 6, 9], [7] * 6 + [9], [8] * 19 + [9]]
    for document in documents:
        packer.add(list(document))
    rows = packer.finish()
    assert rows.shape[1] == 8 and rows.dtype == np.uint16
    flat = [row.tolist() for row in rows]
    # each short document appears whole inside one row
    for document in documents[:3]:
        assert any(document == row[i : i + len(document)] for row in flat for i in range(8))
    # the long one: two full rows of 8s, then its 4-token tail in some row
    assert flat.count([8] * 8) == 2
    assert sum(row.count(8) for row in flat) == 19
    assert sum(1 for row in flat for token in row if token != 0) == sum(map(len, documents))


def test_tiny_build_manifest_records_everything(tiny_build):
    manifest = json.loads((tiny_build / "manifest.json").read_text())
    assert manifest["seq_len"] == 64 and manifest["dtype"] == "uint16"
    assert manifest["curriculum"]["name"] == "tiny" and len(manifest["tokenizer_sha256"]) == 64
    train = [t for t in manifest["totals"] if t["split"] == "train"]
    assert {(t["phase_index"], t["source"]) for t in train} == {(1, "kjv"), (1, "synthetic-arithmetic"),
                                                                  (2, "synthetic-arithmetic"), (2, "kjv")}
    for shard in manifest["shards"]["train"] + manifest["shards"]["val"]:
        path = tiny_build / shard["file"]
        assert path.stat().st_size == shard["rows"] * 64 * 2
        assert file_sha256(path) == shard["sha256"]
        rows = np.fromfile(path, dtype=np.uint16).reshape(-1, 64)
        assert int((rows != manifest["pad_id"]).sum()) == shard["tokens"]
        assert int((rows == manifest["endoftext_id"]).sum()) == shard["documents"]
    # several shards per stream, each arithmetic target within one document
    assert sum(1 for s in manifest["shards"]["train"] if s["source"] == "synthetic-arithmetic") >= 4
    for total in train:
        tolerance = 0.01 if total["source"] == "synthetic-arithmetic" else 0.5
        assert abs(total["tokens"] - total["target_tokens"]) <= tolerance * total["target_tokens"]


def test_validation_documents_never_appear_in_train(tiny_build):
    from atomlm.tokenizer import load_tokenizer

    tokenizer = load_tokenizer()
    manifest = json.loads((tiny_build / "manifest.json").read_text())

    def documents(split):
        texts = set()
        for shard in manifest["shards"][split]:
            if shard["source"] != "synthetic-arithmetic":
                continue
            rows = np.fromfile(tiny_build / shard["file"], dtype=np.uint16).reshape(-1, 64)
            for row in rows:
                text = tokenizer.decode([t for t in row.tolist() if t != manifest["pad_id"]])
                texts.update(part for part in text.split("<|endoftext|>") if part)
        return texts

    validation, train = documents("val"), documents("train")
    assert len(validation) > 20
    assert not validation & train
    assert all(" = " in text for text in validation)


def test_rebuild_gives_identical_tokens(tiny_build, tmp_path, tiny_curriculum):
    from atomlm.data.curriculum import parse_curriculum

    again = tmp_path / "again"
    build_shards(parse_curriculum(tiny_curriculum), None, again, seq_len=64, shard_tokens=4000, val_rows=4,
                 workers=2, progress=False)
    assert _shard_hashes(again) == _shard_hashes(tiny_build)
    first = json.loads((tiny_build / "manifest.json").read_text())
    second = json.loads((again / "manifest.json").read_text())
    assert first["totals"] == second["totals"]


def test_changed_settings_are_refused(tiny_build, tiny_curriculum):
    from atomlm.data.curriculum import parse_curriculum

    with pytest.raises(BuildError, match="different settings.*seq_len"):
        build_shards(parse_curriculum(tiny_curriculum), None, tiny_build, seq_len=128, shard_tokens=4000,
                     val_rows=4, progress=False)


@pytest.mark.slow
def test_resume_after_killed_build_loses_and_duplicates_nothing(tmp_path):
    curriculum = tmp_path / "resume.json"
    curriculum.write_text(json.dumps({"name": "resume", "phases": [
        {"name": "only", "tokens": 10000, "sources": {"kjv": 1, "synthetic-arithmetic": {"weight": 1, "stage": 2}}},
    ]}))
    reference = tmp_path / "reference"
    killed = tmp_path / "killed"
    command = [sys.executable, "-m", "atomlm", "data", "build", "--curriculum", str(curriculum),
               "--seq-len", "64", "--shard-tokens", "1000", "--val-rows", "4", "--no-progress"]
    subprocess.run(command + ["--out", str(reference)], check=True, capture_output=True)
    total_shards = len(list(reference.glob("*/*.json")))

    process = subprocess.Popen(command + ["--out", str(killed), "--workers", "2"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(killed.glob("*/*.json"))) < 3:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    time.sleep(1.0)  # let orphaned workers notice their parent is gone
    done_before_resume = len(list(killed.glob("*/*.json")))
    assert 3 <= done_before_resume < total_shards, "the kill must land mid-build"
    assert not (killed / "manifest.json").exists()

    subprocess.run(command + ["--out", str(killed)], check=True, capture_output=True)
    assert _shard_hashes(killed) == _shard_hashes(reference)
    reference_manifest = json.loads((reference / "manifest.json").read_text())
    resumed_manifest = json.loads((killed / "manifest.json").read_text())
    assert resumed_manifest["totals"] == reference_manifest["totals"]


def test_stats_cli_reports_against_targets(tiny_build):
    result = subprocess.run([sys.executable, "-m", "atomlm", "data", "stats", str(tiny_build)],
                            check=True, capture_output=True, text=True)
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["phase", "source"]
    assert any(line.startswith("1:first") and "synthetic-arithmetic" in line for line in lines)
    assert any(line.startswith("all") and "kjv" in line for line in lines)
    assert "val:" in result.stdout


def test_build_cli_reports_unknown_source_cleanly(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "bad", "phases": [{"name": "p", "tokens": 10, "sources": {"nope": 1}}]}))
    result = subprocess.run([sys.executable, "-m", "atomlm", "data", "build", "--curriculum", str(bad),
                             "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert "bad.json" in result.stderr and "source 'nope': unknown source" in result.stderr


@pytest.mark.parametrize("workers", ["0", "-2"])
def test_build_cli_refuses_fewer_than_one_worker(tmp_path, workers):
    result = subprocess.run([sys.executable, "-m", "atomlm", "data", "build", "--curriculum", "smoke",
                             "--workers", workers, "--out", str(tmp_path / "out")], capture_output=True, text=True)
    assert result.returncode == 2
    assert result.stderr == f"atomlm data build: error: --workers must be >= 1, got {workers}\n"
    assert not (tmp_path / "out").exists()
    with pytest.raises(BuildError, match="workers must be >= 1, got 0"):
        build_shards("smoke", None, tmp_path / "out", workers=0, progress=False)


def test_builds_are_byte_identical_across_hash_seeds(tmp_path):
    # Set iteration order follows PYTHONHASHSEED; nothing a shard holds may depend on it.
    curriculum = tmp_path / "math.json"
    curriculum.write_text(json.dumps({"name": "math", "phases": [
        {"name": "only", "tokens": 6000, "sources": {"mathematics": 2, "synthetic-arithmetic": 1, "kjv": 1}},
    ]}))
    builds = {}
    for hash_seed in ("1", "2"):
        out = tmp_path / f"hash-seed-{hash_seed}"
        builds[out] = subprocess.Popen(
            [sys.executable, "-m", "atomlm", "data", "build", "--curriculum", str(curriculum), "--out", str(out),
             "--seq-len", "64", "--val-rows", "2", "--no-progress"],
            env={**os.environ, "PYTHONHASHSEED": hash_seed}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
    for out, process in builds.items():
        assert process.wait(timeout=120) == 0, process.stderr.read()[-2000:]
    first, second = (_shard_hashes(out) for out in builds)
    assert len(first) == 6 and first == second


@pytest.mark.parametrize(("stop_signal", "whole_group"), [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_interrupted_build_says_one_line_and_keeps_only_complete_shards(tmp_path, stop_signal, whole_group):
    # SIGINT to the whole process group is what Ctrl-C does; SIGTERM to the builder alone is a kill(1).
    curriculum = tmp_path / "big.json"
    curriculum.write_text(json.dumps({"name": "big", "phases": [
        {"name": "only", "tokens": 80000, "sources": {"kjv": 1, "synthetic-arithmetic": {"weight": 1, "stage": 2}}},
    ]}))
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "atomlm", "data", "build", "--curriculum", str(curriculum), "--out", str(out),
         "--seq-len", "64", "--shard-tokens", "1000", "--val-rows", "2", "--workers", "2", "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline and len(list(out.glob("*/*.json"))) < 2:
            time.sleep(0.01)
        (os.killpg if whole_group else os.kill)(process.pid, stop_signal)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 128 + stop_signal
        name = signal.Signals(stop_signal).name
        assert stderr == (f"atomlm data build: interrupted by {name} while building shards; the complete shards "
                          "are kept and the same command builds the rest\n")
        assert not (out / "manifest.json").exists() and not list(out.rglob("*.tmp"))
        records = [json.loads(path.read_text()) for path in out.glob("*/*.json")]
        assert 2 <= len(records) < 80  # the signal landed mid-build
        assert all(file_sha256(out / record["file"]) == record["sha256"] for record in records)
        deadline = time.time() + 10
        while time.time() < deadline:  # the workers end with the builder
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("build workers outlived the interrupted builder")
    finally:
        with contextlib.suppress(ProcessLookupError):  # whatever is left of it when the test fails
            os.killpg(process.pid, signal.SIGKILL)


def _stderr_of(command: list[str], *, on_terminal: bool) -> str:
    """Run `command` with its stderr on a pseudo-terminal or a pipe; return what it wrote there."""
    if not on_terminal:
        result = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stderr
    import fcntl
    import pty
    import struct
    import termios

    controller, terminal = pty.openpty()
    # A new pseudo-terminal is 0 columns wide, and tqdm draws a 0-column bar: give it 80.
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=terminal)
    os.close(terminal)
    output = b""
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        output += chunk
    os.close(controller)
    assert process.wait(timeout=120) == 0, output.decode(errors="replace")[-2000:]
    return output.decode(errors="replace")


def test_build_bar_shows_only_on_a_terminal_and_without_no_progress(tmp_path):
    curriculum = tmp_path / "small.json"
    curriculum.write_text(json.dumps({"name": "small", "phases": [
        {"name": "only", "tokens": 2000, "sources": {"kjv": 1, "synthetic-arithmetic": {"weight": 1, "stage": 1}}},
    ]}))
    command = [sys.executable, "-m", "atomlm", "data", "build", "--curriculum", str(curriculum), "--seq-len", "64",
               "--val-rows", "1"]
    assert "building shards" in _stderr_of(command + ["--out", str(tmp_path / "terminal")], on_terminal=True)
    assert _stderr_of(command + ["--out", str(tmp_path / "asked-not"), "--no-progress"], on_terminal=True) == ""
    assert _stderr_of(command + ["--out", str(tmp_path / "pipe")], on_terminal=False) == ""
