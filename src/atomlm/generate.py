"""`atomlm generate`: greedy continuation of a prompt with an exported model."""

from __future__ import annotations


def register(subparsers) -> None:
    parser = subparsers.add_parser("generate", help="print a model's continuation of a prompt")
    parser.add_argument("prompt", help='text the model continues, e.g. "12 + 34 ="')
    parser.add_argument("--model", required=True,
                        help="exported model directory (atomlm export --out) or Hugging Face hub id")
    parser.add_argument("--max-new-tokens", type=int, default=32, metavar="N",
                        help="stop after this many generated tokens, or earlier at end of text (default 32)")
    parser.add_argument("--sample", action="store_true",
                        help="sample the next token instead of taking the most likely one (default: greedy)")
    parser.add_argument("--temperature", type=float, default=1.0,
                        help="softmax temperature when sampling; ignored without --sample (default 1.0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.set_defaults(handler=run_generate)


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
    from atomlm.model_loading import load_model_and_tokenizer

    model, tokenizer = load_model_and_tokenizer(args.model, device=args.device)
    options = {"do_sample": True, "temperature": args.temperature} if args.sample else {"do_sample": False}
    print(complete(model, tokenizer, args.prompt, args.max_new_tokens, **options))
    return 0
