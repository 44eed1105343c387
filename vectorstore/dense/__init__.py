"""Dense search: the FAISS index and its kinds."""
