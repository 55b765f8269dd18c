"""Apache TVM: engine.py (the Engine), compile.py (Relax build in a child process). Importing
the folder imports no SDK."""
