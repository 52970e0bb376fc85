#!/usr/bin/env python3
"""make_golden.py — reference tensors from Hugging Face transformers' MambaForCausalLM for the
golden-parity tests (tests/test_golden.c).

    python3 tests/data/golden/make_golden.py OUTDIR NAME

writes OUTDIR/NAME/{config.json, model.safetensors, reference.safetensors, grads.safetensors,
reference.json}: a randomly initialised model whose A_log, D, norms and biases are perturbed
away from their init (so every tensor matters), input_ids, fp32 logits, the mean next-token
cross-entropy `loss`, greedy `generate_ids` (prompt = first 5 ids of row 0) and d(loss)/d(param)
under the parameter names. Needs torch and transformers (offline; run once, commit the output).
The `tiny` set (vocab 260, d_model 64, 2 layers, tied) came with the project's shared
references; `odd` (this script's default) exercises every other config path: untied head,
in/out_proj biases, no conv bias, d_conv 3, d_state 8, dt_rank 5, vocab 37, B = 3, L = 19.
"""
import json
import os
import sys

import torch
from safetensors.torch import save_file
from transformers import MambaConfig, MambaForCausalLM

CONFIGS = {
    "odd": dict(vocab_size=37, hidden_size=24, state_size=8, num_hidden_layers=3, expand=2,
                intermediate_size=48, conv_kernel=3, time_step_rank=5, use_bias=True,
                use_conv_bias=False, tie_word_embeddings=False, layer_norm_epsilon=1e-5,
                residual_in_fp32=True, pad_vocab_size_multiple=8, bos_token_id=0,
                eos_token_id=0, pad_token_id=0),
}
SHAPES = {"odd": (3, 19)}


def main():
    out, name = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "odd"
    torch.manual_seed(1234)
    cfg = MambaConfig(**CONFIGS[name])
    model = MambaForCausalLM(cfg).float().eval()
    with torch.no_grad():
        for pname, p in model.named_parameters():
            if pname.endswith(("A_log", ".D", "norm.weight", "norm_f.weight", "bias")):
                p.add_(0.1 * torch.randn_like(p))
    B, L = SHAPES[name]
    ids = torch.randint(0, cfg.vocab_size, (B, L), dtype=torch.int32)
    res = model(input_ids=ids.long(), labels=ids.long())
    res.loss.backward()
    grads = {n: p.grad.detach().clone().contiguous() for n, p in model.named_parameters()
             if p.grad is not None}
    with torch.no_grad():
        gen = model.generate(ids[:1, :5].long(), max_new_tokens=20, do_sample=False,
                             eos_token_id=None, pad_token_id=0)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model.save_pretrained(d, safe_serialization=True)
    save_file({"input_ids": ids, "logits": res.logits.detach().float().contiguous(),
               "loss": res.loss.detach().reshape(1).float(),
               "generate_ids": gen.to(torch.int32).contiguous()},
              os.path.join(d, "reference.safetensors"))
    save_file(grads, os.path.join(d, "grads.safetensors"))
    with open(os.path.join(d, "reference.json"), "w") as f:
        json.dump({"loss": res.loss.item(), "generate_ids": gen.tolist(),
                   "transformers": __import__("transformers").__version__,
                   "torch": torch.__version__}, f)


if __name__ == "__main__":
    main()
