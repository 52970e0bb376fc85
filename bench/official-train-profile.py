#!/usr/bin/env python3
"""Where the official Mamba-130M training step spends its GPU time, kernel by kernel: the
anchors' model (bench_e2e.make_model: bf16 autocast, fused AdamW, batch 8 x 2048) run for
a few warm steps, then PROFILE_STEPS steps under torch.profiler; prints the CUDA kernels with
their calls, total time per step and share, largest first, in the format of
bench/gpu-profile.sh (which does the same for ours under ncu), so the two can be set side by
side. Unlike ncu, these are warm-cache times of the kernels as they ran back to back.

  cd .anchors && python3 ../bench/official-train-profile.py [--batch 8] [--len 2048]
(on the GPU machine, after anchors/build_official.sh; see bench/gpu-run.sh)
"""
import argparse
import collections
import os
import sys

sys.path.insert(0, os.path.join(os.getcwd(), "anchors"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import _official as off  # noqa: E402
import bench_e2e  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--len", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    off.import_model()
    fused, note = bench_e2e.fused_add_norm_check()
    print(f"fused_add_norm={fused}: {note}")
    model, config = bench_e2e.make_model(fused, torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1,
                            fused=True)
    tokens = torch.randint(0, config.vocab_size, (args.batch, args.len + 1), device="cuda")
    inputs, targets = tokens[:, :-1].contiguous(), tokens[:, 1:].contiguous()

    def step():
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = model(inputs).logits
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    torch.cuda.synchronize()
    acts = [torch.profiler.ProfilerActivity.CUDA]
    with torch.profiler.profile(activities=acts) as prof:
        for _ in range(args.steps):
            step()
        torch.cuda.synchronize()
    total, calls = collections.Counter(), collections.Counter()
    for ev in prof.key_averages():
        if ev.device_type != torch.autograd.DeviceType.CUDA:
            continue
        us = getattr(ev, "self_device_time_total", None)
        if us is None:
            us = ev.self_cuda_time_total
        name = ev.key.split("(")[0][:70]
        total[name] += us / args.steps  # us per step
        calls[name] += ev.count / args.steps
    if not total:  # a torch without device_type on its averages
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=40))
    s = sum(total.values()) or 1.0
    print(f"{'kernel':70s} {'calls':>6s} {'us':>10s} {'share':>6s}")
    for n, t in total.most_common(30):
        print(f"{n:70s} {calls[n]:6.0f} {t:10.1f} {100 * t / s:5.1f}%")
    print(f"{'all (us a step)':70s} {sum(calls.values()):6.0f} {s:10.1f}")


if __name__ == "__main__":
    main()
