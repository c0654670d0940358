"""How to test your own Realtime app: see ``test_app.py``."""
