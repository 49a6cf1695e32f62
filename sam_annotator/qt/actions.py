"""Every user action and its default shortcuts, in one table, and the remappable keymap.

The table is the single source of truth: the main window builds its menus and QActions
from it, Help -> Keyboard Shortcuts lists it, and the settings dialog remaps it. A key
sequence is bound to at most one action, whatever the context, so a key never means two
things: SAM's candidates are 1/2/3/4 and Tab, categories are Ctrl+1..Ctrl+9 (and C opens a
searchable category picker).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from PySide6.QtGui import QKeySequence


@dataclass(frozen=True)
class ActionSpec:
    """One user action: its id, menu text, menu and default key sequences."""

    id: str
    text: str
    menu: str
    shortcuts: tuple[str, ...] = ()
    tip: str = ""
    checkable: bool = False


def _categories() -> tuple[ActionSpec, ...]:
    return tuple(
        ActionSpec(
            f"label.category_{n}",
            f"Category {n}",
            "Label",
            (f"Ctrl+{n}",),
            f"Use the {n}th category for the next annotations (or the selected one)",
        )
        for n in range(1, 10)
    )


def _candidates() -> tuple[ActionSpec, ...]:
    return tuple(
        ActionSpec(
            f"segment.candidate_{n}",
            f"Candidate {n}",
            "Segment",
            (str(n),),
            f"Show SAM's candidate {n} (candidates are ordered best first)",
        )
        for n in range(1, 5)
    )


RENAMED_ACTIONS = {"file.import_coco": "file.import", "file.export_coco": "file.export"}
"""Action ids of earlier versions -> today's, so that saved shortcuts keep working."""

ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec("file.open_folder", "&Open Folder…", "File", ("Ctrl+O",), "Open a folder of images"),
    ActionSpec(
        "file.open_video",
        "Open &Video…",
        "File",
        ("Ctrl+Shift+O",),
        "Open a video file as a sequence of frames (extracted once into a folder beside it)",
    ),
    ActionSpec(
        "file.import", "&Import…", "File", ("Ctrl+I",), "COCO, YOLO-seg, VOC or labelme annotations"
    ),
    ActionSpec("file.save", "&Save", "File", ("Ctrl+S",), "Write the COCO file"),
    ActionSpec(
        "file.export", "&Export…", "File", ("Ctrl+E",), "COCO, YOLO-seg, VOC, labelme or mask PNGs"
    ),
    ActionSpec("file.choose_model", "Choose &Model…", "File", (), "SAM checkpoint or GrabCut"),
    ActionSpec("file.quit", "&Quit", "File", ("Ctrl+Q",), "Quit (asks about unsaved changes)"),
    ActionSpec("edit.undo", "&Undo", "Edit", ("Ctrl+Z",), "Remove the last prompt, else undo"),
    ActionSpec("edit.redo", "&Redo", "Edit", ("Ctrl+Shift+Z", "Ctrl+Y"), "Redo the last edit"),
    ActionSpec("edit.delete", "&Delete Annotation", "Edit", ("Delete",), "Delete the selection"),
    ActionSpec("edit.preferences", "&Preferences…", "Edit", ("Ctrl+,",), "Shortcuts and options"),
    ActionSpec(
        "segment.accept",
        "&Accept Mask",
        "Segment",
        ("Return", "Enter", "Space"),
        "Turn the chosen candidate into an annotation",
    ),
    ActionSpec("segment.clear", "&Clear Prompts", "Segment", ("Esc",), "Forget clicks and box"),
    ActionSpec(
        "tool.polygon",
        "Draw &Polygon",
        "Segment",
        ("P",),
        "Click vertices; Enter closes, Backspace removes the last vertex, Esc cancels",
    ),
    ActionSpec("tool.remove_vertex", "Remove Last &Vertex", "Segment", ("Backspace",)),
    ActionSpec(
        "tool.brush",
        "&Brush",
        "Segment",
        ("B",),
        "Paint pixels into the candidate, the selected annotation or a new mask; Enter keeps",
    ),
    ActionSpec(
        "tool.eraser",
        "&Eraser",
        "Segment",
        ("E",),
        "Paint pixels out of the candidate or the selected annotation; Enter keeps",
    ),
    ActionSpec("tool.brush_smaller", "Smaller Brush", "Segment", ("[",)),
    ActionSpec("tool.brush_larger", "Larger Brush", "Segment", ("]",)),
    ActionSpec(
        "segment.refine_selected",
        "&Refine Selected Annotation",
        "Segment",
        ("R",),
        "Prompt the model again on the selected annotation; Enter replaces it",
    ),
    *_candidates(),
    ActionSpec("segment.next_candidate", "&Next Candidate", "Segment", ("Tab",)),
    ActionSpec("segment.previous_candidate", "&Previous Candidate", "Segment", ("Shift+Tab",)),
    ActionSpec(
        "segment.use_previous_mask",
        "Refine with &Previous Mask",
        "Segment",
        ("M",),
        "Feed the chosen candidate's logits back to SAM on the next click",
        checkable=True,
    ),
    ActionSpec(
        "segment.no_overlap",
        "Do &Not Overlap",
        "Segment",
        ("O",),
        "Accepted masks lose the pixels of annotations already on the image",
        checkable=True,
    ),
    ActionSpec(
        "segment.everything",
        "Segment &Everything",
        "Segment",
        ("G",),
        "Propose every object of the image; review them with Enter / X / Tab",
    ),
    ActionSpec(
        "segment.reject_proposal",
        "&Reject",
        "Segment",
        ("X",),
        "Reject the proposal, or delete the annotation under review",
    ),
    ActionSpec(
        "segment.accept_all_proposals",
        "Accept All &Good Proposals",
        "Segment",
        ("Ctrl+Shift+Return",),
        "Accept every proposal at or above the IoU threshold",
    ),
    ActionSpec(
        "review.start",
        "Re&view Annotations",
        "Review",
        ("V",),
        "Step through the annotations not reviewed yet: Enter accepts, X rejects, Tab skips",
    ),
    ActionSpec("label.choose", "&Choose Category…", "Label", ("C",), "Pick a category by name"),
    ActionSpec("label.new_category", "&New Category…", "Label", ("Ctrl+N",)),
    *_categories(),
    ActionSpec("image.next", "&Next Image", "Image", ("D", "PgDown")),
    ActionSpec("image.previous", "&Previous Image", "Image", ("A", "PgUp")),
    ActionSpec(
        "image.done_next",
        "Mark &Done and Next",
        "Image",
        ("Ctrl+D",),
        "Mark this image done and jump to the next unfinished one",
    ),
    ActionSpec(
        "track.both",
        "Propagate &Both Ways",
        "Track",
        ("T",),
        "Track the selected object through the frames before and after this one",
    ),
    ActionSpec(
        "track.forward",
        "Propagate &Forward",
        "Track",
        (".",),
        "Track the selected object through the next frames",
    ),
    ActionSpec(
        "track.backward",
        "Propagate Back&ward",
        "Track",
        (",",),
        "Track the selected object through the previous frames",
    ),
    ActionSpec("view.fit", "&Fit to Window", "View", ("F",)),
    ActionSpec("view.zoom_in", "Zoom &In", "View", ("Ctrl+=", "Ctrl++")),
    ActionSpec("view.zoom_out", "Zoom &Out", "View", ("Ctrl+-",)),
    ActionSpec("view.actual_size", "&Actual Pixels", "View", ("Ctrl+0",)),
    ActionSpec(
        "view.toggle_annotations",
        "&Hide Annotations",
        "View",
        ("H",),
        "Hide or show the accepted annotations",
        checkable=True,
    ),
    ActionSpec("help.shortcuts", "&Keyboard Shortcuts", "Help", ("F1",)),
    ActionSpec("help.about", "&About sam-annotator", "Help"),
)

