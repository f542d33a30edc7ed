"""transformers' side of benches/sampling/bench.sh: `generate(do_sample=True,
num_return_sequences=N)` on SmolLM2-135M (float32, CPU, torch on 2 threads).

    python hf_sample.py HF_MODEL_DIR prompts N MAX_NEW TEMPERATURE TOP_P PROMPTS_PER_CALL OUT_IDS.json
        writes the prompts' token ids (chat template, generation prompt) to OUT_IDS.json and exits
    python hf_sample.py HF_MODEL_DIR run N MAX_NEW TEMPERATURE TOP_P PROMPTS_PER_CALL IDS.json
        samples N continuations of each prompt of IDS.json, PROMPTS_PER_CALL prompts per
        generate call (left padding; N x PROMPTS_PER_CALL rows per forward); prints one line of
        JSON: load and sampling seconds, samples, new tokens (up to, not counting, the first EOS),
        tokens/s.
"""

import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# 16 short instructions, the kind of prompt best-of-N sampling answers.
PROMPTS = [
    "What is the capital of France?",
    "Write a haiku about autumn leaves.",
    "Explain photosynthesis in one paragraph.",
    "Give three tips for learning a new language.",
    "What is 17 times 23? Show your work.",
    "Summarise the plot of Romeo and Juliet.",
    "Why is the sky blue?",
    "Name five mammals that live in the ocean.",
    "Write a short apology email for missing a meeting.",
    "What are the benefits of regular exercise?",
    "Describe a cat to someone who has never seen one.",
    "How do vaccines work?",
    "Suggest a name for a coffee shop and explain it.",
    "What is the difference between weather and climate?",
    "Translate 'good morning, how are you?' into Spanish.",
    "Is it better to rent or to buy a house? Give both sides.",
]


def main():
    model_dir, mode, n, max_new, temperature, top_p, per_call, ids_path = sys.argv[1:9]
    n, max_new, per_call = int(n), int(max_new), int(per_call)
    temperature, top_p = float(temperature), float(top_p)
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    if mode == "prompts":
        ids = [tok.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True, tokenize=True)
               for p in PROMPTS]
        ids = [list(x["input_ids"]) if isinstance(x, dict) or hasattr(x, "keys") else list(x) for x in ids]
        json.dump(ids, open(ids_path, "w"))
        return
    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(2)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    load_s = time.perf_counter() - t0
    prompts = json.load(open(ids_path))
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    pad = tok.pad_token_id if tok.pad_token_id is not None else min(eos)
    tokens = samples = 0
    t1 = time.perf_counter()
    with torch.inference_mode():
        for k in range(0, len(prompts), per_call):
            chunk = prompts[k:k + per_call]
            t = max(map(len, chunk))
            input_ids = torch.tensor([[pad] * (t - len(p)) + p for p in chunk])
            mask = torch.tensor([[0] * (t - len(p)) + [1] * len(p) for p in chunk])
            out = model.generate(input_ids=input_ids, attention_mask=mask, do_sample=True, temperature=temperature,
                                 top_p=top_p, top_k=0, max_new_tokens=max_new, num_return_sequences=n,
                                 pad_token_id=pad)
            for row in out[:, t:].tolist():
                samples += 1
                for x in row:
                    if x in eos:
                        break
                    tokens += 1
    secs = time.perf_counter() - t1
    import transformers
    print(json.dumps({"tool": "transformers", "weights": "hf-f32", "load_s": round(load_s, 3), "sample_s": round(secs, 3),
                      "samples": samples, "new_tokens": tokens, "tok_s": round(tokens / secs, 1),
                      "versions": f"transformers {transformers.__version__} torch {torch.__version__}"}))


if __name__ == "__main__":
    main()
