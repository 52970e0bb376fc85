#!/bin/sh
# llama-anchor.sh — issue 9's anchor measured on this machine: llama.cpp's llama-bench on a
# Mamba-130M-shaped model (random weights; bench/llama_mamba_gguf.py) in F32, F16 and Q8_0,
# 2 threads, pp512 and tg128, 5 repetitions — the rows bench/bench_model --device cpu prints
# beside its built-in anchors (issue 9's, from another VM). Run it right before or after
# bench_model: these VMs' memory bandwidth moves by 10-20% from one minute to the next.
#
#   bench/llama-anchor.sh [WORKDIR]          (default /tmp/llama-anchor; nothing in the tree)
#
# llama.cpp's source comes from PyPI's llama-cpp-python sdist, which bundles it
# (LLAMA_PY_VERSION, default 0.3.36 = llama.cpp 0c1e57098, b11312; GitHub's full history is
# too big to fetch here); it is built CPU-only with -DGGML_NATIVE=ON (about 6 minutes on two
# cores), the GGUF written with its gguf-py and numpy (a venv), F16/Q8_0 by llama-quantize.
# Needs cmake, a C++ compiler, python3-venv and network access to PyPI.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
W=${1:-/tmp/llama-anchor}
V=${LLAMA_PY_VERSION:-0.3.36}
mkdir -p "$W" && cd "$W"
if [ ! -x src/build/bin/llama-bench ]; then
    python3 -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$V" -d dl
    rm -rf "llama_cpp_python-$V" && tar xzf "dl/llama_cpp_python-$V.tar.gz"
    rm -rf src && mv "llama_cpp_python-$V/vendor/llama.cpp" src
    (cd src && cmake -B build -DGGML_NATIVE=ON -DLLAMA_CURL=OFF -DGGML_OPENMP=ON \
        -DCMAKE_BUILD_TYPE=Release > ../cmake.log &&
        cmake --build build -j"$(nproc)" --target llama-bench llama-quantize >> ../cmake.log)
fi
if [ ! -s mamba-f32.gguf ]; then
    [ -x venv/bin/python ] || { python3 -m venv venv && venv/bin/pip install -q numpy; }
    PYTHONPATH=src/gguf-py venv/bin/python "$here/llama_mamba_gguf.py" mamba-f32.gguf \
        src/models/ggml-vocab-gpt-neox.gguf
    for q in F16 Q8_0; do
        src/build/bin/llama-quantize mamba-f32.gguf "mamba-$q.gguf" "$q" > quantize.log 2>&1
    done
fi
echo "llama.cpp from llama-cpp-python $V; $(grep -m1 'model name' /proc/cpuinfo); load: $(cat /proc/loadavg)"
for q in f32 F16 Q8_0; do
    src/build/bin/llama-bench -m "mamba-$q.gguf" -t 2 -p 512 -n 128 -r 5 2>/dev/null |
        grep -E 'pp512|tg128'
done
