"""Where independent tasks run: a local process pool by default, or an existing Dask cluster (``--scheduler``).

``allocate simulate`` (chunks of draws), ``allocate sweep`` (points) and the decomposition by blocks (pricing batches)
reach a cluster only through :func:`engine`, so there is one way to connect and one error for an unreachable
scheduler; ``allocate cascade`` takes :func:`local_pool` directly. :func:`run_with_hard_limit` runs one call in a
process of its own that is killed at a time limit (a large HiGHS run, :mod:`allocator.backends.highs_run`).
"""

from __future__ import annotations

import multiprocessing
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from allocator.errors import InputError
from allocator.outdir import process_alive

#: Local workers start from a fork server, not by forking this process: a solve here may already run threads (HiGHS's
#: scheduler, pyarrow's pools) whose locks a fork would copy mid-use. The server imports what tasks run once, and each
#: worker forks from it (single-threaded) with those modules loaded.
_LOCAL_START = multiprocessing.get_context("forkserver")
_LOCAL_START.set_forkserver_preload(["allocator.backends.decomposition", "allocator.sweep", "allocator.simulate",
                                     "allocator.cascade", "allocator.backends.highs_run"])


@dataclass(frozen=True)
class Engine:
    """A running pool of workers: ``submit(fn, *args)`` gives a future (``.result()``), ``first_done(futures)`` the
    futures among them that have finished (waiting for at least one), ``share(obj)`` what tasks receive for an
    object every task reads (sent once to a cluster's workers), ``slots`` how many tasks run at once."""

    submit: Callable[..., Any]
    first_done: Callable[[Collection[Any]], set[Any]]
    share: Callable[[Any], Any]
    slots: int
    remote: bool


@contextmanager
def engine(*, workers: int | None = None, scheduler: str | None = None, client: Any = None,
           tasks: int | None = None) -> Iterator[Engine]:
    """A local process pool of `workers` (default: one per CPU, at most `tasks`), or, with a scheduler address or a
    Dask `client`, that cluster; an unreachable or malformed address is an :class:`InputError` (``--scheduler``)."""
    if scheduler is not None or client is not None:
        with _dask(scheduler, client) as found:
            yield found
        return
    slots = max(1, min(workers or os.cpu_count() or 1, tasks or 1 << 30))
    with local_pool(slots) as pool:
        yield Engine(submit=pool.submit, first_done=_first_done_local, share=lambda obj: obj, slots=slots, remote=False)


#: Why a local worker can die before finishing, and what to do.
WORKER_DIED = ("a local worker process stopped before finishing its task: it was killed (for example out of memory), or "
               "a Python script calls allocator without `if __name__ == \"__main__\":` around it (workers start from a "
               "fork server, which imports the main script again); solver.workers = 1 (workers=1) works in this process")


