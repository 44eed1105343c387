"""A model that ships inside a pip package with its own engine: imported and built once,
on first use, with a message naming the package when it is not installed."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

from vectorstore.types import StoreError


class PackagedModel:
    """`build(cls)` makes the model from the package's `module.attribute`."""

    def __init__(
        self, name: str, module: str, attribute: str, requirement: str, build: Callable[[Any], Any]
    ) -> None:
        self._name, self._module, self._attribute = name, module, attribute
        self._requirement, self._build = requirement, build
        self._model: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    cls = getattr(importlib.import_module(self._module), self._attribute)
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise StoreError(
                        f"{self._name} needs the {self._requirement.split('=')[0]} package: "
                        f"pip install '{self._requirement}'"
                    ) from exc
                self._model = self._build(cls)
        return self._model
