"""OpenVINO: engine.py (the Engine), convert.py (IR and NNCF int8), pool.py (async infer
requests), tensors.py (port facts). Importing the folder imports no SDK."""
