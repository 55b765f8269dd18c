"""TFLite (LiteRT): engine.py (the Engine), convert.py (ONNX to .tflite in a child process),
onnx2tf.py (that child). Importing the folder imports no SDK."""
