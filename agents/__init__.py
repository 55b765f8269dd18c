"""benchlab agent: the part that runs on a board.

It compiles a model for one engine, measures it, and reports a RunResult. It imports
nothing from the rest of benchlab and needs only numpy plus the engine SDK it runs, so that
the SSH transport can ship it to a board as a zipapp.
"""

__version__ = "0.1.0"
