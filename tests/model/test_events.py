"""Signal: connect / disconnect / emit, weak bound methods, errors do not starve slots."""

from __future__ import annotations

import gc

import pytest

from sam_annotator.model.events import Signal


def test_emit_calls_slots_in_order_with_arguments():
    signal = Signal("s")
    calls = []
    signal.connect(lambda *a: calls.append(("first", a)))
    signal.connect(lambda *a: calls.append(("second", a)))
    signal.emit(1, "x")
    assert calls == [("first", (1, "x")), ("second", (1, "x"))]


def test_disconnect_and_double_connect():
    signal = Signal("s")
    calls = []

    def slot(value):
        calls.append(value)

    signal.connect(slot)
    signal.connect(slot)  # no duplicate
    signal.emit(1)
    signal.disconnect(slot)
    signal.emit(2)
    assert calls == [1]
    with pytest.raises(ValueError, match="not connected"):
        signal.disconnect(slot)


def test_bound_methods_are_held_weakly():
    class View:
        def __init__(self, log):
            self.log = log

        def on(self, value):
            self.log.append(value)

    log = []
    signal = Signal("s")
    view = View(log)
    signal.connect(view.on)
    signal.emit(1)
    del view
    gc.collect()
    signal.emit(2)
    assert log == [1]
    assert len(signal) == 0


def test_a_failing_slot_does_not_stop_the_others():
    signal = Signal("s")
    calls = []

    def bad():
        raise RuntimeError("boom")

    signal.connect(bad)
    signal.connect(lambda: calls.append("ran"))
    with pytest.raises(RuntimeError, match="boom"):
        signal.emit()
    assert calls == ["ran"]


def test_a_slot_may_disconnect_itself_during_emit():
    signal = Signal("s")
    calls = []

    def once():
        calls.append("once")
        signal.disconnect(once)

    signal.connect(once)
    signal.connect(lambda: calls.append("other"))
    signal.emit()
    signal.emit()
    assert calls == ["once", "other", "other"]
