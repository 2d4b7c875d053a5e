#!/usr/bin/env bash
# The bundled model ganaug/assets/fashion-mnist.safetensors: `ganaug train` with its defaults on
# all 60,000 real Fashion-MNIST training images. The defaults are the recipe measured best in
# benchmarks/RESULTS.md (issue 12): cdcgan (z times a label embedding, conditional BatchNorm, a
# 128-channel 7x7 stem, 32 channels of its own at 28x28 before a 3x3 conv to the image; a 64/128
# projection discriminator), the non-saturating loss, Adam 8e-4 (0.5, 0.999) falling linearly to
# 0 over the second half of the steps (--lr-decay 0.5), batch 64, an EMA generator (0.999), bf16
# autocast where the CPU has native bf16 units; every 2,000 steps FD, recall and coverage of 2,000
# EMA samples against 2,000 training images in the domain classifier's features, keeping the
# lowest FD among the evaluations whose recall and coverage stay within 90% of the run's best.
# The run gave `{"out_width": 32}` and `--lr-decay 0.5` explicitly (each was a candidate before it
# became the default), so the command does too: the model is the same either way, and the file
# records the flags. The shipped model predates `d_extra` (a 3x3 convolution at the
# discriminator's 7x7 map, the cdcgan default since session 13), so the command pins it to 0;
# without the pin it trains the new default, not the shipped file.
# Every random draw is a function of (seed, step), so this command gives the same weights again
# on the same software, CPU and precision with one thread. The shipped run made its 23,000 steps
# in 88.6 minutes of wall clock on the shared 2-core Xeon (AMX bf16; see benchmarks/RESULTS.md),
# in three parts joined by --resume (at steps ~19,000 and 22,300; the rates are a pure function of
# (step, --steps) and --resume is exact by design and tested, so the one command below is the
# same run: not rerun end to end).
# Then the anomaly encoder (issue 14; ganaug score, --filter anomaly) is fitted on the same
# images with the GAN frozen, and written into the same file: 4,000 steps of batch 64, Adam 2e-4.
# The shipped encoder was fitted with two threads (OMP_NUM_THREADS=2 below), in 635 s on the
# shared machine.
#
#   bash recipes/fashion-mnist.sh            # writes ganaug/assets/fashion-mnist.safetensors
#   OUT=/tmp/fm.safetensors bash recipes/fashion-mnist.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_NUM_THREADS=1  # the thread count changes float summation order, hence the bytes
OUT=${OUT:-ganaug/assets/fashion-mnist.safetensors}
STEPS=${STEPS:-23000}
python -m ganaug train fashion-mnist --out "$OUT" --run-dir runs/fashion-mnist --overwrite \
  --precision bf16 --seed 0 --steps "$STEPS" --arch-args '{"out_width": 32, "d_extra": 0}' --lr-decay 0.5 "$@"
OMP_NUM_THREADS=2 python -m ganaug fit-encoder fashion-mnist --model "$OUT" --out "$OUT" \
  --steps 4000 --precision bf16 --seed 0 --no-progress
