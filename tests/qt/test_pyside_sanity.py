"""Guards against a PySide6 release that breaks the interpreter under a long session.

PySide6 6.12.0's SignalInstance.emit() returns True without a new reference, so every
emit from Python drops one reference to True; on Python 3.11 (True is not immortal) the
interpreter aborts with "bool_dealloc" once enough signals were emitted. We pin a release
without that bug; this test fails if an upgrade brings it back.
"""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal


class _Emitter(QObject):
    value = Signal(object)


def test_emit_does_not_leak_references_to_true(qtbot) -> None:
    emitter = _Emitter()
    received = []
    emitter.value.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(200):
        emitter.value.emit(i)
    after = sys.getrefcount(True)
    assert len(received) == 200
    assert after >= before - 5, f"True lost {before - after} references over 200 emits"
