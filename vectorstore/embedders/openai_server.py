"""An OpenAI-compatible server (vLLM, TGI, TEI, llama.cpp, Ollama): client, readiness, tokens."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vectorstore.embedders.token_estimate import estimate_tokens

if TYPE_CHECKING:
    from openai import OpenAI

# `openai` is imported inside the functions that use it: the embedder and generator
# modules import this one, and the local backends should not pay for the client.
log = logging.getLogger("ragqa")

CountText = Callable[[str], int]

# The openai client refuses to start without a key; servers started without one ignore it.
_NO_KEY = "not-needed"
_PROBE_TEXT = "ragqa token probe: 42 words."


class RemoteServerError(RuntimeError):
    """The server cannot be reached, lacks the model, or failed a request."""


def make_client(base_url: str, api_key: str, timeout: float) -> OpenAI:
    """A client with no retries of its own: waiting is `wait_for_model`'s job, and a
    retried generation would silently double the server's work."""
    import openai

    return openai.OpenAI(
        base_url=base_url,
        api_key=api_key or _NO_KEY,
        max_retries=0,
        # A short connect timeout: an unreachable host is reported in seconds, while a
        # long read timeout leaves a CPU server time for a long prompt.
        timeout=openai.Timeout(timeout, connect=min(timeout, 10.0)),
    )


def server_root(base_url: str) -> str:
    """Where non-OpenAI routes live (/tokenize, /props, /info): the base URL minus /v1."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def describe(exc: Exception, url: str, what: str) -> str:
    """One sentence a user can act on, naming the server's URL."""
    import openai

    if isinstance(exc, openai.APITimeoutError):
        return f"the {what} server at {url} did not answer in time"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach the {what} server at {url} ({exc.__cause__ or exc})"
    if isinstance(exc, openai.AuthenticationError):
        return f"the {what} server at {url} refused the API key (401); check its RAGQA_*_API_KEY"
    if isinstance(exc, openai.APIStatusError):
        return f"the {what} server at {url} answered {exc.status_code}: {exc.message}"
    return f"the {what} server at {url} failed: {exc!r}"


def wait_for_model(
    client: OpenAI, url: str, model: str, *, wait_s: float, what: str
) -> dict[str, Any]:
    """The server's /models entry for `model`, waiting up to `wait_s` for the server to come up.

    In docker-compose ragqa often starts before vLLM has loaded its weights (minutes);
    meanwhile /readyz says 503 instead of the container crash-looping. A missing model is
    not waited for: that is a setting to fix, not a start-up race.
    """
    import openai

    deadline = time.monotonic() + wait_s
    delay = 0.5
    while True:
        try:
            # Raw JSON, not the typed Model: vLLM's max_model_len would be dropped.
            listing = client.get("/models", cast_to=object)
            break
        except (openai.APIConnectionError, openai.InternalServerError) as exc:
            # A 5xx is what vLLM and TGI answer while still loading.
            if time.monotonic() + delay > deadline:
                raise RemoteServerError(
                    f"{describe(exc, url, what)}; gave up after {wait_s:.0f} s"
                ) from exc
            log.warning("waiting for the %s server: %s", what, describe(exc, url, what))
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
        except openai.NotFoundError:
            return _without_model_list(client, url, model, what)
        except openai.APIStatusError as exc:
            raise RemoteServerError(describe(exc, url, what)) from exc
    entries = listing.get("data", []) if isinstance(listing, dict) else []
    for entry in entries:
        # Ollama lists "llama3:latest" for what its API accepts as "llama3".
        if isinstance(entry, dict) and entry.get("id") in (model, f"{model}:latest"):
            return entry
    served = [e.get("id") for e in entries if isinstance(e, dict)]
    raise RemoteServerError(
        f"the {what} server at {url} has no model {model!r}; it serves {served}. "
        "Set the model setting to one of these names"
    )


def _without_model_list(client: OpenAI, url: str, model: str, what: str) -> dict[str, Any]:
    """text-embeddings-inference has no /v1/models; its /info (as TGI's) names the model."""
    import openai

    try:
        info: Any = client.get(server_root(url) + "/info", cast_to=object)
    except openai.APIError:
        info = None
    served = info.get("model_id") if isinstance(info, dict) else None
    if served is None:
        log.warning("the %s server at %s lists no models; %r is not checked", what, url, model)
        return {}
    if served != model:
        raise RemoteServerError(
            f"the {what} server at {url} has no model {model!r}; it serves {[served]}. "
            "Set the model setting to this name"
        )
    return {}


# (path under the server root, request body, how to read the count), tried in this order.
_TOKENIZERS: tuple[tuple[str, Callable[[str, str], dict[str, Any]], Callable[[Any], int]], ...] = (
    # vLLM
    (
        "/tokenize",
        lambda model, text: {"model": model, "prompt": text, "add_special_tokens": False},
        lambda body: int(body["count"]),
    ),
    # llama.cpp's llama-server
    ("/tokenize", lambda model, text: {"content": text}, lambda body: len(body["tokens"])),
    # TGI answers a list of tokens, TEI a list of lists (one per input)
    (
        "/tokenize",
        lambda model, text: {"inputs": text, "add_special_tokens": False},
        lambda body: len(body[0] if body and isinstance(body[0], list) else body),
    ),
    # llama-cpp-python's server (it counts a BOS token where the model adds one: safe)
    (
        "/extras/tokenize/count",
        lambda model, text: {"model": model, "input": text},
        lambda body: int(body["count"]),
    ),
)


def token_counter(client: OpenAI, base_url: str, model: str) -> tuple[CountText, str]:
    """The server's own tokenizer where it exposes one, else `estimate_tokens`; and which.

    Exact counts let the prompt builder fill the window. Without them the estimate
    over-counts on purpose: a window overflow is an error, a few unused tokens are not.
    """
    import openai

    root = server_root(base_url)
    for path, body, read in _TOKENIZERS:
        try:
            if read(client.post(root + path, body=body(model, _PROBE_TEXT), cast_to=object)) <= 0:
                continue
        except (openai.APIError, KeyError, IndexError, TypeError, ValueError):
            continue

        def count(text: str, path: str = path, body: Any = body, read: Any = read) -> int:
            if not text:
                return 0
            try:
                return int(read(client.post(root + path, body=body(model, text), cast_to=object)))
            except (openai.APIError, KeyError, IndexError, TypeError, ValueError) as exc:
                # Counting must not fail a request; the estimate errs on the safe side.
                log.warning("token count from %s%s failed (%s); estimating", root, path, exc)
                return estimate_tokens(text)

        return functools.lru_cache(maxsize=4096)(count), f"{root}{path}"
    log.info("%s has no tokenize route; token counts are estimates", root)
    return estimate_tokens, "estimate"


def server_limit(client: OpenAI, base_url: str, entry: dict[str, Any]) -> int | None:
    """The server's context length if it says: vLLM in /models, llama.cpp in /props, TGI
    and TEI in /info. None for servers that keep it to themselves (Ollama,
    llama-cpp-python)."""
    import openai

    if isinstance(entry.get("max_model_len"), int):
        return int(entry["max_model_len"])
    root = server_root(base_url)
    for path, keys in (
        ("/props", ("default_generation_settings", "n_ctx")),
        ("/props", ("n_ctx",)),
        ("/info", ("max_total_tokens",)),
        ("/info", ("max_input_length",)),
    ):
        try:
            value: Any = client.get(root + path, cast_to=object)
            for key in keys:
                value = value[key]
        except (openai.APIError, KeyError, TypeError):
            continue
        if isinstance(value, int) and value > 0:
            return value
    return None
