#!/usr/bin/env bash
# Muon vs AdamW probe (issue 13): the cpu preset cut to 800 steps (6.55M tokens), seeds 0 and 1,
# each run exported and scored on the ArithMark 2.0-compatible set. Resumable; writes runs/probe/.
set -u
cd "$(dirname "$0")/.."
mkdir -p runs/probe
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
for seed in 0 1; do
  for optimizer in muon adamw; do
    name=$optimizer-s$seed
    out=runs/probe/$name
    if [ ! -f runs/probe/$name-arithmark.json ]; then
      resume=""; [ -f $out/checkpoints/latest ] && resume="--resume"
      .venv/bin/atomlm train --config cpu --max-steps 800 --set optim.optimizer=\"$optimizer\" --set run.seed=$seed --out $out --no-progress $resume >> runs/probe/log.txt 2>&1 || exit 1
      .venv/bin/atomlm export --checkpoint $out --out runs/probe/models/$name --overwrite >> runs/probe/log.txt 2>&1 || exit 1
      .venv/bin/atomlm eval arithmark --model runs/probe/models/$name --output runs/probe/$name-arithmark.json --no-progress >> runs/probe/log.txt 2>&1 || exit 1
      echo "$(date) done $name" >> runs/probe/log.txt
    fi
  done
done
