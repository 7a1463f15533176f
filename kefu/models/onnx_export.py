"""Export a sentence-transformers folder's transformer to ONNX, and quantise it to int8.

The export is torch's TorchScript-based exporter (``dynamo=False``); the graph takes ``input_ids`` and
``attention_mask`` and returns ``last_hidden_state``, pooled by
:class:`kefu.onnx_embedder.OnnxEmbedder`. The int8 file is ONNX Runtime's dynamic
quantisation of the weights, per channel (per tensor moved e5-small's vectors three
times further from torch's; docs/benchmarks.md).
"""

from __future__ import annotations

import warnings
from pathlib import Path

from kefu.errors import ModelSetupError

#: ONNX opset of the export; ONNX Runtime 1.17 and later run it.
OPSET = 17


def export_onnx(folder: Path, out: Path) -> None:
    """Write the transformer of the sentence-transformers folder ``folder`` to ``out``."""
    # torch and transformers are heavy: import only when exporting.
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()
    except OSError as exc:
        raise ModelSetupError(f"cannot load the transformer in {folder}: {exc}") from exc

    class LastHidden(torch.nn.Module):
        """The model called by keyword (transformers 5's forward takes more positionals)."""

        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden: torch.Tensor = self.inner(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            return hidden

    ids = torch.tensor([[0, 100, 200, 2], [0, 300, 2, 1]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0]])
    dynamic = {0: "batch", 1: "sequence"}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exporter's tracer warnings are about branches it handles
        torch.onnx.export(
            LastHidden(model),
            (ids, mask),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": dynamic, "attention_mask": dynamic, "last_hidden_state": dynamic},
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, out: Path) -> None:
    """Dynamic int8 quantisation of ``source``'s weights (activations quantised at run time),
    but for the feed-forward output projections (see the module docstring)."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False).graph
    kept_fp32 = [n.name for n in graph.node if n.op_type == "MatMul" and _is_ffn_output(n.name)]

    # It logs advice to pre-process on every call; that step is for static quantisation.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source), str(out), weight_type=QuantType.QInt8, per_channel=True, nodes_to_exclude=kept_fp32
        )
    finally:
        root.setLevel(level)


def _is_ffn_output(node_name: str) -> bool:
    """A BERT-style layer's feed-forward output MatMul, as the exporter names it
    (``.../layer.N/output/dense/MatMul``; the attention's is ``.../attention/output/dense/...``)."""
    return "/output/dense/" in node_name and "/attention/" not in node_name
