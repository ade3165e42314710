"""Lazy package exports, so that `import obliviate.models` (and so `obliviate --help`) loads neither torch nor
transformers. A package's `__init__` calls `lazy_exports(__name__, {"load": ".loading", ...})` in place of
`from .loading import load`; each name is imported from its submodule on first access, then cached on the package.
"""
from __future__ import annotations

import importlib
import sys
import types


class LazyPackage(types.ModuleType):
    """A package whose public names load on first access (PEP 562 `__getattr__`, on the module's class)."""

    def __getattr__(self, name: str):
        exports = self.__dict__.get("_lazy_exports", {})
        if name not in exports:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        module = importlib.import_module(exports[name], self.__name__)
        # A callable module named like its export (`obliviate.run`, `obliviate.audit`) is the export itself: then
        # both `obliviate.run(spec)` and `import obliviate.run as r; r.execute` work.
        value = module if isinstance(module, CallableModule) and module.__name__.endswith(f".{name}") \
            else getattr(module, name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value) -> None:
        # Importing submodule `models.train` binds it on the package as `train`, where it would hide the export
        # `train` (the function in it); an eager `from .train import train` re-bound the name afterwards.
        if isinstance(value, types.ModuleType) and not isinstance(value, CallableModule) \
                and value.__name__ == f"{self.__name__}.{name}" and name in self.__dict__.get("_lazy_exports", {}):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self.__dict__.get("_lazy_exports", {})))


class CallableModule(LazyPackage):
    """A module that can be called: calling it calls its function of the same name (`obliviate.run(spec)`)."""

    def __call__(self, *args, **kwargs):
        return getattr(self, self.__name__.rpartition(".")[2])(*args, **kwargs)


def callable_module(name: str) -> None:
    """Make module `name` (its `__name__`) callable as its function of the same name."""
    sys.modules[name].__class__ = CallableModule


def lazy_exports(package: str, exports: dict[str, str]) -> None:
    """Make `package` (its `__name__`) load each name of `exports` ({name: relative submodule}) on first use."""
    module = sys.modules[package]
    module._lazy_exports = dict(exports)
    module.__class__ = LazyPackage
