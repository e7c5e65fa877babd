"""insiderwatch detector library: pure stages (schema, simulator, aggregate, features, model,
alerts) and the store.

Never imports click, never reads the environment or a config file at import time.
"""

__version__ = "0.1.0"
