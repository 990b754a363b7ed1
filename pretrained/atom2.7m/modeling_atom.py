"""Atom: a small decoder-only causal LM with digit place/role embeddings and exclusive self attention.

The one copy of the model code. It ships inside every exported model directory, so it imports
only torch, transformers and its sibling files (relative imports).

Architecture (defaults = Atom2.7m, 2,738,880 parameters): token embedding (tied with the output
projection) + place embedding + role embedding -> N pre-norm blocks of grouped-query causal
attention with RoPE and XSA, and a SwiGLU MLP -> RMSNorm -> logits. No biases anywhere.
"""

from __future__ import annotations

import json
import os
import struct

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache, DynamicLayer
from transformers.modeling_outputs import CausalLMOutputWithPast

from .arithmetic_features import compute_arithmetic_ids
from .configuration_atom import AtomConfig


class RMSNorm(nn.Module):
    def __init__(self, hidden_size: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def rope_cos_sin(position_ids: torch.Tensor, head_dim: int, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables [batch, seq, head_dim] for RoPE, computed on the fly.

    Nothing is stored as a buffer: transformers 5 does not restore non-persistent buffers in
    `from_pretrained`, and recomputing costs nothing at this size.
    """
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, device=position_ids.device, dtype=torch.float32) / head_dim))
    angles = position_ids.float()[..., None] * inv_freq
    angles = torch.cat((angles, angles), dim=-1)
    return angles.cos(), angles.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate x [batch, heads, seq, head_dim] by the tables [batch, seq, head_dim]."""
    cos, sin = cos[:, None].to(x.dtype), sin[:, None].to(x.dtype)
    first, second = x.chunk(2, dim=-1)
    rotated = torch.cat((-second, first), dim=-1)
    return x * cos + rotated * sin


def exclusive_self_attention(attn_out: torch.Tensor, own_values: torch.Tensor, eps: float) -> torch.Tensor:
    """XSA (Zhai, 2026): remove from each head output its component along the token's own value.

    z_i = y_i - (y_i . v_i / ||v_i||^2) v_i, computed in float32 with ||v||^2 guarded by eps.
    """
    y, v = attn_out.float(), own_values.float()
    coefficient = (y * v).sum(-1, keepdim=True) / (v.pow(2).sum(-1, keepdim=True) + eps)
    return (y - coefficient * v).to(attn_out.dtype)


class AtomAttention(nn.Module):
    def __init__(self, config: AtomConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = config.num_attention_heads
        self.num_kv_heads = config.num_key_value_heads
        self.head_dim = config.head_dim
        self.use_xsa = config.use_xsa
        self.xsa_eps = config.xsa_eps
        self.q_proj = nn.Linear(config.hidden_size, self.num_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(config.hidden_size, self.num_kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.head_dim, config.hidden_size, bias=False)

    def forward(self, hidden, cos, sin, attn_mask, past_key_values):
        batch, seq, _ = hidden.shape
        q = self.q_proj(hidden).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)
        is_causal = attn_mask is None and seq > 1
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=is_causal,
            enable_gqa=self.num_heads != self.num_kv_heads,
        )
        if self.use_xsa:
            # The query at cache slot p reads its own value at slot p; under GQA, from its KV head.
            own_values = v[:, :, v.shape[2] - seq:]
            own_values = own_values.repeat_interleave(self.num_heads // self.num_kv_heads, dim=1)
            out = exclusive_self_attention(out, own_values, self.xsa_eps)
        return self.o_proj(out.transpose(1, 2).reshape(batch, seq, self.num_heads * self.head_dim))


class AtomMLP(nn.Module):
    def __init__(self, config: AtomConfig):
        super().__init__()
        self.gate_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.up_proj = nn.Linear(config.hidden_size, config.intermediate_size, bias=False)
        self.down_proj = nn.Linear(config.intermediate_size, config.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class AtomBlock(nn.Module):
    def __init__(self, config: AtomConfig, layer_idx: int):
        super().__init__()
        self.input_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.attn = AtomAttention(config, layer_idx)
        self.post_attn_norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.mlp = AtomMLP(config)

    def forward(self, hidden, cos, sin, attn_mask, past_key_values):
        hidden = hidden + self.attn(self.input_norm(hidden), cos, sin, attn_mask, past_key_values)
        return hidden + self.mlp(self.post_attn_norm(hidden))


def check_local_weights(model_dir) -> None:
    """Fail with the file name and the problem when a local model directory's weights are unusable."""
    if not os.path.isdir(str(model_dir)):
        return  # a hub id: transformers reports download problems itself
    names = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin")
    if not any(os.path.isfile(os.path.join(model_dir, name)) for name in names):
        raise OSError(f"{model_dir}: no model weights found (expected model.safetensors); re-run the export")
    path = os.path.join(model_dir, "model.safetensors")
    if not os.path.isfile(path):
        return
    size = os.path.getsize(path)
    try:
        with open(path, "rb") as handle:
            (header_length,) = struct.unpack("<Q", handle.read(8))
            if header_length > size - 8:
                raise ValueError(f"header claims {header_length} bytes but the file has {size}")
            header = json.loads(handle.read(header_length))
        data_size = size - 8 - header_length
        for name, entry in header.items():
            if name != "__metadata__" and entry["data_offsets"][1] > data_size:
                raise ValueError(f"tensor {name!r} extends past the end of the file (truncated?)")
    except (struct.error, ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
        raise OSError(f"{path}: corrupt safetensors file ({error}); re-export or re-download it") from None


class AtomPreTrainedModel(PreTrainedModel):
    config_class = AtomConfig
    config: AtomConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False
    _no_split_modules = ["AtomBlock"]
    _supports_sdpa = True

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        check_local_weights(pretrained_model_name_or_path)
        return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)


class AtomModel(AtomPreTrainedModel):
    """The decoder stack without the output projection."""

    def __init__(self, config: AtomConfig):
        super().__init__(config)
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size)
        self.embed_places = nn.Embedding(config.place_vocab_size, config.hidden_size) if config.use_place_ids else None
        self.embed_roles = nn.Embedding(config.role_vocab_size, config.hidden_size) if config.use_role_ids else None
        self.layers = nn.ModuleList(AtomBlock(config, i) for i in range(config.num_hidden_layers))
        self.norm = RMSNorm(config.hidden_size, config.rms_norm_eps)
        self.post_init()

    def get_input_embeddings(self):
        return self.embed_tokens

    def set_input_embeddings(self, value):
        self.embed_tokens = value

    def _token_history(self, input_ids, attention_mask, past_key_values, past_length):
        """Full token ids and mask (past + new) for deriving arithmetic features causally.

        The past tokens live in the cache as one extra layer after the attention layers, so the
        cache's own crop / reorder / batch_repeat_interleave / select keep them in step.
        """
        batch, seq = input_ids.shape
        new_mask = torch.ones_like(input_ids) if attention_mask is None else attention_mask[:, -seq:]
        if past_key_values is None:
            return input_ids, new_mask
        history_slot = self.config.num_hidden_layers
        while len(past_key_values.layers) <= history_slot:
            past_key_values.layers.append(DynamicLayer())
        new_ids = input_ids[:, None, :, None].float()
        new_mask_f = new_mask[:, None, :, None].float()
        if past_length > 0 and past_key_values.layers[history_slot].get_seq_length() != past_length:
            raise ValueError(
                "Atom needs the token ids of the cached prefix to derive place/role ids; this cache was "
                "not filled by Atom. Pass place_ids and role_ids explicitly, or let Atom fill the cache."
            )
        ids, mask = past_key_values.update(new_ids, new_mask_f, history_slot)
        return ids[:, 0, :, 0].long(), mask[:, 0, :, 0].long()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        place_ids: torch.LongTensor | None = None,
        role_ids: torch.LongTensor | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, Cache | None]:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Atom: pass exactly one of input_ids or inputs_embeds")
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training  # no cache to fill while training
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache()
        if not use_cache:
            past_key_values = None
        past_length = past_key_values.get_seq_length() if past_key_values is not None else 0

        hidden = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        batch, seq = hidden.shape[:2]
        needs_features = (self.embed_places is not None and place_ids is None) or (
            self.embed_roles is not None and role_ids is None
        )
        if input_ids is not None and (needs_features or past_key_values is not None):
            full_ids, full_mask = self._token_history(input_ids, attention_mask, past_key_values, past_length)
            if needs_features:
                derived_places, derived_roles = compute_arithmetic_ids(full_ids, self.config, full_mask)
                place_ids = derived_places[:, -seq:] if place_ids is None else place_ids
                role_ids = derived_roles[:, -seq:] if role_ids is None else role_ids
        elif needs_features:
            raise ValueError("Atom: with inputs_embeds, pass place_ids and role_ids (or disable the features)")
        if self.embed_places is not None:
            hidden = hidden + self.embed_places(place_ids)
        if self.embed_roles is not None:
            hidden = hidden + self.embed_roles(role_ids)

        if position_ids is None:
            if attention_mask is not None:
                # Positions count real tokens, so left padding does not shift RoPE.
                position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq:]
            else:
                position_ids = torch.arange(past_length, past_length + seq, device=hidden.device)[None].expand(batch, -1)
        cos, sin = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta)

        attn_mask = self._attention_mask(attention_mask, batch, seq, past_length, hidden.device)
        for layer in self.layers:
            hidden = layer(hidden, cos, sin, attn_mask, past_key_values)
        return self.norm(hidden), past_key_values

    @staticmethod
    def _attention_mask(attention_mask, batch, seq, past_length, device):
        """Boolean [batch, 1, seq, past+seq] mask, or None when plain causal attention suffices."""
        total = past_length + seq
        if attention_mask is None or bool(attention_mask.all()):
            if past_length == 0:
                return None
            if seq == 1:
                return None  # one new token attends to everything cached
        key_positions = torch.arange(total, device=device)
        query_positions = torch.arange(past_length, total, device=device)
        allowed = key_positions[None, :] <= query_positions[:, None]
        allowed = allowed[None, None].expand(batch, 1, seq, total)
        if attention_mask is not None:
            allowed = allowed & attention_mask[:, None, None, -total:].bool()
            # A padding query that sees nothing would give NaN; let it see itself (its output is unused).
            allowed = allowed | (key_positions[None, :] == query_positions[:, None])[None, None]
        return allowed


