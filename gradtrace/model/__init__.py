"""The Trace data: plain records of what autograd did, and the statistics of tensors.

Nothing here holds a live user tensor or an autograd node: a Trace can be pickled, compared,
kept, and built by hand in tests.
"""