@contextmanager
def local_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A pool of `workers` local processes, started from the fork server; a worker that dies is an :class:`InputError`
    saying why that happens (:data:`WORKER_DIED`)."""
    with ProcessPoolExecutor(max_workers=workers, mp_context=_LOCAL_START, initializer=die_with_caller,
                             initargs=(os.getpid(),)) as pool:
        try:
            yield pool
        except BrokenProcessPool:
            raise InputError(WORKER_DIED, where="solver.workers") from None


class ChildStopped(Exception):
    """A call :func:`run_with_hard_limit` ran did not return: killed at its limit, or its process died. ``started`` says
    whether the call itself had begun (a process that dies before it, such as a script without a main guard that a
    fork server imports again, could not run it at all)."""

    def __init__(self, reason: str, *, started: bool) -> None:
        super().__init__(reason)
        self.started = started


def run_with_hard_limit(function: Callable[..., Any], arguments: tuple[Any, ...], seconds: float) -> Any:
    """``function(*arguments)`` in a process of its own, started from the fork server, killed once `seconds` have passed
    without its result: a C extension that checks no clock in some phase cannot overrun it. The result, or the
    exception the call raised, comes back; :class:`ChildStopped` when it did not return."""
    receive, send = _LOCAL_START.Pipe(duplex=False)
    process = _LOCAL_START.Process(target=_call_and_send, args=(send, function, arguments, os.getpid()), daemon=True)
    try:
        process.start()
    except (AssertionError, OSError) as exc:  # a daemon process (a Dask worker's) may have no children
        receive.close()
        raise ChildStopped(f"could not start a process: {exc}", started=False) from None
    finally:
        send.close()
    started = False
    try:
        until = time.monotonic() + seconds
        while receive.poll(max(until - time.monotonic(), 0.0)):
            try:
                kind, value = receive.recv()
            except EOFError:
                process.join()
                raise ChildStopped(f"its process ended with exit code {process.exitcode}", started=started) from None
            if kind == "started":
                started = True
                continue
            if kind == "raised":
                raise value
            return value
        raise ChildStopped(f"stopped by force after {seconds:.0f} s", started=started)
    finally:
        if process.is_alive():
            process.kill()
        process.join()
        receive.close()


def _call_and_send(connection: Connection, function: Callable[..., Any], arguments: tuple[Any, ...], caller: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the caller, which kills this process: no second traceback
    die_with_caller(caller)
    connection.send(("started", None))
    try:
        outcome = ("returned", function(*arguments))
    except Exception as exc:  # the caller re-raises it
        outcome = ("raised", exc)
    connection.send(outcome)
    connection.close()


def die_with_caller(caller: int) -> None:
    """Make this local worker end when the `caller` process does: a caller killed outright (SIGKILL, out of memory)
    must not leave workers solving on. (A fork server's child cannot rely on its parent dying: the fork server lives as
    long as any of its children.) A thread waits for the caller's exit; HiGHS releases the GIL while it solves."""
    threading.Thread(target=_exit_when_gone, args=(caller,), daemon=True, name="die-with-caller").start()


def _exit_when_gone(caller: int) -> None:
    try:
        handle = os.pidfd_open(caller)  # Linux: readable once the caller has exited
    except ProcessLookupError:
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd here: ask every second
        while process_alive(caller):
            time.sleep(1.0)
    else:
        select.select([handle], [], [])
    os._exit(1)


def _first_done_local(futures: Collection[Any]) -> set[Any]:
    return set(wait(futures, return_when=FIRST_COMPLETED).done)


@contextmanager
def _dask(scheduler: str | None, client: Any) -> Iterator[Engine]:
    from distributed import wait as dask_wait

    own = client is None
    if own:
        client = connect(scheduler)
    try:
        yield Engine(submit=lambda fn, *args: client.submit(fn, *args, pure=False),
                     first_done=lambda futures: set(dask_wait(list(futures), return_when="FIRST_COMPLETED").done),
                     share=lambda obj: client.scatter(obj, broadcast=True),
                     slots=max(1, sum(client.nthreads().values())), remote=True)
    finally:
        if own:
            client.close()


def connect(scheduler: str | None) -> Any:
    """A Dask client of the scheduler at `scheduler` (e.g. tcp://10.0.0.5:8786), tried for Dask's connect timeout
    (``distributed.comm.timeouts.connect``, 30 s unless configured); a malformed address fails before any connection."""
    from distributed import Client

    try:
        _check_address(scheduler)
        return Client(scheduler)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(f"cannot reach the Dask scheduler at {scheduler}: {exc}", where="--scheduler") from None


def _check_address(address: str | None) -> None:
    """Raise ValueError for an address Dask cannot read: an unknown scheme, or tcp/tls without a port."""
    from distributed.comm.addressing import get_address_host_port, parse_address
    from distributed.comm.registry import get_backend

    if address is None:
        return
    scheme, _ = parse_address(address)
    get_backend(scheme)
    if scheme in ("tcp", "tls"):
        get_address_host_port(address)


def in_order(eng: Engine, futures: dict[Any, int], on_done: Callable[[Any], None] | None = None) -> list[Any]:
    """The results of `futures` (future -> position), in position order; ``on_done(result)`` as each finishes."""
    outputs: list[Any] = [None] * len(futures)
    pending = set(futures)
    while pending:
        for future in eng.first_done(pending):
            pending.discard(future)
            outputs[futures[future]] = future.result()
            if on_done:
                on_done(outputs[futures[future]])
    return outputs
