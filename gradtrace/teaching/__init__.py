"""Teaching: local derivatives, chain-rule paths, ``explain``, exercises, the stepper's walk.

Reads a Trace; draws nothing itself (the views lay its results out).
"""
