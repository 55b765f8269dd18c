"""ONNX Runtime: engine.py (the Engine), convert.py (fp16 and int8 models), types.py (ONNX
type strings to numpy). Importing the folder imports no SDK."""
