"""Capture: the only code that touches live tensors, autograd nodes, hooks and frames.

A :class:`~gradtrace.capture.recorder.Recorder` watches the traced code and ends by handing over
plain records (:mod:`gradtrace.capture.build` turns them into a :class:`~gradtrace.Trace`).
"""
