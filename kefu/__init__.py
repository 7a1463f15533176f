"""kefu: a self-hosted support assistant for crypto-wallet help desks.

This package holds the framework-free foundation shared by ingest, the service and
the eval suite: settings, errors, the embedder, the LLM generators and the offline
model set-up. Nothing here imports a web framework.
"""

__version__ = "0.1.0"
