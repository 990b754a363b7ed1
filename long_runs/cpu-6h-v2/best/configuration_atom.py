"""Configuration of the Atom decoder-only language model.

This file ships inside every exported model directory, so it imports only `transformers` (4.46
and newer: an export loads there too).
Defaults reproduce Atom2.7m exactly (2,738,880 parameters with the default tokenizer).
"""

try:
    from transformers import PreTrainedConfig
except ImportError:  # transformers 4.x spells it PretrainedConfig
    from transformers import PretrainedConfig as PreTrainedConfig

from .arithmetic_features import ARITHMETIC_SYMBOLS, NUM_ROLES

# Token ids of the arithmetic vocabulary in the default fusion tokenizer. The model derives
# place/role ids from these, so a tokenizer trained differently must pass its own ids
# (`atomlm export` does this from the tokenizer it ships).
DEFAULT_DIGIT_TOKEN_IDS = [20, 21, 22, 23, 24, 25, 26, 27, 28, 29]  # "0" .. "9"
DEFAULT_OPERATOR_TOKEN_IDS = {"+": 15, "-": 17, "*": 14, "/": 19, "=": 33, "(": 12, ")": 13}
DEFAULT_SPACE_TOKEN_ID = 225  # " " (byte-level "Ġ")


class AtomConfig(PreTrainedConfig):
    """Hyper-parameters of Atom, plus the token ids the arithmetic features are derived from.

    Ablation flags: `use_place_ids`, `use_role_ids` (drop their embedding tables when off) and
    `use_xsa` (exclusive self attention; parameter-free). Digit order and the number marker are
    tokenizer options (`atomlm tokenizer train --digit-order / --number-marker`); with the marker,
    `number_end_token_id` names its id.
    """

    model_type = "atom"
    keys_to_ignore_at_inference = ["past_key_values"]

    def __init__(
        self,
        vocab_size=4096,
        hidden_size=192,
        intermediate_size=480,
        num_hidden_layers=5,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=48,
        max_position_embeddings=548,
        rope_theta=5000.0,
        rms_norm_eps=1e-6,
        initializer_range=0.02,
        use_place_ids=True,
        use_role_ids=True,
        use_xsa=True,
        place_vocab_size=66,
        role_vocab_size=NUM_ROLES,
        xsa_eps=1e-6,
        digit_token_ids=None,
        operator_token_ids=None,
        space_token_id=DEFAULT_SPACE_TOKEN_ID,
        number_end_token_id=None,
        tie_word_embeddings=True,
        use_cache=True,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=2,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads
        self.head_dim = head_dim
        self.max_position_embeddings = max_position_embeddings
        self.rope_theta = rope_theta
        self.rms_norm_eps = rms_norm_eps
        self.initializer_range = initializer_range
        self.use_place_ids = use_place_ids
        self.use_role_ids = use_role_ids
        self.use_xsa = use_xsa
        self.place_vocab_size = place_vocab_size
        self.role_vocab_size = role_vocab_size
        self.xsa_eps = xsa_eps
        self.digit_token_ids = list(digit_token_ids if digit_token_ids is not None else DEFAULT_DIGIT_TOKEN_IDS)
        self.operator_token_ids = dict(
            operator_token_ids if operator_token_ids is not None else DEFAULT_OPERATOR_TOKEN_IDS
        )
        self.space_token_id = space_token_id
        self.number_end_token_id = number_end_token_id  # the tokenizer's <|number_end|> marker, if it has one
        self.use_cache = use_cache
        self._validate()
        super().__init__(
            bos_token_id=bos_token_id,
            eos_token_id=eos_token_id,
            pad_token_id=pad_token_id,
            tie_word_embeddings=tie_word_embeddings,
            **kwargs,
        )

    def _validate(self):
        # Types first: a config.json with "five" for a layer count must fail here, naming the
        # field, not later inside torch.
        for field in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                      "num_key_value_heads", "head_dim", "max_position_embeddings", "place_vocab_size",
                      "role_vocab_size", "space_token_id"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"AtomConfig: {field}: expected an integer, got {value!r}")
        marker = self.number_end_token_id
        if marker is not None and (isinstance(marker, bool) or not isinstance(marker, int)):
            raise ValueError(f"AtomConfig: number_end_token_id: expected an integer or null, got {marker!r}")
        for field in ("rope_theta", "rms_norm_eps", "initializer_range", "xsa_eps"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"AtomConfig: {field}: expected a number, got {value!r}")
        for field in ("use_place_ids", "use_role_ids", "use_xsa", "use_cache"):
            value = getattr(self, field)
            if not isinstance(value, bool):
                raise ValueError(f"AtomConfig: {field}: expected true or false, got {value!r}")
        for field, ids in (("digit_token_ids", self.digit_token_ids),
                           ("operator_token_ids", list(self.operator_token_ids.values()))):
            if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
                raise ValueError(f"AtomConfig: {field}: expected integer token ids, got {getattr(self, field)!r}")
        if self.num_attention_heads <= 0 or self.num_key_value_heads <= 0:
            raise ValueError(
                f"AtomConfig: num_attention_heads ({self.num_attention_heads}) and "
                f"num_key_value_heads ({self.num_key_value_heads}) must be positive"
            )
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"AtomConfig: num_attention_heads ({self.num_attention_heads}) must be a multiple of "
                f"num_key_value_heads ({self.num_key_value_heads}) for grouped-query attention"
            )
        if self.head_dim % 2 != 0:
            raise ValueError(f"AtomConfig: head_dim ({self.head_dim}) must be even for RoPE")
        if len(self.digit_token_ids) != 10:
            raise ValueError(f"AtomConfig: digit_token_ids needs 10 ids for '0'..'9', got {self.digit_token_ids}")
        missing = set(ARITHMETIC_SYMBOLS) - set(self.operator_token_ids)
        if missing:
            raise ValueError(f"AtomConfig: operator_token_ids lacks {sorted(missing)}")
        if self.place_vocab_size < 3:
            raise ValueError(f"AtomConfig: place_vocab_size ({self.place_vocab_size}) must be at least 3")
        if self.role_vocab_size != NUM_ROLES:
            raise ValueError(
                f"AtomConfig: role_vocab_size must be {NUM_ROLES} (the role table), got {self.role_vocab_size}"
            )


AtomConfig.register_for_auto_class()  # save_pretrained writes auto_map["AutoConfig"] and copies this file
