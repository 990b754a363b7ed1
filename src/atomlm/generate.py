"""`atomlm generate`: greedy continuation of a prompt with an exported model."""

from __future__ import annotations

from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="print a model's continuation of a prompt")
    parser.add_argument("prompt", help='e.g. "12 + 34 ="')
    parser.add_argument("--model", type=Path, required=True, help="exported model directory (or hub id)")
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--device", default="cpu")
    parser.set_defaults(handler=run_generate)


def load_model_and_tokenizer(model_path, device: str = "cpu"):
    """Load through the Auto classes exactly as an outside user would."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_path), trust_remote_code=True)
    model = AutoModelForCausalLM.from_pretrained(str(model_path), trust_remote_code=True).to(device).eval()
    return model, tokenizer


def complete(model, tokenizer, prompt: str, max_new_tokens: int = 32, **generate_kwargs) -> str:
    """The text the model generates after `prompt`, up to an end-of-text token."""
    import torch

    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(model.device)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, **generate_kwargs)
    full_text = tokenizer.decode(output[0], skip_special_tokens=True)
    # Decode the whole sequence: a digit run that continues the prompt must be re-ordered as one.
    if full_text.startswith(prompt):
        return full_text[len(prompt):]
    return tokenizer.decode(output[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)


def run_generate(args) -> int:
    model, tokenizer = load_model_and_tokenizer(args.model, args.device)
    options = {"do_sample": True, "temperature": args.temperature} if args.sample else {"do_sample": False}
    print(complete(model, tokenizer, args.prompt, args.max_new_tokens, **options))
    return 0
