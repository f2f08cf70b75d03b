"""Executing a submission: nbgrader's Execute, made to survive what a hostile notebook does.

:class:`GuardedExecute` is the ``Execute`` preprocessor of the grading command's
nbgrader run; the kernel it talks to runs in the notebook sandbox
(:func:`tconv_lib.grading.sandbox.kernelspec`).  It differs from nbgrader's in four ways:

* **A dead kernel** (``os._exit``, a signal, a crash, the memory limit) no longer aborts
  the notebook (nbgrader 0.9.6 then deletes the autograded notebook and leaves the old
  scores of a previous submission in place): the cell gets a ``DeadKernelError`` output,
  every later code cell a "not run" error, and the notebook is still written.
* **Time**: each cell has ``timeout`` seconds and the whole notebook ``notebook_timeout``;
  a kernel that ignores the interrupt after a timed-out cell is killed.
* **Output** is bounded while it arrives (``output_limit`` characters per cell; no ZeroMQ
  frame above :data:`MAX_FRAME_BYTES`), so a flood of printing cannot exhaust the grader.
* **Hand-overs**: the graded functions that :func:`tconv_lib.grading.check` hands over are
  taken out of the outputs (:attr:`handovers`) and never written into the notebook.
"""

from __future__ import annotations

import base64
import binascii
import time

import zmq
from jupyter_client.asynchronous import AsyncKernelClient
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbgrader.preprocessors import Execute
from traitlets import Float, Int

from .. import HANDOVER_MIME

MAX_FRAME_BYTES = 256 * 2**20  # a ZeroMQ frame from the kernel above this disconnects it
OUTPUT_LIMIT_CHARS = 100_000  # kept per output, and (x 20) received per cell


def error_output(ename: str, evalue: str):
    from nbformat.v4 import new_output

    return new_output("error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"])


class BoundedKernelClient(AsyncKernelClient):
    """A kernel client whose sockets refuse frames over :data:`MAX_FRAME_BYTES` (ZeroMQ's MAXMSGSIZE)."""

    def _create_connected_socket(self, channel, identity=None):
        self.context.setsockopt(
            zmq.MAXMSGSIZE, MAX_FRAME_BYTES
        )  # the default of the sockets made from now on
        return super()._create_connected_socket(channel, identity)


