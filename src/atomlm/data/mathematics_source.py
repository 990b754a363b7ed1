"""The `mathematics` source: DeepMind mathematics-dataset question/answer pairs, generated here.

mathematics-dataset 1.0.1 predates sympy 1.6, numpy 2 and Python 3.12; `problem_functions` loads
it with the three repairs it needs (an import shim, variable names chosen independently of
PYTHONHASHSEED, and integral floats accepted by `random.randint` as Python 3.10 and 3.11 do).
The package draws from the global python, numpy and sympy generators; each stream swaps in its
own seeded states of them per problem (`_PrivateGlobalRandomness`), so a stream is reproducible
wherever it runs and never moves the caller's random numbers.
"""

from __future__ import annotations

import random
from typing import Iterator

from atomlm.data.sources import DocumentRequest, SourceError, SourceSpec, stream_seed

# Modules that run under numpy 2 / sympy 1.14 and draw reproducibly (the package's "_composed"
# modules order their statements by set iteration, which varies between runs), minus the slow
# ones (sequences, unit conversion, polynomials, probability: 5-50 ms per problem here).
MATHEMATICS_MODULES = (
    "algebra__linear_1d", "algebra__linear_2d",
    "arithmetic__add_or_sub", "arithmetic__add_sub_multiple", "arithmetic__div", "arithmetic__mixed",
    "arithmetic__mul", "arithmetic__mul_div_multiple", "arithmetic__nearest_integer_root",
    "comparison__closest", "comparison__kth_biggest", "comparison__pair", "comparison__sort",
    "measurement__time",
    "numbers__base_conversion", "numbers__div_remainder", "numbers__gcd", "numbers__is_prime",
    "numbers__lcm", "numbers__list_prime_factors", "numbers__place_value", "numbers__round_number",
)
_PROBLEM_FUNCTIONS: dict = {}


def check_mathematics_available(spec: SourceSpec) -> None:
    """Raise `SourceError` with the install command if mathematics-dataset cannot be imported."""
    try:
        problem_functions()
    except ImportError as error:
        raise SourceError(
            f"source {spec.name!r}: cannot import mathematics-dataset ({error}); "
            "install it with: pip install mathematics-dataset==1.0.1"
        ) from error


def mathematics_documents(spec: SourceSpec, request: DocumentRequest) -> Iterator[str]:
    """Endless `question\\nAnswer: answer` documents, seeded by (request seed, shard index)."""
    seed = stream_seed(request.seed, request.shard_index)
    functions = problem_functions()
    names = sorted(functions)
    chooser = random.Random(seed)
    randomness = _PrivateGlobalRandomness(seed)
    while True:
        name = chooser.choice(names)
        with randomness:
            try:
                problem = functions[name]()
            except Exception:  # a rare draw fails inside sympy/numpy; skip it, the stream stays seeded
                continue
        yield f"{problem.question}\nAnswer: {problem.answer}"


def problem_functions() -> dict:
    """name -> problem function of mathematics-dataset's `MATHEMATICS_MODULES` (imported and
    repaired once per process)."""
    if _PROBLEM_FUNCTIONS:
        return _PROBLEM_FUNCTIONS
    import importlib
    import sys

    # mathematics-dataset 1.0.1 imports `base_solution_linear` from where sympy < 1.6 kept it.
    importlib.import_module("sympy.solvers.diophantine.diophantine")
    package = sys.modules["sympy.solvers.diophantine"]
    if not hasattr(package, "base_solution_linear"):
        package.base_solution_linear = sys.modules["sympy.solvers.diophantine.diophantine"].base_solution_linear
    import warnings

    # The package uses numpy aliases that numpy 2 deprecates; the warnings say nothing actionable.
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"mathematics_dataset\..*")
    from mathematics_dataset.modules import modules
    from mathematics_dataset.util import composition

    composition.Context.pop = _pop_unused_symbol_in_sorted_order
    for name, module in list(sys.modules.items()):
        if name.startswith("mathematics_dataset.") and getattr(module, "random", None) is random:
            module.random = _RANDOM_WITH_INTEGRAL_FLOATS
    flat: dict = {}

    def flatten(tree, prefix=""):
        for key, value in tree.items():
            name = f"{prefix}__{key}" if prefix else key
            if isinstance(value, dict):
                flatten(value, name)
            else:
                flat[name] = value

    flatten(modules.train(lambda entropy_range: entropy_range))
    _PROBLEM_FUNCTIONS.update({name: flat[name] for name in MATHEMATICS_MODULES if name in flat})
    return _PROBLEM_FUNCTIONS


def _pop_unused_symbol_in_sorted_order(context) -> str:
    """mathematics-dataset's `Context.pop` (an unused variable name for a problem), choosing from
    the unused letters in sorted order: the original chooses from `list(a set of str)`, whose
    order changes with PYTHONHASHSEED, so the same seed named variables differently in two
    processes and shards were not reproducible."""
    from mathematics_dataset.util import composition

    allowed = sorted(
        composition._ALLOWED_SYMBOLS - context._relation_symbols - context._self_symbols - context._child_symbols
    )
    if not allowed:
        raise ValueError("Ran out of symbols")
    symbol = random.choice(allowed)
    context._self_symbols.add(symbol)
    return symbol


def _integral(value):
    """`value` as an int when it is an integral float (Python 3.10-3.11's randrange conversion;
    3.12 raises TypeError, which silently dropped every `numbers__round_number` problem)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _RandomAcceptingIntegralFloats:
    """The `random` module as mathematics-dataset sees it: the same global generator, but
    `randint`/`randrange` take integral floats (e.g. `randint(-49.0, 51.0)` in
    `numbers.round_number`), so the stream draws the same numbers on every Python."""

    def __getattr__(self, name):
        return getattr(random, name)

    @staticmethod
    def randint(low, high):
        return random.randint(_integral(low), _integral(high))

    @staticmethod
    def randrange(start, stop=None, step=1):
        return random.randrange(_integral(start), None if stop is None else _integral(stop), _integral(step))


_RANDOM_WITH_INTEGRAL_FLOATS = _RandomAcceptingIntegralFloats()


class _PrivateGlobalRandomness:
    """A seeded set of states for the global python, numpy and sympy generators, which
    mathematics-dataset draws from: inside `with`, they are swapped in; on leaving, they are
    saved and the process's own states restored. So a stream is reproducible wherever it runs
    (a build worker, or a training process building shards before it trains) and never moves
    the caller's random numbers."""

    def __init__(self, seed: int):
        import numpy
        import sympy.core.random  # randprime/nextprime draw from sympy's own generators

        self._numpy_random, self._sympy_random = numpy.random, sympy.core.random
        callers = self._capture()
        random.seed(seed)
        self._numpy_random.seed(seed % 2**32)
        self._sympy_random.seed(seed)
        self._states = self._capture()
        self._restore(callers)

    def _capture(self) -> tuple:
        return (random.getstate(), self._numpy_random.get_state(),
                self._sympy_random.rng.getstate(), self._sympy_random._assumptions_rng.getstate())

    def _restore(self, states: tuple) -> None:
        python_state, numpy_state, sympy_state, assumptions_state = states
        random.setstate(python_state)
        self._numpy_random.set_state(numpy_state)
        self._sympy_random.rng.setstate(sympy_state)
        self._sympy_random._assumptions_rng.setstate(assumptions_state)

    def __enter__(self) -> "_PrivateGlobalRandomness":
        self._callers = self._capture()
        self._restore(self._states)
        return self

    def __exit__(self, *exc_info) -> None:
        self._states = self._capture()
        self._restore(self._callers)
