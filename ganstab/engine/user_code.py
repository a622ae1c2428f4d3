"""The user's own code that a config names: `model.generator`, `model.discriminator` (nn.Module
classes) and `data.factory` (a function returning the data), each as "pkg.module:Name".

Names resolve from the working folder (put first on `sys.path`) and the Python path. Every problem
is one `ConfigError` line naming the key and the value, raised before anything trains:
`user_networks.check_user_code(cfg)` imports the names, builds the data set and runs G and D
once on a small batch to check their shapes (`ganstab train --dry-run` and `ganstab search` call
it too; building the networks checks the same).

The data factory returns a torch `Dataset` (map-style: `len` and `[i]`), a tensor or a NumPy
array. Items are tensors or arrays (a `(x, label)` tuple or list gives its first element; labels
are dropped), every item of one shape: `[D]` (points) or `[C, H, W]` (images). The whole data set
is read into memory once as float32, as the factory gives it (ganstab does not rescale it: images
should match G's output range, e.g. [-1, 1] for a tanh).

G takes noise `[B, model.latent_dim]` (or `[B, latent_dim, 1, 1]` where it refuses the flat
shape, as DCGAN generators do) and returns `[B, *item shape]`; D takes `[B, *item shape]` and
returns one score per sample (`[B]`, `[B, 1]` or `[B, 1, 1, 1]`), a logit.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ganstab.engine.config import Config, ConfigError, DataConfig

PROBE_BATCH = 4  # samples in the shape check (BatchNorm needs more than one)


def _one_line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def _working_folder_on_path() -> None:
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


def import_name(key: str, value: str) -> Any:
    """The object that `value` ("pkg.mod:Name") names; ConfigError naming `key` if it does not import."""
    _working_folder_on_path()
    module_name, _, attr = value.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as e:  # a missing module, or any error its import raised
        raise ConfigError(f"`{key}` {value!r} does not import: {_one_line(e)}.") from e
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ConfigError(f"`{key}` {value!r} does not import: {module_name!r} has no {attr!r}.")
        obj = getattr(obj, part)
    return obj


def network_class(key: str, value: str) -> type[nn.Module]:
    cls = import_name(key, value)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise ConfigError(
            f"`{key}` {value!r} must name an nn.Module subclass, but it is {type(cls).__name__} {cls!r}."
        )
    return cls


def network_builder(cfg: Config, role: str) -> Callable[[], nn.Module] | None:
    """A function that makes a fresh instance of the user's G (`role` "generator") or D
    ("discriminator"), or None where the config uses ganstab's."""
    value = getattr(cfg.model, role)
    if value is None:
        return None
    key, kwargs = f"model.{role}", dict(getattr(cfg.model, f"{role}_kwargs"))
    cls = network_class(key, value)

    def build() -> nn.Module:
        try:
            return cls(**kwargs)
        except Exception as e:
            raise ConfigError(
                f"`{key}` {value!r} with `{key}_kwargs` {kwargs!r} cannot be made: {_one_line(e)}."
            ) from e

    return build


# ------------------------------------------------------------------------------------ data


def _item(x: Any, index: int, value: str) -> torch.Tensor:
    if isinstance(x, (tuple, list)) and x:  # (x, label): the label is dropped
        x = x[0]
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise ConfigError(
            f"`data.factory` {value!r}: item {index} must be a tensor, an array or an (x, label) tuple, "
            f"but got {type(x).__name__}."
        )
    return x


def factory_tensor(d: DataConfig) -> torch.Tensor:
    """The data set of `data.factory` as one float32 tensor `[N, D]` or `[N, C, H, W]`."""
    value = d.factory
    if value is None:
        raise ConfigError("`data.factory` is required for data set 'factory', but got None.")
    fn = import_name("data.factory", value)
    if not callable(fn):
        raise ConfigError(f"`data.factory` {value!r} must name a function, but it is {type(fn).__name__}.")
    try:
        data = fn(**d.factory_kwargs)
    except Exception as e:
        raise ConfigError(
            f"`data.factory` {value!r} with `data.factory_kwargs` {d.factory_kwargs!r} failed: {_one_line(e)}."
        ) from e
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(np.ascontiguousarray(data))
    if not isinstance(data, torch.Tensor):
        if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
            raise ConfigError(
                f"`data.factory` {value!r} must return a torch Dataset (len and [i]), a tensor or an array, "
                f"but returned {type(data).__name__}."
            )
        items = [_item(data[i], i, value) for i in range(len(data))]
        shapes = {tuple(x.shape) for x in items}
        if len(shapes) > 1:
            raise ConfigError(
                f"`data.factory` {value!r}: items must share one shape, but got {sorted(shapes)[:3]}."
            )
        data = torch.stack(items) if items else torch.empty(0)
    if data.dim() not in (2, 4) or len(data) < 2:
        raise ConfigError(
            f"`data.factory` {value!r} must give at least 2 items of shape [D] (points) or [C, H, W] "
            f"(images), but gave shape {list(data.shape)}."
        )
    if data.is_complex() or not (
        data.is_floating_point() or data.dtype in (torch.uint8, torch.int32, torch.int64)
    ):
        raise ConfigError(f"`data.factory` {value!r} must give real numbers, but gave {data.dtype}.")
    data = data.detach().to("cpu", torch.float32).contiguous()
    if not torch.isfinite(data).all():
        raise ConfigError(f"`data.factory` {value!r} gave NaN or Inf values.")
    return data