class AtomForCausalLM(AtomPreTrainedModel, GenerationMixin):
    _tied_weights_keys = {"lm_head.weight": "model.embed_tokens.weight"}

    def __init__(self, config: AtomConfig):
        super().__init__(config)
        self.model = AtomModel(config)
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.embed_tokens

    def set_input_embeddings(self, value):
        self.model.embed_tokens = value

    def get_output_embeddings(self):
        return self.lm_head

    def set_output_embeddings(self, value):
        self.lm_head = value

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        place_ids: torch.LongTensor | None = None,
        role_ids: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        """Logits for the next token; with `labels` (HF convention, shifted here, -100 ignored) the loss.

        `logits_to_keep`: 0 = all positions, k > 0 = the last k, a 1-D tensor = those positions.
        `num_items_in_batch`: divide the summed loss by this (e.g. supervised tokens of a global
        batch) instead of averaging over this call's supervised tokens.
        """
        hidden, past_key_values = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
            past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
            place_ids=place_ids, role_ids=role_ids,
        )
        if isinstance(logits_to_keep, int):
            kept = hidden[:, -logits_to_keep:] if logits_to_keep > 0 else hidden
        else:
            kept = hidden[:, logits_to_keep]
        logits = self.lm_head(kept)

        loss = None
        if labels is not None:
            shift_logits = self.lm_head(hidden[:, :-1]) if kept is not hidden else logits[:, :-1]
            targets = labels[:, 1:].to(shift_logits.device)
            summed = F.cross_entropy(
                shift_logits.float().reshape(-1, shift_logits.shape[-1]), targets.reshape(-1),
                ignore_index=-100, reduction="sum",
            )
            denominator = num_items_in_batch if num_items_in_batch is not None else (targets != -100).sum().clamp(min=1)
            loss = summed / denominator
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=past_key_values)


__all__ = ["AtomConfig", "AtomModel", "AtomForCausalLM", "AtomPreTrainedModel"]
