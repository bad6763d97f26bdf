"""Network services: one AE factory (``ae.py``) binds the per-service handler modules."""
