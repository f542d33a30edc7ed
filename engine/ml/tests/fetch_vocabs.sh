#!/usr/bin/env bash
# Fetch llama.cpp's vocab-only GGUFs and reference tokenisations (ggml-vocab-*.gguf, .inp, .out)
# from the llama-cpp-python sdist, for the tokenizer parity test. Nothing here is committed.
#   usage: engine/ml/tests/fetch_vocabs.sh [DEST]   (default target/syco-test-cache/llamacpp-vocabs)
#   then:  SYCO_LLAMACPP_VOCABS=DEST cargo test -p syco-ml --test tokenizer
set -euo pipefail
dest="${1:-$(dirname "$0")/../../../target/syco-test-cache/llamacpp-vocabs}"
ver=0.3.36
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# --no-binary for this one package only (":all:" would try to build cmake from source).
python3 -m pip download --no-deps --no-binary llama-cpp-python -d "$tmp" "llama-cpp-python==$ver"
tar xzf "$tmp/llama_cpp_python-$ver.tar.gz" -C "$tmp" --wildcards "llama_cpp_python-$ver/vendor/llama.cpp/models/ggml-vocab-*"
mkdir -p "$dest"
cp "$tmp/llama_cpp_python-$ver/vendor/llama.cpp/models/"ggml-vocab-* "$dest/"
echo "vocabularies in $dest; run with SYCO_LLAMACPP_VOCABS=$dest"
