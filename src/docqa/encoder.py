"""Encoder: the bundled all-MiniLM-L6-v2 (a 6-layer BERT, mean pooling) run directly in torch.

sentence-transformers computes the same vectors, but importing it pulls in transformers' model code, scikit-learn
and scipy: about 5 s of a cold `docqa ask` here, against about 1.5 s for torch alone. This reads the model
folder's own files (config.json, model.safetensors, tokenizer.json, sentence_bert_config.json) and runs
nothing from it. Its vectors equal `SentenceTransformer.encode(normalize_embeddings=True)` within 1e-5
(tests/test_embedding.py); a folder that is not a mean-pooled BERT is refused rather than guessed at.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ModelError
from .vectors import normalise

EXPECTED_MODULES = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                    "sentence_transformers.models.Normalize"]


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"{path}: unreadable ({exc})") from exc


def refusal(folder: Path) -> str | None:
    """Why this encoder cannot run `folder` (None when it can); reads the folder's JSON files, loads nothing."""
    try:
        config = _read_json(folder / "config.json")
        modules = [m.get("type") for m in _read_json(folder / "modules.json")]
        pooling = _read_json(folder / "1_Pooling" / "config.json")
    except ModelError as exc:
        return str(exc)
    if (config.get("model_type") != "bert" or config.get("hidden_act") != "gelu"
            or config.get("position_embedding_type", "absolute") != "absolute"
            or modules != EXPECTED_MODULES or not pooling.get("pooling_mode_mean_tokens")
            or any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens",
                                            "pooling_mode_mean_sqrt_len_tokens"))):
        return "not a mean-pooled, normalised BERT sentence model; docqa runs only that"
    missing = [name for name in ("tokenizer.json", "model.safetensors", "sentence_bert_config.json")
               if not (folder / name).is_file()]
    return f"no {', '.join(missing)} in the folder" if missing else None


class BertEncoder:
    """Token vectors and mean-pooled, normalised text vectors from a sentence-transformers BERT folder."""

    def __init__(self, folder: Path) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        reason = refusal(folder)
        if reason:
            raise ModelError(f"{folder}: {reason}")
        config = _read_json(folder / "config.json")
        self.dims = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.layers = int(config["num_hidden_layers"])
        self.eps = float(config["layer_norm_eps"])
        self.max_tokens = int(_read_json(folder / "sentence_bert_config.json")["max_seq_length"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_tokens)
        self.tokenizer.no_padding()
        try:
            self.weights = {k: v.float() for k, v in load_file(str(folder / "model.safetensors")).items()}
        except (OSError, RuntimeError) as exc:
            raise ModelError(f"{folder / 'model.safetensors'}: unreadable ({exc})") from exc
        self._torch = torch

    def tokenize(self, texts: Sequence[str]) -> list[Any]:
        """One `tokenizers.Encoding` per text (ids and character offsets), truncated as the model is."""
        return self.tokenizer.encode_batch(list(texts))

    def token_vectors(self, encodings: Sequence[Any], batch_size: int = 32) -> list[np.ndarray]:
        """Each text's contextual token vectors (n_tokens, dims), special tokens included.

        Texts run in batches of similar length, so little time goes on padding."""
        order = sorted(range(len(encodings)), key=lambda i: -len(encodings[i].ids))
        out: list[np.ndarray] = [np.zeros((0, self.dims), np.float32)] * len(encodings)
        torch = self._torch
        with torch.inference_mode():
            for first in range(0, len(order), max(batch_size, 1)):
                batch = order[first : first + batch_size]
                longest = len(encodings[batch[0]].ids)
                ids = torch.zeros((len(batch), longest), dtype=torch.long)
                mask = torch.zeros((len(batch), longest), dtype=torch.bool)
                for row, i in enumerate(batch):
                    n = len(encodings[i].ids)
                    ids[row, :n] = torch.tensor(encodings[i].ids, dtype=torch.long)
                    mask[row, :n] = True
                hidden = self._forward(ids, mask).numpy()
                for row, i in enumerate(batch):
                    out[i] = hidden[row, : len(encodings[i].ids)]
        return out

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Mean-pooled, normalised float32 vectors, one row per text."""
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        return normalise(np.vstack([t.mean(axis=0) for t in self.token_vectors(self.tokenize(texts), batch_size)]))

    def _forward(self, ids: Any, mask: Any) -> Any:
        torch, w = self._torch, self.weights
        functional = torch.nn.functional
        batch, length = ids.shape
        positions = torch.arange(length)
        x = (w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = self._norm(x, "embeddings.LayerNorm")
        head_dims = self.dims // self.heads
        attend = mask[:, None, None, :]
        for n in range(self.layers):
            p = f"encoder.layer.{n}."

            def heads(name: str) -> Any:
                y = functional.linear(x, w[p + name + ".weight"], w[p + name + ".bias"])
                return y.view(batch, length, self.heads, head_dims).transpose(1, 2)

            context = functional.scaled_dot_product_attention(
                heads("attention.self.query"), heads("attention.self.key"), heads("attention.self.value"),
                attn_mask=attend, scale=1 / math.sqrt(head_dims),
            ).transpose(1, 2).reshape(batch, length, self.dims)
            x = self._norm(x + self._linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            inner = functional.gelu(self._linear(x, p + "intermediate.dense"))
            x = self._norm(x + self._linear(inner, p + "output.dense"), p + "output.LayerNorm")
        return x

    def _linear(self, x: Any, name: str) -> Any:
        return self._torch.nn.functional.linear(x, self.weights[name + ".weight"], self.weights[name + ".bias"])

    def _norm(self, x: Any, name: str) -> Any:
        return self._torch.nn.functional.layer_norm(
            x, (self.dims,), self.weights[name + ".weight"], self.weights[name + ".bias"], self.eps
        )
