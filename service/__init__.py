"""dockfaq: a bilingual Docker Q&A assistant that answers from a curated corpus."""

import os

__version__ = "0.1.0"

# ONNX Runtime's Linux wheels send usage telemetry to Microsoft by default: they write a device
# id under ~/.cache/Microsoft, queue events, and at exit wait seconds for an upload that an
# offline server can never make (`docker stop` took 9 s). Off, before onnxruntime is imported;
# set ORT_DISABLE_TELEMETRY=0 to choose otherwise.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
