#!/usr/bin/env python3
"""make_hf_fixture.py — makes the Hugging Face tokenizer fixtures of tests/test_text.c with the
`tokenizers` library (pip install tokenizers; not needed to run the tests):

  hf_tokenizer.json  a byte-level BPE laid out as GPT-NeoX's tokenizer.json (the one of the
                     released Mamba checkpoints): NFC normalizer, ByteLevel pre-tokenizer and
                     decoder, <|endoftext|> = 0 and <|padding|> = 1 as special added tokens,
                     runs of spaces as non-special added tokens, merges as [a, b] pairs;
                     trained on the corpus below (written for these tests, public domain)
  hf_expected.json   [{"text": ..., "ids": [...]}]: what tokenizers encodes for each string

Run from this directory: python3 make_hf_fixture.py
"""
import json

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from tokenizers import AddedToken

CORPUS = [
    "The quick brown fox jumps over the lazy dog. The dog didn't mind; it's a lazy dog.",
    "State-space models read a sequence once, left to right, and keep a fixed-size state.",
    "Mamba makes the state-space parameters depend on the input, so the model can choose "
    "what to remember and what to forget.",
    "We'll train it on text, DNA and audio. They've all got structure at many scales.",
    "def scan(x):\n    h = 0\n    for t in range(len(x)):\n        h = a * h + b * x[t]\n"
    "        y[t] = c * h\n    return y\n",
    "Numbers: 1, 22, 333, 4444, 2024-06-01, 3.14159, 100%.",
    "Unicode: naïve café, Straße, 東京タワー, Ελληνικά, русский текст, ١٢٣ and emoji 🙂🚀.",
    "Tabs\tand\tnewlines\n\n\nand    several     spaces       here.",
] * 20

TESTS = [
    "The lazy dog didn't jump.",
    "I'm sure they'll say we're done; you've seen it, I'd think.",
    "def f(x):\n        return x    # eight spaces, then four\n",
    "Numbers 12345 and 3.14 and 2024-06-01!!",
    "naïve café Straße 東京 русский ١٢٣ 🙂",
    "  leading spaces and trailing spaces   ",
    "line one\n\n\nline four\r\n\ttabbed",
    "<|endoftext|>a new document<|endoftext|>",
    "unknownwordsxyzzy qwertyuiop",
    "'s 're 've 'm 'll 'd 't ' s",
]


def main():
    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, min_frequency=2, special_tokens=["<|endoftext|>", "<|padding|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(CORPUS, trainer)
    tok.add_tokens([AddedToken(" " * 8, normalized=True), AddedToken(" " * 4, normalized=True)])
    tok.save("hf_tokenizer.json")
    expected = [{"text": t, "ids": tok.encode(t).ids} for t in TESTS]
    with open("hf_expected.json", "w", encoding="utf-8") as f:
        json.dump(expected, f, ensure_ascii=False, indent=0)
        f.write("\n")
    for e in expected:
        assert tok.decode(e["ids"], skip_special_tokens=False) == e["text"], e["text"]


main()
