#!/usr/bin/env bash
# The bundled model ganaug/assets/fashion-mnist.safetensors: a class-conditional DCGAN (widths 32,
# projection discriminator with spectral norm, hinge loss, EMA generator) trained on all 60,000
# real Fashion-MNIST training images. Best-checkpoint selection: every 250 steps, FD of 2,000 EMA
# samples (BatchNorm statistics recomputed) against 2,000 training images in the feature space of
# ganaug.metrics' domain classifier; the best generator is exported.
# Every random draw is a function of (seed, step), so this command gives the same bytes again on
# the same software and CPU with one thread. STEPS is the step count the original run reached
# with --time-limit 22 on a shared 2-core CPU (see benchmarks/RESULTS.md).
#
#   bash recipes/fashion-mnist.sh            # writes ganaug/assets/fashion-mnist.safetensors
#   OUT=/tmp/fm.safetensors bash recipes/fashion-mnist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1  # the thread count changes float summation order, hence the bytes
OUT=${OUT:-ganaug/assets/fashion-mnist.safetensors}
STEPS=${STEPS:-14050}
python -m ganaug train fashion-mnist --out "$OUT" --run-dir runs/fashion-mnist --overwrite \
  --arch dcgan --arch-args '{"g_width": 32, "d_width": 32}' --loss hinge --spectral-norm \
  --ema 0.999 --batch-size 64 --lr-g 2e-4 --lr-d 2e-4 --seed 0 \
  --eval-every 250 --eval-samples 2000 --checkpoint-every 250 --sample-every 1000 \
  --steps "$STEPS" "$@"