# ------------------------------------------------------------------------------------ shapes


def latent_shape(
    build_g: Callable[[], nn.Module], latent: int, data_shape: tuple[int, ...], value: str
) -> tuple[int, ...]:
    """The shape of one sample of G's noise that G accepts (`[latent]`, else `[latent, 1, 1]`),
    after checking that G's output fits the data; ConfigError naming model.generator otherwise."""
    net = build_g()
    net.train()
    tried: list[str] = []
    for shape in ((latent,), (latent, 1, 1)):
        with torch.no_grad():
            try:
                out = net(torch.randn(PROBE_BATCH, *shape))
            except Exception as e:
                tried.append(f"{[PROBE_BATCH, *shape]}: {_one_line(e)}")
                continue
        if not isinstance(out, torch.Tensor):
            raise ConfigError(
                f"`model.generator` {value!r} must return a tensor, but returned {type(out).__name__}."
            )
        if tuple(out.shape) != (PROBE_BATCH, *data_shape):
            raise ConfigError(
                f"`model.generator` {value!r} returns shape {list(out.shape)} for noise {[PROBE_BATCH, *shape]}, "
                f"but the data's items are {list(data_shape)} (expected {[PROBE_BATCH, *data_shape]})."
            )
        return shape
    raise ConfigError(
        f"`model.generator` {value!r} fails on noise of `model.latent_dim` {latent} ({'; '.join(tried)[:300]})."
    )


def check_discriminator(build_d: Callable[[], nn.Module], data_shape: tuple[int, ...], value: str) -> None:
    net = build_d()
    net.train()
    x = torch.randn(PROBE_BATCH, *data_shape)
    with torch.no_grad():
        try:
            out = net(x)
        except Exception as e:
            raise ConfigError(
                f"`model.discriminator` {value!r} fails on a batch of the data's shape {[PROBE_BATCH, *data_shape]}: "
                f"{_one_line(e)}."
            ) from e
    if not isinstance(out, torch.Tensor) or out.numel() != PROBE_BATCH or out.shape[:1] != (PROBE_BATCH,):
        shape = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(
            f"`model.discriminator` {value!r} must return one score per sample ([B] or [B, 1]), but for a "
            f"batch of {PROBE_BATCH} it returned {shape}."
        )


def check_builtin_networks(cfg: Config, data_shape: tuple[int, ...]) -> None:
    """ganstab's conv networks need square images with a power-of-2 side >= 8."""
    if len(data_shape) != 3 or (cfg.model.generator is not None and cfg.model.discriminator is not None):
        return
    side = data_shape[-1]
    if data_shape[-2] != side or side < 8 or side & (side - 1):
        raise ConfigError(
            f"`data.factory` {cfg.data.factory!r} gives images of shape {list(data_shape)}; ganstab's own "
            f"networks need square images with a power-of-2 side >= 8: name your own in model.generator "
            f"and model.discriminator."
        )


# ------------------------------------------------------------------------------------ shipping


def _installed(path: Path) -> bool:
    """Whether `path` lies in the interpreter's installed packages or standard library."""
    roots = {sysconfig.get_paths()[k] for k in ("purelib", "platlib", "stdlib", "platstdlib")}
    return any(path.is_relative_to(Path(r).resolve()) for r in roots if r)


def code_paths(cfg: Config) -> list[str]:
    """The local folders (packages) and files (single modules) holding the user code a config
    names, for shipping to Ray workers that lack them; installed packages are left out."""
    _working_folder_on_path()
    names = [
        cfg.model.generator,
        cfg.model.discriminator,
        cfg.data.factory if cfg.data.name == "factory" else None,
    ]
    out: list[str] = []
    for value in names:
        if value is None:
            continue
        top = value.partition(":")[0].split(".")[0]
        if top == "ganstab":
            continue
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            raise ConfigError(f"`{value}` does not import: no module named {top!r}.")
        if spec.submodule_search_locations:
            path = Path(list(spec.submodule_search_locations)[0]).resolve()
        elif spec.origin and spec.origin.endswith(".py"):
            path = Path(spec.origin).resolve()
        else:
            continue  # a built-in or compiled module: nothing to ship
        if not _installed(path) and str(path) not in out:
            out.append(str(path))
    return out
