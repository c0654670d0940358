"""One module per concern, each with a module-level ``router``; ``app.py`` includes them."""
