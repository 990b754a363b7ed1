"""Loads an exported directory the way an outside user would, with `atomlm` unimportable.

Usage: outside_user.py MODEL_DIR INPUT_IDS_JSON OUTPUT_JSON
Writes the logits for the given ids and the results of the user-level checks.
"""

import importlib.abc
import json
import sys


class BlockAtomlm(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "atomlm" or name.startswith("atomlm."):
            raise ImportError(f"{name} must not be needed to load an exported model")


sys.meta_path.insert(0, BlockAtomlm())

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline  # noqa: E402

model_dir, ids_path, output_path = sys.argv[1:4]
major, minor = map(int, transformers.__version__.split(".")[:2])
dtype_argument = "dtype" if (major, minor) >= (4, 56) else "torch_dtype"  # renamed in 4.56
model = AutoModelForCausalLM.from_pretrained(model_dir, trust_remote_code=True,
                                             **{dtype_argument: torch.float32}).eval()
fast = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True)
slow = AutoTokenizer.from_pretrained(model_dir, trust_remote_code=True, use_fast=False)
ids = torch.tensor(json.load(open(ids_path)))
with torch.no_grad():
    logits = model(ids).logits
    window = model(torch.randint(5, 4096, (1, 548))).logits
text = "59 + 45 = 104 and 3 - 10 = -7"
generator = pipeline("text-generation", model=model, tokenizer=fast)
result = {
    "logits": logits.tolist(),
    "parameters": sum(p.numel() for p in model.parameters()),
    "model_class": type(model).__name__,
    "tokenizer_classes": [type(fast).__name__, type(slow).__name__],
    "same_ids": fast.encode(text, add_special_tokens=False) == slow.encode(text, add_special_tokens=False),
    "round_trip": fast.decode(fast.encode(text, add_special_tokens=False)) == text,
    "digits_1234": fast.convert_ids_to_tokens(fast.encode("1234", add_special_tokens=False)),
    "window_finite": bool(torch.isfinite(window).all()) and window.shape[1] == 548,
    "pipeline_text": generator("12 + 34 =", max_new_tokens=4, do_sample=False)[0]["generated_text"],
    "atomlm_loaded": any(name.startswith("atomlm") for name in sys.modules),
    "transformers_version": transformers.__version__,
    "special_tokens": fast.all_special_tokens,
    "encoded_with_specials": fast.encode("3 + 4 = 7<|endoftext|>", add_special_tokens=False),
}
json.dump(result, open(output_path, "w"))
