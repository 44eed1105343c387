"""Grounding: checking an answer against its sources, and answering in the sources' words."""
