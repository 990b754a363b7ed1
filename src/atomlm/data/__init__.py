"""Data: tokenizer-ready text sources, Synthetic-Arithmetic, curricula, shards and loaders."""

# Which tokens the training loss is on: "all" (every real token) or "answers" (equations are
# supervised only after their "="; text stays supervised). `arithmetic_features.question_tokens`
# finds the questions; `data.loss_on` in a training config picks one.
LOSS_ON = ("all", "answers")
