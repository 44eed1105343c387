"""The whole store in Milvus: documents, chunks, vectors and keyword search, for API
replicas on several machines that share one Milvus (RAGQA_STORE_BACKEND=milvus)."""
