"""The OpenAI-compatible chat completions API: its route, schemas and streaming."""
