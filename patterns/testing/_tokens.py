"""Offline token counting for the scripted model's accounting.

No tokenizer download is possible here (tiktoken fetches its encodings at run
time), so we count with a regex that mirrors the pre-tokenisation step of the
GPT-4 family: runs of letters with their leading space, digit groups of at most
three, punctuation runs and whitespace. It is within a few percent of cl100k on
English prose and, more importantly, it is the same function everywhere: the
in-process model, the HTTP server and every framework bridge count alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["count_tokens", "count_message_tokens", "split_tokens"]

_PIECE = re.compile(r"'(?:s|t|re|ve|m|ll|d)| ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+| ?_+|\s+(?!\S)|\s+")

# Chat formats wrap each message in a few control tokens (role, separators).
_PER_MESSAGE = 3
_PER_REPLY = 3


def split_tokens(text: str) -> list[str]:
    """Split text into the pieces we count; joining them gives the text back."""
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    """Number of tokens in `text`."""
    return len(_PIECE.findall(text))


def count_message_tokens(messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt tokens of a chat request given as OpenAI-style `{role, content}` dicts."""
    total = _PER_REPLY
    for message in messages:
        content = message.get("content") or ""
        if not isinstance(content, str):
            content = "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
        total += _PER_MESSAGE + count_tokens(str(message.get("role", ""))) + count_tokens(content)
    return total
