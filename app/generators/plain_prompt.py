"""The prompt used when a model ships no chat template: plain `role: content` turns."""

from __future__ import annotations

from collections.abc import Sequence

from app.generators.base import ChatMessage

# A base model continues the transcript; this marks where it starts the next user turn.
PLAIN_STOP = "\nuser:"


def plain_chat_prompt(messages: Sequence[ChatMessage]) -> str:
    """Render messages as a transcript that ends where the assistant's answer begins."""
    turns = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n\n".join([*turns, "assistant:"])
