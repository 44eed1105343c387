"""Search: the retriever that fuses dense and keyword results, fusion, reranking."""
