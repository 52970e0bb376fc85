#!/usr/bin/env python3
"""Where the official Mamba-130M spends its GPU time, kernel by kernel, for one training step
or one decoding step: the anchors' models (bench_e2e.make_model), warmed up, then run under
torch.profiler; prints the CUDA kernels with their calls and time per step, largest first, in
the format of bench/gpu-profile.sh (which does the same for ours under ncu), so the two can be
set side by side. These are warm-cache times of the kernels as they ran back to back.

  train : fp32 weights, bf16 autocast, fused AdamW, batch --batch x --len (default 8 x 2048);
          --steps steps profiled, times per step.
  decode: fp16 weights, model.generate(cg=True, top_k=1) from a 16-token prompt, batch --batch
          (default 64): one call generating --tokens new tokens is profiled after a warm call
          of the same length (which captures the CUDA graph); times per new token (the
          prompt's own kernels, a few, are included once).

  cd .anchors && python3 ../bench/official-profile.py train|decode [--batch B] [--len L]
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


def train_step(args, fused):
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
    return step, args.steps


def decode_call(args, fused):
    model, _ = bench_e2e.make_model(fused, torch.float16)
    model.eval()
    prompt = torch.randint(1, 1000, (args.batch, 16), device="cuda")

    def call():
        model.generate(input_ids=prompt, max_length=16 + args.tokens, cg=True, top_k=1,
                       return_dict_in_generate=True, output_scores=False)

    call()  # captures the graph of this batch size
    return call, args.tokens


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=("train", "decode"))
    parser.add_argument("--batch", type=int)
    parser.add_argument("--len", type=int, default=2048)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=64)
    args = parser.parse_args()
    if args.batch is None:
        args.batch = 8 if args.what == "train" else 64
    off.import_model()
    fused, note = bench_e2e.fused_add_norm_check()
    print(f"fused_add_norm={fused}: {note}")
    run, per = (train_step if args.what == "train" else decode_call)(args, fused)
    torch.cuda.synchronize()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        if args.what == "train":
            for _ in range(per):
                run()
        else:
            run()
        torch.cuda.synchronize()
    total, calls = collections.Counter(), collections.Counter()
    for ev in prof.key_averages():
        if ev.device_type != torch.autograd.DeviceType.CUDA:
            continue
        us = getattr(ev, "self_device_time_total", None)
        if us is None:
            us = ev.self_cuda_time_total
        name = ev.key.split("(")[0][:70]
        total[name] += us / per
        calls[name] += ev.count / per
    if not total:  # a torch without device_type on its averages
        print(prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=40))
    s = sum(total.values()) or 1.0
    unit = "step" if args.what == "train" else "token"
    print(f"{'kernel':70s} {'calls':>6s} {'us':>10s} {'share':>6s}")
    for n, t in total.most_common(30):
        print(f"{n:70s} {calls[n]:6.1f} {t:10.1f} {100 * t / s:5.1f}%")
    print(f"{'all (us a ' + unit + ')':70s} {sum(calls.values()):6.0f} {s:10.1f}")


if __name__ == "__main__":
    main()
