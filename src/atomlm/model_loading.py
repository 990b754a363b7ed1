"""Load an exported model and its tokenizer for the CLI verbs, after checking the files.

Given a bad `--model`, transformers fails late and loudly: a directory that does not exist is
taken for a hub id (48 s of retries, then an 88-line traceback); a truncated model.safetensors
or a config.json with a string where a number belongs fails deep inside torch. The checks here
run first and raise a `UserError` that names the file and what is wrong. Loading itself goes
through the Auto classes with `trust_remote_code=True`, exactly as an outside user's code would.
"""

from __future__ import annotations

import json
import os
import re
import struct
import urllib.error
import urllib.request

from atomlm.errors import UserError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
# Other weight layouts transformers loads; their presence is enough, transformers checks them.
OTHER_WEIGHT_FILES = ("model.safetensors.index.json", "pytorch_model.bin")
# Any one of these is a tokenizer transformers can load (exports write tokenizer.json).
TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "vocab.txt", "tokenizer.model")
TRAINING_RECORD_FILE = "training_record.json"
CURRICULUM_FILE = "pretraining_curriculum.json"
HUB_PROBE_SECONDS = 3.0
HUB_ID = re.compile(r"\w[\w.-]*(/\w[\w.-]*)?")  # "name" or "owner/name", nothing that looks like a path


def load_model_and_tokenizer(model: str | os.PathLike, *, device: str = "cpu", dtype: str | None = None,
                             use_fast_tokenizer: bool = True):
    """The model (eval mode, on `device`) and tokenizer of an exported directory or hub id.

    `dtype` None or "auto" means float32 on CPU and bfloat16 on CUDA, the official ArithMark
    runner's choice. `use_fast_tokenizer=False` is the ArithMark protocol's slow-tokenizer
    request. Raises UserError for a device, directory, config or weights file that cannot work.
    """
    source, local_files_only = resolve_model_source(model)  # before the slow imports: fail fast
    check_device(device)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options = {"trust_remote_code": True, "local_files_only": local_files_only}
    config = load_config(source, options)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, use_fast=use_fast_tokenizer, **options)
        loaded = AutoModelForCausalLM.from_pretrained(source, config=config, dtype=torch_dtype(dtype, device),
                                                      **options)
    except OSError as error:  # transformers' way of saying a file is missing or unreadable
        raise UserError(f"{source}: {first_line(error)}") from None
    return loaded.to(device).eval(), tokenizer


def load_atom_export(directory: str | os.PathLike):
    """`(model, training_record, curriculum)` of an exported directory, for code that goes on from
    it (re-export, `model.init_from`): the model built by this package's `AtomForCausalLM`, not by
    the directory's copy of the code; `training_record.json` and `pretraining_curriculum.json`
    are None where the directory has none. Checked first, each error naming the file at fault."""
    directory = str(directory)
    check_model_directory(directory)
    from atomlm.modeling.modeling_atom import AtomForCausalLM

    records = []
    for name in (TRAINING_RECORD_FILE, CURRICULUM_FILE):
        path = os.path.join(directory, name)
        records.append(read_json_object(path) if os.path.isfile(path) else None)
    try:
        model = AtomForCausalLM.from_pretrained(directory)
    except OSError as error:
        raise UserError(f"{directory}: {first_line(error)}") from None
    return model, *records


def resolve_model_source(model: str | os.PathLike) -> tuple[str, bool]:
    """`(what to pass to from_pretrained, whether to stay off the network)`, after checking a local path.

    A hub id is tried online only when the hub answers: otherwise transformers retries for
    almost a minute before it falls back to the local cache.
    """
    text = str(model)
    if looks_like_local_path(text):
        directory = os.path.expanduser(text)  # kept as typed ("./model"), for the messages
        check_model_directory(directory)
        return directory, True
    if hub_is_reachable():
        return text, False
    check_hub_cache(text)
    return text, True


def looks_like_local_path(text: str) -> bool:
    """True unless `text` can only be a hub id (`name` or `owner/name`) that is not on disk.

    "./model", "~/model", "/abs/model", "runs/a/model" and "model/" are paths; a directory or
    file that exists is always the local one.
    """
    return os.path.exists(os.path.expanduser(text)) or not HUB_ID.fullmatch(text)


