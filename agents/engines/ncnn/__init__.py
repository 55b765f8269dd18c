"""ncnn: engine.py (the Engine), convert.py (ONNX to .param/.bin with pnnx). Importing the
folder imports no SDK."""
