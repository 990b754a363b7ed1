"""The install files agree: the lock pins what pyproject allows, and test-lowest tests the lowest bound."""

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return {re.split(r"==", line)[0].lower().replace("_", "-"): line.split("==")[1] for line in lines if "==" in line}


def project() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())["project"]


def test_lowest_transformers_is_the_declared_lower_bound():
    declared = next(d for d in project()["dependencies"] if d.startswith("transformers"))
    lower_bound = re.search(r">=\s*([0-9.]+)", declared).group(1)
    pinned = pins(REPO / "requirements" / "lowest.txt")["transformers"]
    assert tuple(map(int, pinned.split("."))) == tuple(map(int, (lower_bound + ".0.0").split(".")[:3]))


def test_lock_pins_every_dependency_and_extra():
    locked = pins(REPO / "requirements" / "lock.txt")
    requirements = project()["dependencies"] + [d for extra in project()["optional-dependencies"].values() for d in extra]
    names = {re.split(r"[<>=!\[ ;]", requirement)[0].lower().replace("_", "-") for requirement in requirements}
    assert not names - set(locked), f"not in requirements/lock.txt: {sorted(names - set(locked))} (run make lock)"
    assert locked["torch"].startswith("2.13.0")


def test_lock_pins_no_local_build_label():
    # "torch==2.13.0+cpu" is what pip freeze writes for this machine's CPU wheel, but PyPI serves
    # no "+cpu" build: with it in the lock, `make setup` fails anywhere else. "==2.13.0" matches both.
    labelled = [f"{name}=={version}" for name, version in pins(REPO / "requirements" / "lock.txt").items()
                if "+" in version]
    assert not labelled, f"local build labels in requirements/lock.txt: {labelled}"


# A call of the GPU machine sends the working tree, at most 64 MiB with what it carries (the
# wheels of scripts/gpu_job.sh, 1.8 MiB). A run's committed state (long_runs/<run>: a checkpoint
# of about 24 MiB) fits beside the rest; two do not, nor do the weights of finished runs.
TRACKED_FILES_LIMIT_MIB = 56


def test_the_tracked_files_leave_room_for_a_gpu_runs_checkpoint():
    import subprocess

    import pytest

    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    paths = [REPO / name for name in listed.stdout.decode().split("\0") if name]
    sizes = {path: path.stat().st_size for path in paths if path.is_file()}
    total_mib = sum(sizes.values()) / 2**20
    largest = sorted(sizes, key=sizes.get, reverse=True)[:5]
    assert total_mib <= TRACKED_FILES_LIMIT_MIB, (
        f"tracked files: {total_mib:.1f} MiB, over {TRACKED_FILES_LIMIT_MIB} MiB; largest: "
        + ", ".join(f"{path.relative_to(REPO)} ({sizes[path] / 2**20:.1f} MiB)" for path in largest)
        + ". Keep finished runs' weights and checkpoints in git history only, and one run's state in the tree at a "
          "time (long_runs/README.md)")
