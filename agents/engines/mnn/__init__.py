"""MNN: engine.py (the Engine), convert.py (ONNX to .mnn with MNNConvert). Importing the
folder imports no SDK."""
