"""Embedders: the protocol, sentence-transformers, ONNX, OpenAI-compatible, the factory."""
