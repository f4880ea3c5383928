"""The package's shape: no import cycles, no private names imported across modules, and
the EM loop compiled once per fit configuration (BlackJAX's tests/test_compilation.py)."""

import ast
from pathlib import Path

import jax
import numpy as np
import pytest

import ppl_gmm as pg
from ppl_gmm.fit import driver as fit_module
from ppl_gmm.fit import program

PACKAGE = Path(pg.__file__).parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules():
    return {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imports_of(name: str, path: Path, known: set):
    """(imported module, imported names) for every import in the file, at any depth
    (function-level imports count: a cycle broken by one is still a cycle)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.append((sub, None) if sub in known else (target, alias.name))
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names]
    return [(t, n) for t, n in found if t in known]


def import_graph():
    known = modules()
    graph = {}
    for name, path in known.items():
        # A module's own ancestors are imported first by Python itself; they are not
        # edges of the graph (else every module would "cycle" through ppl_gmm/__init__).
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        graph[name] = {t for t, _ in imports_of(name, path, set(known))
                       if t != name and t not in ancestors}
    return graph


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_inside_the_package():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_can_fail():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_private_name_is_imported_across_modules():
    known = modules()
    offenders = []
    for name, path in known.items():
        for target, imported in imports_of(name, path, set(known)):
            if imported is not None and imported.startswith("_") and not imported.startswith(
                    "__"):
                offenders.append(f"{name} imports {target}.{imported}")
    assert offenders == []


@pytest.fixture
def count_compilations():
    """Number of XLA backend compilations while the block runs (JAX's own event)."""
    events = []

    def listener(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            events.append(event)

    jax.monitoring.register_event_duration_secs_listener(listener)
    yield events
    jax.monitoring.unregister_event_duration_listener(listener)


def test_one_fit_is_one_program_and_a_new_n_k_max_iter_or_sample_compiles_nothing(
        faithful, count_compilations):
    """The latency a notebook user feels: after one fit, refitting other rows (a new n), a
    new K <= 16, a new max_iter or tol, and sample(n) for a new n compile nothing."""
    program.clear_compiled()
    before = len(count_compilations)
    pg.fit_em(faithful, 2, seed=0)
    assert program.compiled_count() == 1
    assert len(count_compilations) - before == 1  # the whole fit is one program
    compiled = len(count_compilations)
    rng = np.random.default_rng(1)
    pg.fit_em(faithful[:200], 2, seed=5)  # a new n
    pg.fit_em(faithful * rng.uniform(0.5, 2.0, 2), 2, seed=5)  # new data, same shape
    for k in (1, 3, 5, 9, 16):  # a new K
        pg.fit_em(faithful[: 100 + 10 * k], k, seed=k, max_iter=300 + k, tol=1e-6,
                  reg_covar=0.05)  # reg_covar keeps the many-component fits regular
    assert len(count_compilations) == compiled
    result = pg.fit_em(faithful, 3, seed=0)
    pg.sample(result.params, 10, seed=0)
    compiled = len(count_compilations)
    for n in (11, 57, 250, 1000):
        X, z = pg.sample(result.params, n, seed=n)
        assert X.shape == (n, 2) and z.shape == (n,)
    assert len(count_compilations) == compiled


def test_a_replacement_e_step_runs_in_the_same_loop(faithful):
    """The E-step is a parameter of the kernel: one over two "shards" of the blocks, each
    summed on its own and then added (what a psum over devices does), gives the same run."""
    from ppl_gmm.engine.kernel import gaussian_em_kernel
    from ppl_gmm.engine.schedule import run_single
    from ppl_gmm.engine.statistics import block_e_step

    problem = fit_module.make_problem(faithful, 2, "full", None, 0.0, 1e-8, 64)
    # 272 rows in blocks of 64, the last padded; 6 blocks allocated (a bucket), 5 visited.
    assert problem.X_blocks.shape[0] == 6 and int(problem.n_blocks) == 5

    def sharded_e_step(problem, params, factors, variant):
        # Each shard visits all of its blocks (the sixth holds only weight-0 padding).
        halves = [problem._replace(X_blocks=problem.X_blocks[s], w_blocks=problem.w_blocks[s],
                                   n_blocks=None)
                  for s in (slice(0, 3), slice(3, None))]
        parts = [block_e_step(half, params, factors, variant) for half in halves]
        return jax.tree.map(lambda a, b: a + b, *parts)

    start = pg.initial_parameters(faithful, 2, seed=0)
    start = problem.coordinates.params_to_internal(pg.GMMParams(*map(jax.numpy.asarray, start)))
    runs = [jax.jit(lambda p, e=e: run_single(gaussian_em_kernel(problem, "full", e_step=e), p,
                                              200))(start)
            for e in (block_e_step, sharded_e_step)]
    (state_a, trace_a), (state_b, trace_b) = runs
    assert int(state_a.iteration) == int(state_b.iteration) > 2
    np.testing.assert_allclose(trace_b.objective, trace_a.objective, rtol=1e-12)
    np.testing.assert_allclose(state_b.params.means, state_a.params.means, rtol=1e-10)
    reference = pg.fit_em(faithful, 2, seed=0, block_size=64)
    assert float(trace_a.objective[reference.n_iter]) == pytest.approx(reference.objective,
                                                                       rel=1e-12)


def test_every_schedule_runs_any_kernel_to_the_same_end(faithful):
    """The scheduler knows nothing of EM: Lloyd's K-means kernel runs alone, in lockstep
    and through queued lanes, each restart taking exactly the steps it takes alone."""
    from ppl_gmm.engine.schedule import run_lockstep, run_queued, run_single
    from ppl_gmm.fit.kmeans import lloyd_kernel

    X = jax.numpy.asarray(faithful - faithful.mean(axis=0))
    w = jax.numpy.ones(X.shape[0])
    rng = np.random.default_rng(0)
    centres = jax.numpy.asarray(faithful[rng.choice(272, (5, 3))] - faithful.mean(axis=0))
    kernel = lloyd_kernel(X, w, 0.0)
    alone = [run_single(kernel, c, 100)[0] for c in centres]
    for states, _ in (run_lockstep(kernel, centres, 100), run_queued(kernel, centres, 100, 2)):
        for r, single in enumerate(alone):
            assert int(states.iteration[r]) == int(single.iteration)
            np.testing.assert_allclose(states.centres[r], single.centres, rtol=1e-12)
    assert len({int(s.iteration) for s in alone}) > 1  # restarts of different lengths


def test_a_fit_leaves_the_garbage_collector_as_it_found_it(faithful):
    """The fit pauses Python's collector while it traces and compiles (first-fit latency)
    and puts it back: on stays on, off stays off, also when the fit raises."""
    import gc

    assert gc.isenabled()
    pg.fit_em(faithful, 2, seed=0)
    assert gc.isenabled()
    with pytest.raises(ValueError, match="max_iter"):
        with program.garbage_collection_paused():
            assert not gc.isenabled()
            pg.fit_em(faithful, 2, max_iter=-1)
    assert gc.isenabled()
    gc.disable()
    try:
        pg.fit_em(faithful, 2, seed=0)
        assert not gc.isenabled()
    finally:
        gc.enable()
