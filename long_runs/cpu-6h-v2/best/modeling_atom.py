"""Atom: a small decoder-only causal LM with digit place/role embeddings and exclusive self attention.

The one copy of the model code. It ships inside every exported model directory, so it imports
only torch, transformers and its sibling files (relative imports).

Architecture (defaults = Atom2.7m, 2,738,880 parameters): token embedding (tied with the output
projection) + place embedding + role embedding -> N pre-norm blocks of grouped-query causal
attention with RoPE and XSA, and a SwiGLU MLP -> RMSNorm -> logits. No biases anywhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import BaseModelOutputWithPast, CausalLMOutputWithPast

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


class _ExclusiveSelfAttention(torch.autograd.Function):
    """z = y - c v with c = (y . v) / (||v||^2 + eps) over the last dimension, in float32.

    `y` is [batch, kv_heads, group, seq, head_dim] (query heads grouped by the KV head they read)
    and `v` is [batch, kv_heads, 1, seq, head_dim], broadcast over the group. The backward is
    written out (grad_y = g - a v, grad_v = -c g - a (y - 2 c v) summed over the group, with
    a = (g . v) / (||v||^2 + eps)): autograd's graph of the same lines keeps and walks several
    float32 copies per layer, which made XSA cost about a tenth of a CPU training step.
    """

    @staticmethod
    def forward(ctx, y, v, eps):
        y32, v32 = y.float(), v.float()
        inverse_norm = 1.0 / (v32.pow(2).sum(-1, keepdim=True) + eps)
        coefficient = (y32 * v32).sum(-1, keepdim=True) * inverse_norm
        ctx.save_for_backward(y, v, coefficient, inverse_norm)
        return (y32 - coefficient * v32).to(y.dtype)

    @staticmethod
    def backward(ctx, grad):
        y, v, coefficient, inverse_norm = ctx.saved_tensors
        g, y32, v32 = grad.float(), y.float(), v.float()
        along_value = (g * v32).sum(-1, keepdim=True) * inverse_norm
        grad_y = g - along_value * v32
        grad_v = -(coefficient * g) - along_value * (y32 - 2 * coefficient * v32)
        return grad_y.to(y.dtype), grad_v.sum(2, keepdim=True).to(v.dtype), None


def exclusive_self_attention(attn_out: torch.Tensor, own_values: torch.Tensor, eps: float) -> torch.Tensor:
    """XSA (Zhai, 2026): remove from each head output its component along the token's own value.

    z_i = y_i - (y_i . v_i / ||v_i||^2) v_i, computed in float32 with ||v||^2 guarded by eps.
    `attn_out` is [batch, heads, seq, head_dim]; `own_values` is [batch, kv_heads, seq, head_dim]
    with kv_heads dividing heads (grouped-query attention: head h reads KV head h // group).
    """
    batch, heads, seq, head_dim = attn_out.shape
    kv_heads = own_values.shape[1]
    grouped = attn_out.reshape(batch, kv_heads, heads // kv_heads, seq, head_dim)
    z = _ExclusiveSelfAttention.apply(grouped, own_values[:, :, None], eps)
    return z.reshape(batch, heads, seq, head_dim)


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

    def forward(self, hidden, cos, sin, masks: "AttentionMasks", cache: Cache | None):
        batch, seq, _ = hidden.shape
        q = self.q_proj(hidden).view(batch, seq, self.num_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(hidden).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(hidden).view(batch, seq, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        own_values = v  # XSA needs each new token's own value, wherever the cache puts it
        if cache is not None:
            # cache_position: older 5.x static layers read it; newer ones track positions themselves.
            k, v = cache.update(k, v, self.layer_idx, {"cache_position": masks.cache_position})
        attn_mask = masks.for_key_length(k.shape[2])
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=attn_mask is None and seq > 1,
            enable_gqa=self.num_heads != self.num_kv_heads,
        )
        if self.use_xsa:
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

    def forward(self, hidden, cos, sin, masks, cache):
        hidden = hidden + self.attn(self.input_norm(hidden), cos, sin, masks, cache)
        return hidden + self.mlp(self.post_attn_norm(hidden))


class AtomPreTrainedModel(PreTrainedModel):
    config_class = AtomConfig
    config: AtomConfig
    base_model_prefix = "model"
    supports_gradient_checkpointing = False
    _no_split_modules = ["AtomBlock"]
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=std)
        elif isinstance(module, RMSNorm):
            nn.init.ones_(module.weight)



def _output_cache_field(output_class) -> str:
    """The field a transformers output dataclass holds the cache in: `cache` (newer 5.x) or `past_key_values`."""
    return "cache" if "cache" in output_class.__dataclass_fields__ else "past_key_values"


def _resolve_cache(cache: Cache | None, past_key_values: Cache | None) -> Cache | None:
    """The cache passed under either name (`past_key_values` is its name in older 5.x releases)."""
    if cache is not None and past_key_values is not None:
        raise ValueError("Atom: pass the cache as `cache` or as `past_key_values`, not both")
    return cache if cache is not None else past_key_values


class AtomCache(DynamicCache):
    """A `DynamicCache` that also holds the token ids (and padding mask) of everything it caches.

    Place and role ids of a new token depend on the tokens before it. `generate` derives them
    from the full `input_ids` it holds (`prepare_inputs_for_generation`); a caller that drives
    the cache by hand (e.g. the ArithMark scorer: one pass over a shared context, then several
    continuations read copies of its cache) passes only the new tokens, so the history lives
    here, in named fields that every batch/length operation keeps in step with the keys and values.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.token_ids: torch.Tensor | None = None
        self.token_mask: torch.Tensor | None = None

    def append_tokens(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Record the new tokens (call before the layers update); return all ids and mask so far."""
        cached = 0 if self.token_ids is None else self.token_ids.shape[1]
        if cached != self.get_seq_length():
            raise ValueError(
                f"AtomCache holds {cached} token ids for {self.get_seq_length()} cached positions: it was filled "
                "without its token ids. Let Atom fill it, or pass place_ids and role_ids explicitly."
            )
        if self.token_ids is None:
            self.token_ids, self.token_mask = input_ids, attention_mask
        else:
            self.token_ids = torch.cat([self.token_ids, input_ids], dim=1)
            self.token_mask = torch.cat([self.token_mask, attention_mask], dim=1)
        return self.token_ids, self.token_mask

    def _apply_to_history(self, operation) -> None:
        if self.token_ids is not None:
            self.token_ids, self.token_mask = operation(self.token_ids), operation(self.token_mask)

    def crop(self, *args, **kwargs):
        super().crop(*args, **kwargs)  # the argument's meaning changed across 5.x; follow the keys
        kept = self.get_seq_length()
        self._apply_to_history(lambda history: history[:, :kept])

    def reorder_cache(self, beam_idx: torch.LongTensor):
        super().reorder_cache(beam_idx)
        self._apply_to_history(lambda history: history.index_select(0, beam_idx.to(history.device)))

    def batch_repeat_interleave(self, repeats: int):
        super().batch_repeat_interleave(repeats)
        self._apply_to_history(lambda history: history.repeat_interleave(repeats, dim=0))

    def batch_select_indices(self, indices: torch.Tensor):
        super().batch_select_indices(indices)
        self._apply_to_history(lambda history: history[indices.to(history.device)])

    def reset(self):
        super().reset()
        self.token_ids = self.token_mask = None


class AttentionMasks:
    """The attention mask of one forward pass, built once per key length the layers see.

    Key length is the cached plus new tokens for a dynamic cache, and the cache's fixed size for
    a static one, so it is known only once a layer has updated the cache. `None` means plain
    causal attention (SDPA's fast path).
    """

    def __init__(self, attention_mask: torch.Tensor | None, batch: int, seq: int, past_length: int, device):
        self.attention_mask = attention_mask
        self.batch, self.seq, self.past_length, self.device = batch, seq, past_length, device
        self.cache_position = torch.arange(past_length, past_length + seq, device=device)
        self._built: dict[int, torch.Tensor | None] = {}

    def for_key_length(self, key_length: int) -> torch.Tensor | None:
        if key_length not in self._built:
            self._built[key_length] = self._build(key_length)
        return self._built[key_length]

    def _build(self, key_length: int) -> torch.Tensor | None:
        mask = self.attention_mask
        if mask is not None and mask.dim() == 4:
            return mask  # prepared by the caller (e.g. generate with a static cache)
        filled = self.past_length + self.seq
        all_real = mask is None or bool(mask.all())
        if all_real and key_length == filled and (self.past_length == 0 or self.seq == 1):
            return None  # a fresh causal pass, or one new token that sees everything cached
        key_positions = torch.arange(key_length, device=self.device)
        allowed = key_positions[None, :] <= self.cache_position[:, None]  # causal; excludes unfilled slots
        allowed = allowed[None, None].expand(self.batch, 1, self.seq, key_length)
        if mask is not None:
            real_keys = torch.zeros(self.batch, key_length, dtype=torch.bool, device=self.device)
            real_keys[:, :filled] = mask[:, -filled:].bool()
            # A padding query that sees nothing would give NaN; let it see itself (its output is unused).
            itself = key_positions[None, :] == self.cache_position[:, None]
            allowed = (allowed & real_keys[:, None, None, :]) | itself[None, None]
        return allowed


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

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        use_cache: bool | None = None,
        place_ids: torch.LongTensor | None = None,
        role_ids: torch.LongTensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
    ):
        """Final hidden states ([batch, seq, hidden]) as a `BaseModelOutputWithPast`.

        `cache` (`past_key_values` in older 5.x releases): with `use_cache` and no cache given, an `AtomCache` is created, so the
        returned cache can be passed back with new tokens only. `place_ids`/`role_ids` default to
        the ones derived from the token ids (see arithmetic_features.py).
        """
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("Atom: pass exactly one of input_ids or inputs_embeds")
        if output_attentions:
            raise ValueError("Atom: output_attentions is not supported (attention runs in fused SDPA kernels)")
        cache = _resolve_cache(cache, past_key_values)
        if use_cache is None:
            use_cache = self.config.use_cache and not self.training  # no cache to fill while training
        if not use_cache:
            cache = None
        elif cache is None:
            cache = AtomCache()
        past_length = cache.get_seq_length() if cache is not None else 0

        hidden = self.embed_tokens(input_ids) if inputs_embeds is None else inputs_embeds
        batch, seq = hidden.shape[:2]
        padding_mask = attention_mask if attention_mask is not None and attention_mask.dim() == 2 else None
        place_ids, role_ids = self._arithmetic_ids(input_ids, padding_mask, cache, past_length, place_ids, role_ids)
        if self.embed_places is not None:
            hidden = hidden + self.embed_places(place_ids)
        if self.embed_roles is not None:
            hidden = hidden + self.embed_roles(role_ids)

        if position_ids is None:
            position_ids = self._default_position_ids(padding_mask, batch, seq, past_length, hidden.device)
        cos, sin = rope_cos_sin(position_ids, self.config.head_dim, self.config.rope_theta)

        masks = AttentionMasks(attention_mask, batch, seq, past_length, hidden.device)
        all_hidden = [hidden] if output_hidden_states else None
        for layer in self.layers:
            hidden = layer(hidden, cos, sin, masks, cache)
            if all_hidden is not None:
                all_hidden.append(hidden)
        hidden = self.norm(hidden)
        if all_hidden is not None:
            all_hidden[-1] = hidden  # as transformers models do: the last entry is after the final norm
        output = BaseModelOutputWithPast(
            last_hidden_state=hidden,
            hidden_states=tuple(all_hidden) if all_hidden is not None else None,
            **{_output_cache_field(BaseModelOutputWithPast): cache},
        )
        return output if return_dict is not False else output.to_tuple()

    def _arithmetic_ids(self, input_ids, padding_mask, cache, past_length, place_ids, role_ids):
        """Place/role ids of the new tokens: the caller's, or derived from all tokens so far."""
        needed = (self.embed_places is not None and place_ids is None) or (
            self.embed_roles is not None and role_ids is None
        )
        if input_ids is None:
            if needed:
                raise ValueError("Atom: with inputs_embeds, pass place_ids and role_ids (or disable the features)")
            return place_ids, role_ids
        seq = input_ids.shape[1]
        full_ids = input_ids
        full_mask = padding_mask[:, -seq:] if padding_mask is not None else torch.ones_like(input_ids)
        if isinstance(cache, AtomCache):
            full_ids, full_mask = cache.append_tokens(input_ids, full_mask)
        elif needed and past_length > 0:
            raise ValueError(
                f"Atom derives place/role ids from the token ids before the new ones, which a "
                f"{type(cache).__name__} does not hold: pass place_ids and role_ids for the new tokens, "
                "use AtomCache, or call generate(), which derives them from its full input_ids"
            )
        if not needed:
            return place_ids, role_ids
        derived_places, derived_roles = compute_arithmetic_ids(full_ids, self.config, full_mask)
        place_ids = derived_places[:, -seq:] if place_ids is None else place_ids
        role_ids = derived_roles[:, -seq:] if role_ids is None else role_ids
        return place_ids, role_ids

    @staticmethod
    def _default_position_ids(padding_mask, batch, seq, past_length, device):
        """Positions count real tokens, so left padding does not shift RoPE."""
        if padding_mask is None:
            return torch.arange(past_length, past_length + seq, device=device)[None].expand(batch, -1)
        if padding_mask.shape[1] != past_length + seq:
            raise ValueError(
                f"Atom: attention_mask covers {padding_mask.shape[1]} tokens but {past_length} are cached and "
                f"{seq} are new; pass the mask of all of them (the Hugging Face convention)"
            )
        return (padding_mask.long().cumsum(-1) - 1).clamp(min=0)[:, -seq:]


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
        cache: Cache | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        place_ids: torch.LongTensor | None = None,
        role_ids: torch.LongTensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        num_items_in_batch: int | torch.Tensor | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
        return_dict: bool | None = None,
        past_key_values: Cache | None = None,
    ) -> CausalLMOutputWithPast:
        """Logits for the next token; with `labels` (HF convention, shifted here, -100 ignored) the loss.

        `logits_to_keep`: 0 = all positions, k > 0 = the last k, a 1-D tensor = those positions.
        `num_items_in_batch`: divide the summed loss by this (e.g. supervised tokens of a global
        batch) instead of averaging over this call's supervised tokens. The cache arguments are
        as in `AtomModel.forward`.
        """
        outputs = self.model(
            input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
            past_key_values=past_key_values, inputs_embeds=inputs_embeds, use_cache=use_cache,
            place_ids=place_ids, role_ids=role_ids, output_hidden_states=output_hidden_states,
            output_attentions=output_attentions, return_dict=True,
        )
        hidden = outputs.last_hidden_state
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
        cache_field = _output_cache_field(CausalLMOutputWithPast)
        output = CausalLMOutputWithPast(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states,
            **{cache_field: getattr(outputs, cache_field)},
        )
        return output if return_dict is not False else output.to_tuple()

    def prepare_inputs_for_generation(self, input_ids, attention_mask=None, **kwargs):
        """The library's preparation, plus place/role ids of the tokens this step feeds.

        They are derived from the full `input_ids` (and 2-D padding mask) that `generate` holds,
        as Llama derives `position_ids`, so any cache class works and beam reordering, batch
        expansion and cropping need no extra state.
        """
        model_inputs = super().prepare_inputs_for_generation(input_ids, attention_mask=attention_mask, **kwargs)
        model_inputs.pop("cache_position", None)  # older 5.x releases add it; positions come from the mask
        new_ids = model_inputs.get("input_ids")
        wants_features = self.config.use_place_ids or self.config.use_role_ids
        if new_ids is None or not wants_features or "place_ids" in kwargs or "role_ids" in kwargs:
            return model_inputs
        padding_mask = attention_mask if attention_mask is not None and attention_mask.dim() == 2 else None
        place_ids, role_ids = compute_arithmetic_ids(input_ids, self.config, padding_mask)
        step = new_ids.shape[1]
        model_inputs["place_ids"] = place_ids[:, -step:].to(new_ids.device)
        model_inputs["role_ids"] = role_ids[:, -step:].to(new_ids.device)
        return model_inputs


# save_pretrained writes these into `auto_map` and copies the code files beside the weights, so a
# saved directory (an export, Trainer.save_model, a re-save after loading) loads with trust_remote_code.
AtomModel.register_for_auto_class("AutoModel")
AtomForCausalLM.register_for_auto_class("AutoModelForCausalLM")

__all__ = ["AtomCache", "AtomConfig", "AtomModel", "AtomForCausalLM", "AtomPreTrainedModel"]
