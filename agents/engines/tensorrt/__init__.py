"""TensorRT: engine.py (the Engine), build.py (ONNX to plan), session.py (timed runs),
cuda.py (the CUDA runtime layer), int8.py (calibration and Q/DQ), profile.py (optimization
profiles). Importing the folder imports no SDK."""