ACTIONS_BY_ID: dict[str, ActionSpec] = {spec.id: spec for spec in ACTIONS}
MENUS: tuple[str, ...] = tuple(dict.fromkeys(spec.menu for spec in ACTIONS))


class KeymapError(ValueError):
    """A key binding was refused: unknown action, invalid key sequence or a conflict."""


def normalize_sequence(text: str) -> str:
    """Canonical portable text of one key sequence ("ctrl+shift+z" -> "Ctrl+Shift+Z")."""
    if not isinstance(text, str) or not text.strip():
        raise KeymapError(f"{text!r} is not a key sequence")
    sequence = QKeySequence.fromString(text.strip(), QKeySequence.SequenceFormat.PortableText)
    portable = sequence.toString(QKeySequence.SequenceFormat.PortableText)
    if sequence.isEmpty() or sequence.count() != 1 or not portable:
        raise KeymapError(f"{text!r} is not a single key sequence")
    return portable


class Keymap:
    """Action id -> key sequences, starting from the table's defaults.

    Every key sequence is bound to at most one action; `set` refuses a binding that
    another action already holds and names that action.
    """

    def __init__(self, overrides: Mapping[str, Iterable[str]] | None = None) -> None:
        self._bindings: dict[str, tuple[str, ...]] = {
            spec.id: tuple(normalize_sequence(s) for s in spec.shortcuts) for spec in ACTIONS
        }
        self._check_no_conflicts(self._bindings)
        for action_id, sequences in (overrides or {}).items():
            self.set(action_id, sequences)

    def shortcuts(self, action_id: str) -> tuple[str, ...]:
        self._require_known(action_id)
        return self._bindings[action_id]

    def action_for(self, sequence: str) -> str | None:
        """The action bound to `sequence`, or None."""
        wanted = normalize_sequence(sequence)
        for action_id, sequences in self._bindings.items():
            if wanted in sequences:
                return action_id
        return None

    def set(self, action_id: str, sequences: Iterable[str]) -> None:
        """Bind `sequences` to `action_id` (an empty list unbinds it)."""
        self._require_known(action_id)
        normalized = tuple(dict.fromkeys(normalize_sequence(s) for s in sequences))
        for sequence in normalized:
            owner = self.action_for(sequence)
            if owner is not None and owner != action_id:
                raise KeymapError(
                    f"{sequence} is already bound to '{ACTIONS_BY_ID[owner].text.replace('&', '')}'"
                )
        proposed = dict(self._bindings)
        proposed[action_id] = normalized
        self._check_no_conflicts(proposed)
        self._bindings = proposed

    def reset(self, action_id: str | None = None) -> None:
        """Restore the default bindings of one action, or of all."""
        defaults = Keymap()
        if action_id is None:
            self._bindings = dict(defaults._bindings)
        else:
            self.set(action_id, defaults.shortcuts(action_id))

    def overrides(self) -> dict[str, list[str]]:
        """The bindings that differ from the defaults, for the settings file."""
        defaults = Keymap()
        return {
            action_id: list(sequences)
            for action_id, sequences in self._bindings.items()
            if sequences != defaults._bindings[action_id]
        }

    @classmethod
    def from_overrides(cls, data: object) -> Keymap:
        """Load saved overrides; raises KeymapError when the saved data are unusable."""
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, list) for k, v in data.items()
        ):
            raise KeymapError("saved shortcuts must map action ids to lists of key sequences")
        keymap = cls()
        # Apply all at once so that swapping two keys between actions is possible.
        proposed = dict(keymap._bindings)
        for action_id, sequences in data.items():
            action_id = RENAMED_ACTIONS.get(action_id, action_id)
            keymap._require_known(action_id)
            proposed[action_id] = tuple(dict.fromkeys(normalize_sequence(s) for s in sequences))
        keymap._check_no_conflicts(proposed)
        keymap._bindings = proposed
        return keymap

    @staticmethod
    def _require_known(action_id: str) -> None:
        if action_id not in ACTIONS_BY_ID:
            raise KeymapError(f"unknown action {action_id!r}")

    @staticmethod
    def _check_no_conflicts(bindings: Mapping[str, tuple[str, ...]]) -> None:
        owner: dict[str, str] = {}
        for action_id, sequences in bindings.items():
            for sequence in sequences:
                other = owner.setdefault(sequence, action_id)
                if other != action_id:
                    raise KeymapError(
                        f"{sequence} is already bound to "
                        f"'{ACTIONS_BY_ID[other].text.replace('&', '')}'"
                    )
