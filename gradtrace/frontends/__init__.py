"""Front ends: ``trace()`` / ``@trace``, the ``%%gradtrace`` magic, and ``python -m gradtrace``."""
