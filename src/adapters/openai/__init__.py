"""Embeddings from OpenAI's API, or any server that speaks it (``OPENAI_BASE_URL``)."""