def hub_is_reachable() -> bool:
    """Whether the Hugging Face hub (HF_ENDPOINT) answers within a few seconds; False under HF_HUB_OFFLINE."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=HUB_PROBE_SECONDS)
    except urllib.error.HTTPError:
        return True  # the server answered, even if not with 200
    except OSError:  # URLError, refused connection, unknown host, timeout
        return False
    return True


def check_hub_cache(model_id: str) -> None:
    """Refuse a hub id whose config.json is not in the local Hugging Face cache (used when offline)."""
    from huggingface_hub import constants, try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model_id, CONFIG_FILE)
    except ValueError:  # not a valid repo id after all
        cached = None
    if not isinstance(cached, str):
        reason = "HF_HUB_OFFLINE is set" if constants.HF_HUB_OFFLINE else "the hub is unreachable"
        raise UserError(f"{model_id}: no such local directory, and not in the Hugging Face cache ({reason})")


def check_model_directory(directory: str) -> None:
    """Refuse a path that is not an exported model directory with a readable config and weights."""
    if not os.path.exists(directory):
        raise UserError(f"{directory}: no such model directory")
    if not os.path.isdir(directory):
        raise UserError(f"{directory}: not a directory (expected an exported model directory, see `atomlm export`)")
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise UserError(f"{directory}: no {CONFIG_FILE}, so not an exported model directory (see `atomlm export`)")
    check_remote_code_files(directory, CONFIG_FILE, read_json_object(config_path))
    tokenizer_config_path = os.path.join(directory, "tokenizer_config.json")
    if os.path.isfile(tokenizer_config_path):
        check_remote_code_files(directory, "tokenizer_config.json", read_json_object(tokenizer_config_path))
    if not any(os.path.isfile(os.path.join(directory, name)) for name in TOKENIZER_FILES):
        raise UserError(f"{directory}: no tokenizer.json (the tokenizer); re-run `atomlm export`")
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    if os.path.isfile(weights_path):
        check_safetensors_file(weights_path)
    elif not any(os.path.isfile(os.path.join(directory, name)) for name in OTHER_WEIGHT_FILES):
        raise UserError(f"{directory}: no {WEIGHTS_FILE} (the model weights); re-run `atomlm export`")


def check_remote_code_files(directory: str, config_name: str, config: dict) -> None:
    """Refuse a directory that lacks a Python file its config's `auto_map` names (trust_remote_code)."""
    auto_map = config.get("auto_map") or {}
    references = auto_map.values() if isinstance(auto_map, dict) else auto_map
    for reference in references:
        for class_reference in reference if isinstance(reference, list) else [reference]:
            if not isinstance(class_reference, str) or "--" in class_reference:
                continue  # None (no such class), or code in another hub repo
            module_file = class_reference.rsplit(".", 1)[0] + ".py"
            if not os.path.isfile(os.path.join(directory, module_file)):
                raise UserError(f"{directory}: no {module_file}, which {config_name} names in auto_map; "
                                "re-run `atomlm export`")


def read_json_object(path: str) -> dict:
    """The JSON object in `path`, or a UserError naming the line and column that is wrong."""
    try:
        with open(path, encoding="utf-8") as handle:
            value = json.load(handle)
    except json.JSONDecodeError as error:
        raise UserError(f"{path}: not valid JSON ({error.msg} at line {error.lineno} column {error.colno})") from None
    except UnicodeDecodeError:
        raise UserError(f"{path}: not UTF-8 text") from None
    if not isinstance(value, dict):
        raise UserError(f"{path}: expected a JSON object, got {type(value).__name__}")
    return value


def check_safetensors_file(path: str) -> None:
    """Refuse an empty or truncated safetensors file: its header or a tensor reaching past the end.

    The format is an 8-byte little-endian header length, a JSON header whose `data_offsets`
    count from the end of the header, then the tensor bytes.
    """
    size = os.path.getsize(path)
    if size == 0:
        raise UserError(f"{path}: empty file (0 bytes); re-export or re-download it")
    with open(path, "rb") as handle:
        length_bytes = handle.read(8)
        if len(length_bytes) < 8:
            raise UserError(f"{path}: truncated ({size} bytes, less than the 8-byte header length)")
        (header_length,) = struct.unpack("<Q", length_bytes)
        if header_length > size - 8:
            raise UserError(f"{path}: truncated: the header is {header_length} bytes but only {size - 8} follow")
        header = _parse_safetensors_header(path, handle.read(header_length))
    data_size = size - 8 - header_length
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(type(o) is int for o in offsets)):
            raise UserError(f"{path}: tensor {name!r} has no valid data_offsets in the header")
        if offsets[1] > data_size:
            raise UserError(f"{path}: truncated: tensor {name!r} ends at byte {offsets[1]} of the data, "
                            f"but the file holds {data_size}; re-export or re-download it")


def _parse_safetensors_header(path: str, raw: bytes) -> dict:
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        header = None
    if not isinstance(header, dict):
        raise UserError(f"{path}: not a safetensors file (its header is not a JSON object)")
    return header


def load_config(source: str, options: dict):
    """The model's config, built by its own config class; a field it rejects names config.json."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(source, **options)
    except (ValueError, TypeError) as error:  # the config class refusing a value from config.json
        # AtomConfig._validate writes "AtomConfig: field: expected ..., got ...".
        message = first_line(error).removeprefix("AtomConfig: ")
        raise UserError(f"{os.path.join(source, CONFIG_FILE)}: {message}") from None
    except OSError as error:  # e.g. a hub id that does not exist
        raise UserError(f"{source}: {first_line(error)}") from None


def check_device(device: str) -> None:
    """Refuse a device name torch does not know, or a CUDA device this machine does not have."""
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        raise UserError(f"--device {device}: not a device (expected cpu, cuda or cuda:N)") from None
    if parsed.type != "cuda":
        return
    if not torch.cuda.is_available():
        raise UserError(f"--device {device}: CUDA is not available on this machine")
    if parsed.index is not None and parsed.index >= torch.cuda.device_count():
        raise UserError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")


def torch_dtype(dtype: str | None, device: str):
    """The torch dtype for a `--dtype` name; None or "auto": bfloat16 on CUDA, else float32."""
    import torch

    if dtype is None or dtype == "auto":
        dtype = "bfloat16" if str(device).startswith("cuda") else "float32"
    return getattr(torch, dtype)


def first_line(error: BaseException) -> str:
    """The first line of an exception's message (transformers' OSErrors run to several lines)."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__
