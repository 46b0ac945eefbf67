"""A tiny random-weight llama-architecture model in GGUF, written with the `gguf` package (no downloads).

The model is useless as a language model but real to llama.cpp: 2 transformer blocks (hidden size 64, 4 heads, 2 of
them for K/V), f32 tensors, and a GPT-2 byte-level BPE tokenizer (all 256 byte symbols, a few merges and the ChatML
special tokens `<|im_start|>`, `<|im_end|>`, `<|endoftext|>`) in the metadata, so llama.cpp loads it, tokenizes
ChatML prompts with their special tokens and samples from it, grammars included.

The weights are seeded, so the file is the same on every run. The output rows of the special tokens and of every byte
outside printable ASCII are zero: their logit is always 0 while the ~140 others' are random, so greedy decoding
emits printable ASCII (no control characters, no broken UTF-8) and never ends the turn by itself (`max_tokens` ends
it), unless a grammar leaves it nothing else, such as the end-of-generation token after a complete JSON object.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
# Words whose left-to-right merges the vocabulary holds, so BPE merging is exercised on ChatML prompts.
MERGED_WORDS = ("system", "user", "assistant", "functions", "Ġthe", "Ġto", "Ġand", "Ġweather", "Ġcity", "Ġtool")

N_EMBD = 64
N_HEAD = 4
N_HEAD_KV = 2
N_FF = 128
N_LAYER = 2
N_CTX_TRAIN = 4096


def byte_symbols() -> list[str]:
    """GPT-2's byte -> printable unicode symbol table (the one llama.cpp's byte-level BPE decodes)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    symbols: dict[int, str] = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in symbols:
            symbols[b] = chr(256 + extra)
            extra += 1
    return [symbols[b] for b in range(256)]


def vocabulary() -> tuple[list[str], list[int], list[str], set[int]]:
    """(tokens, token types, merges, ids the model may emit)."""
    from gguf import TokenType

    tokens = list(SPECIAL_TOKENS)
    types = [int(TokenType.CONTROL)] * len(SPECIAL_TOKENS)
    symbols = byte_symbols()
    emittable: set[int] = set()
    for byte, symbol in enumerate(symbols):
        if 0x20 <= byte <= 0x7E:
            emittable.add(len(tokens))
        tokens.append(symbol)
        types.append(int(TokenType.NORMAL))
    merges: list[str] = []
    for word in MERGED_WORDS:
        for end in range(2, len(word) + 1):
            left, right = word[: end - 1], word[end - 1]
            if word[:end] not in tokens:
                merges.append(f"{left} {right}")
                emittable.add(len(tokens))
                tokens.append(word[:end])
                types.append(int(TokenType.NORMAL))
    return tokens, types, merges, emittable


def write_tiny_gguf(path: Path, seed: int = 1234) -> Path:
    """Write the model to `path` (about 0.5 MB, well under a second) and return it."""
    from gguf import GGUFWriter, LlamaFileType

    tokens, types, merges, emittable = vocabulary()
    n_vocab = len(tokens)
    rng = np.random.default_rng(seed)

    def weight(*shape: int, scale: float = 0.02) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    head_dim = N_EMBD // N_HEAD
    writer = GGUFWriter(path, "llama")
    writer.add_name("ccrouter-tiny-random")
    writer.add_file_type(LlamaFileType.ALL_F32)
    writer.add_vocab_size(n_vocab)
    writer.add_context_length(N_CTX_TRAIN)
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(10000.0)
    writer.add_layer_norm_rms_eps(1e-5)

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("gpt-2")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(tokens.index("<|endoftext|>"))
    writer.add_eos_token_id(tokens.index("<|im_end|>"))
    writer.add_pad_token_id(tokens.index("<|endoftext|>"))
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHATML_TEMPLATE)

    # numpy shapes are ggml's dimensions reversed: (rows = outputs, columns = inputs).
    writer.add_tensor("token_embd.weight", weight(n_vocab, N_EMBD, scale=1.0))
    for layer in range(N_LAYER):
        block = f"blk.{layer}"
        writer.add_tensor(f"{block}.attn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{block}.attn_q.weight", weight(N_HEAD * head_dim, N_EMBD))
        writer.add_tensor(f"{block}.attn_k.weight", weight(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"{block}.attn_v.weight", weight(N_HEAD_KV * head_dim, N_EMBD))
        writer.add_tensor(f"{block}.attn_output.weight", weight(N_EMBD, N_HEAD * head_dim))
        writer.add_tensor(f"{block}.ffn_norm.weight", np.ones(N_EMBD, dtype=np.float32))
        writer.add_tensor(f"{block}.ffn_gate.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{block}.ffn_up.weight", weight(N_FF, N_EMBD))
        writer.add_tensor(f"{block}.ffn_down.weight", weight(N_EMBD, N_FF))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, dtype=np.float32))
    output = weight(n_vocab, N_EMBD, scale=1.0)
    output[[i for i in range(n_vocab) if i not in emittable]] = 0.0
    writer.add_tensor("output.weight", output)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path
