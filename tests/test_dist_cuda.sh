#!/bin/sh
# test_dist_cuda.sh — tests/test_dist.sh on 2 GPUs: 2 ranks summing CUDA gradients with NCCL
# train as 1 GPU does (fp32 on CUDA: only the order of the sums differs), resume across
# world sizes, sum in buckets, in bf16, with ZeRO-1. Skipped without NCCL or 2 GPUs (CI).
MK_DIST_DEVICE=cuda exec sh "${MK_SRCDIR:-.}/tests/test_dist.sh"
