#!/usr/bin/env python3
"""llama_mamba_gguf.py — a randomly initialised Mamba-130M-shaped model as an F32 GGUF, for
llama.cpp's speed (bench/llama-anchor.sh): the metadata keys and tensor names of llama.cpp's
mamba architecture, weights N(0, 0.02), A = -(1..16) per row (= -exp(A_log)), D = 1, norms 1,
tied embeddings, and the gpt-neox vocabulary llama.cpp ships (cut to 50280 tokens: llama.cpp
sizes the vocabulary from the token list). Random weights do not change the speed.
    python3 llama_mamba_gguf.py OUT.gguf LLAMA_SRC/models/ggml-vocab-gpt-neox.gguf
(with llama.cpp's gguf-py on PYTHONPATH and numpy installed)
"""
import sys
import numpy as np
import gguf

out = sys.argv[1]

d_model, n_layer, d_state, d_conv, expand, vocab = 768, 24, 16, 4, 2, 50280
d_inner = expand * d_model
dt_rank = -(d_model // -16)  # 48
eps = 1e-5
rng = np.random.default_rng(0)


def randn(*shape):
    return (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)


w = gguf.GGUFWriter(out, "mamba")
w.add_name("mamba-130m-random")
w.add_context_length(2**20)
w.add_embedding_length(d_model)
w.add_feed_forward_length(0)
w.add_head_count(0)
w.add_block_count(n_layer)
w.add_ssm_conv_kernel(d_conv)
w.add_ssm_inner_size(d_inner)
w.add_ssm_state_size(d_state)
w.add_ssm_time_step_rank(dt_rank)
w.add_layer_norm_rms_eps(eps)
w.add_ssm_dt_b_c_rms(False)
w.add_file_type(gguf.LlamaFileType.ALL_F32)

# tokenizer: same as MambaModel._set_vocab_builtin("gpt-neox", 50280)
r = gguf.GGUFReader(sys.argv[2], "r")
f = r.get_field(gguf.Keys.Tokenizer.MODEL)
w.add_tokenizer_model(bytes(f.parts[-1]).decode("utf-8"))
f = r.get_field(gguf.Keys.Tokenizer.PRE)
w.add_tokenizer_pre(bytes(f.parts[-1]).decode("utf-8") if f else "mpt")
f = r.get_field(gguf.Keys.Tokenizer.LIST)
w.add_token_list([bytes(f.parts[i]) for i in f.data][:vocab])
f = r.get_field(gguf.Keys.Tokenizer.TOKEN_TYPE)
w.add_token_types([f.parts[i].tolist()[0] for i in f.data][:vocab])
f = r.get_field(gguf.Keys.Tokenizer.MERGES)
w.add_token_merges([bytes(f.parts[i]) for i in f.data])
for key, fn in ((gguf.Keys.Tokenizer.BOS_ID, w.add_bos_token_id),
                (gguf.Keys.Tokenizer.EOS_ID, w.add_eos_token_id),
                (gguf.Keys.Tokenizer.UNK_ID, w.add_unk_token_id),
                (gguf.Keys.Tokenizer.PAD_ID, w.add_pad_token_id)):
    f = r.get_field(key)
    if f is not None:
        fn(f.parts[-1].tolist()[0])

# tensors (numpy shapes are reversed ggml ne)
w.add_tensor("token_embd.weight", randn(vocab, d_model))
w.add_tensor("output_norm.weight", np.ones(d_model, np.float32))
A = -np.tile(np.arange(1, d_state + 1, dtype=np.float32), (d_inner, 1))  # -exp(log(1..16))
for i in range(n_layer):
    p = f"blk.{i}."
    w.add_tensor(p + "attn_norm.weight", np.ones(d_model, np.float32))
    w.add_tensor(p + "ssm_in.weight", randn(2 * d_inner, d_model))
    w.add_tensor(p + "ssm_conv1d.weight", randn(d_inner, d_conv))
    w.add_tensor(p + "ssm_conv1d.bias", np.zeros(d_inner, np.float32))
    w.add_tensor(p + "ssm_x.weight", randn(dt_rank + 2 * d_state, d_inner))
    w.add_tensor(p + "ssm_dt.weight", randn(d_inner, dt_rank))
    w.add_tensor(p + "ssm_dt.bias", np.full(d_inner, -4.0, np.float32))  # softplus(-4) ~ 0.018
    w.add_tensor(p + "ssm_a", A.copy())
    w.add_tensor(p + "ssm_d", np.ones(d_inner, np.float32))
    w.add_tensor(p + "ssm_out.weight", randn(d_model, d_inner))

w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
print("wrote", out)
