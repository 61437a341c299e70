"""Operations: request ids carried from web to worker, JSON logs, and the signals that feed metrics.

Nothing here imports a model at import time: `kabao.celery` imports it before Django is set up.
"""
