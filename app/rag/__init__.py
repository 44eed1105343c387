"""The answer logic: retrieval to prompt to checked answer, and what it is made of."""
