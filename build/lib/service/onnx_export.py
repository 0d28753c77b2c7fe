"""The encoder an index carries: the model exported to ONNX, and quantised to int8 when asked."""

from __future__ import annotations

import contextlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from service.corpus import Passage
from service.embedding import (
    ONNX_CONFIG,
    ONNX_MODEL,
    ONNX_TOKENIZER,
    Embedder,
    OnnxEmbedder,
    load_tokenizer,
    model_inputs,
)
from service.store import views

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

CALIBRATION_TEXTS = 256


def export_onnx(model: SentenceTransformer, location: str, name: str, target: Path) -> bool:
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
    tokenizer = load_tokenizer(directory)

    class Batches(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime is untyped (Any)
        def __init__(self) -> None:
            self._starts = iter(range(0, len(calibration), 8))

        def get_next(self) -> dict[str, np.ndarray] | None:
            start = next(self._starts, None)
            return (
                None if start is None else model_inputs(tokenizer, calibration[start : start + 8])
            )

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


@dataclass(frozen=True)
class Encoder:
    """What embeds an index's passages: the model, the directory of its exported files (None:
    nothing to keep beside the index) and the precision of its weights."""

    model: Embedder
    directory: Path | None = None
    precision: str = "float32"


def prepare(model: Embedder, workdir: Path, calibration: list[str] | None = None) -> Encoder:
    """The encoder to embed an index's passages with: the one its server will embed questions
    with, so both sides of every comparison come from the same weights.

    That is ``model`` exported to ONNX in ``workdir`` (int8, calibrated on ``calibration``,
    when given) when it can be; an already exported encoder as it is (a server rebuilding
    its index); else ``model``.
    """
    inner = getattr(model, "inner", model)  # a BatchingEmbedder's model
    if isinstance(inner, OnnxEmbedder):
        return Encoder(model, inner.directory, inner.precision)
    export = getattr(inner, "export_onnx", None)
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return Encoder(model)
    if export is None or not export(workdir):
        return Encoder(model)
    if calibration:
        quantize_onnx(workdir, calibration)
    exported = OnnxEmbedder(workdir)
    return Encoder(exported, workdir, exported.precision)


def calibration_texts(passages: list[Passage], count: int = CALIBRATION_TEXTS) -> list[str]:
    """Texts spread evenly over the corpus's views (titles, questions and answers) for
    measuring the encoder's activation ranges before quantising it; the same every build."""
    texts = list(dict.fromkeys(view for passage in passages for view in views(passage)))
    step = max(1, len(texts) // count)
    return texts[::step][:count]