class GuardedExecute(Execute):
    """nbgrader's Execute for untrusted notebooks; see the module's docstring."""

    notebook_timeout = Float(1800.0, help="seconds the whole notebook may run").tag(config=True)
    output_limit = Int(OUTPUT_LIMIT_CHARS, help="characters kept per output").tag(config=True)
    probe_timeout = Float(5.0, help="seconds a kernel has to answer after a timed-out cell").tag(config=True)

    def preprocess(self, nb, resources=None, km=None):
        self._dead = None
        self._started = time.perf_counter()
        self._first_cell = None
        self.handovers: dict[str, tuple[str, bytes]] = {}  # grade_id -> (part, pickled function)
        self.timings = {}
        self.timeout_func = self._cell_timeout
        try:
            return super().preprocess(nb, resources, km)
        finally:
            end = time.perf_counter()
            first = self._first_cell or end
            self.timings = {"kernel_start": first - self._started, "cells": end - first}

    def _left(self) -> float:
        start = self._first_cell or time.perf_counter()
        return self.notebook_timeout - (time.perf_counter() - start)

    def _cell_timeout(self, cell) -> int:
        return max(1, int(min(self.timeout or self.notebook_timeout, self._left()) + 0.999))

    def preprocess_cell(self, cell, resources, index):
        if self._first_cell is None:
            self._first_cell = time.perf_counter()
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._dead is None and self._left() <= 0:
            self._dead = f"the notebook ran past its total time limit ({self.notebook_timeout:g} s)"
            self._kill()
        if self._dead is not None:
            cell.outputs = [error_output("NotRun", f"this cell was not run: {self._dead}")]
            return cell, resources
        self._received = 0
        try:
            cell, resources = super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            self._dead = "the kernel died in an earlier cell"
            cell.outputs.append(
                error_output(
                    "DeadKernelError",
                    "the kernel died while running this cell (os._exit(), a crash, a signal "
                    "or the memory limit); the cells after it were not run and score 0",
                )
            )
        except CellTimeoutError as exc:  # e.g. output still streaming long after the reply
            cell.outputs.append(
                error_output("CellTimeoutError", str(exc).splitlines()[0] if str(exc) else "timeout")
            )
        if self._received > 20 * self.output_limit:  # a note, not an error: printing costs no points
            from nbformat.v4 import new_output

            cell.outputs.append(
                new_output(
                    "stream",
                    name="stderr",
                    text=f"[the grader kept the first "
                    f"{20 * self.output_limit} characters of this cell's output]\n",
                )
            )
        cut_outputs(cell, self.output_limit)
        timed_out = any(
            o.get("ename") == "CellTimeoutError" for o in cell.outputs if o.output_type == "error"
        )
        if self._dead is None and timed_out and not self._responsive():
            self._dead = "the kernel stopped responding after a cell ran past the time limit"
            cell.outputs.append(
                error_output(
                    "KernelUnresponsive",
                    "the kernel ignored the interrupt after the time limit and was stopped; "
                    "the cells after this one were not run",
                )
            )
            self._kill()
        return cell, resources

    def output(self, outs, msg, display_id, cell_index):
        """Take hand-overs out; keep at most ``20 * output_limit`` characters of one cell's output."""
        content = msg.get("content") or {}
        data = content.get("data") if isinstance(content.get("data"), dict) else {}
        if msg.get("msg_type") == "display_data" and HANDOVER_MIME in data:
            self._take_handover(data[HANDOVER_MIME], cell_index)
            return None
        self._received += _size(content)
        if self._received > 20 * self.output_limit:
            return None
        return super().output(outs, msg, display_id, cell_index)

    def _take_handover(self, data, cell_index: int) -> None:
        try:
            part, payload = data["part"], base64.b64decode(data["payload"], validate=True)
        except (KeyError, TypeError, ValueError, binascii.Error):
            return
        grade_id = self.nb.cells[cell_index].metadata.get("nbgrader", {}).get("grade_id")
        if isinstance(part, str) and grade_id:
            self.handovers[grade_id] = (part, payload)

    def _responsive(self) -> bool:
        from queue import Empty

        from jupyter_core.utils import ensure_async, run_sync

        async def probe() -> bool:
            msg_id = self.kc.kernel_info()
            deadline = time.monotonic() + self.probe_timeout
            while (left := deadline - time.monotonic()) > 0:
                try:
                    msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
                except Empty:
                    return False
                if msg["parent_header"].get("msg_id") == msg_id:
                    return True
            return False

        try:
            return run_sync(probe)()
        except Exception:  # noqa: BLE001 -- a kernel that cannot even be asked is not responsive
            return False

    def _kill(self) -> None:
        from jupyter_core.utils import ensure_async, run_sync

        async def kill():
            await ensure_async(self.km.shutdown_kernel(now=True))

        try:
            run_sync(kill)()
        except Exception:  # noqa: BLE001 -- already gone
            pass


def _size(content) -> int:
    """Characters of text in a message's content (what it would add to the notebook), roughly."""
    if isinstance(content, str):
        return len(content)
    if isinstance(content, dict):
        return sum(_size(v) for v in content.values())
    if isinstance(content, list):
        return sum(_size(v) for v in content)
    return 8


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... [{len(text) - limit} characters cut by the grader] ...\n{text[-half:]}"


def cut_outputs(cell, limit: int = OUTPUT_LIMIT_CHARS) -> None:
    """Megabytes of printing must not make megabytes of notebook (nbgrader's LimitOutput counts lines)."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            output["text"] = _cut(
                "".join(output["text"]) if isinstance(output["text"], list) else output["text"], limit
            )
        elif output.get("output_type") == "error":
            output["evalue"] = _cut(output.get("evalue", ""), limit)
            output["traceback"] = [_cut(line, limit) for line in output.get("traceback", [])[:200]]
        for mime, value in list(output.get("data", {}).items()):
            text = "".join(value) if isinstance(value, list) else value
            if isinstance(text, str) and mime.startswith("text/") and len(text) > limit:
                output["data"][mime] = _cut(text, limit)
            elif isinstance(text, str) and len(text) > 20 * limit:  # an image of megabytes
                del output["data"][mime]
