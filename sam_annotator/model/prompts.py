"""The object being prompted right now: its prompts, SAM's candidates, the user's choice.

Pure logic, no Qt and no model calls. The GUI turns gestures into `add_point` /
`set_box` / `undo` / `clear`; each edit that needs new masks returns a `DecodeRequest`
that a worker answers with ``segmenter.decode(encoded, request.prompts,
with_single=request.with_single)`` (engines rank their candidates, best first, and ignore
a ``mask_input`` they cannot use); the answer comes back through `receive`, which
ignores answers to superseded requests (generation numbers).

Policy (issue: "multimask for a single click; for several prompts also offer the
single-mask output"):
- one click alone: SAM's three multimask candidates;
- anything else (several clicks, a box, box + clicks): the three multimask candidates
  and the single-mask output, all ranked together by predicted IoU;
- when refinement is on (default), each new request carries the low-res logits of the
  candidate the user chose last as `mask_input`; a new object starts without them.
- undo of a prompt restores the previous candidates at once (no new decode), because
  every prompt state keeps its own answer.
- refining an existing annotation (`refine`): its mask, as the engine's mask prompt,
  goes with every request until the user chooses a candidate (whose logits then take
  over); accepting replaces that annotation (`refining` says which).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sam_annotator.model.prompt_types import Candidate, PromptSet


@dataclass(frozen=True)
class DecodeRequest:
    """Ask the segmenter for candidates for `prompts` (mask_input included)."""

    generation: int
    prompts: PromptSet
    with_single: bool


@dataclass(frozen=True)
class _State:
    prompts: PromptSet
    candidates: tuple[Candidate, ...]  # may still be the previous state's, until answered
    chosen: int | None
    answered: bool  # whether `candidates` answer `prompts`


class PromptSession:
    """Prompts, candidates and choice for one object; see the module docstring."""

    def __init__(self, *, use_previous_mask: bool = True) -> None:
        self.use_previous_mask = use_previous_mask
        self._state = _State(PromptSet(), (), None, True)
        self._history: list[_State] = []
        self._generation = 0
        self.refining: int | None = None  # the annotation an accept will replace
        self._base_mask_input: np.ndarray | None = None  # 1xSxS: that annotation's mask

    # -- queries -----------------------------------------------------------------------
    @property
    def prompts(self) -> PromptSet:
        return self._state.prompts

    @property
    def candidates(self) -> tuple[Candidate, ...]:
        return self._state.candidates

    @property
    def chosen_index(self) -> int | None:
        return self._state.chosen

    @property
    def chosen(self) -> Candidate | None:
        state = self._state
        return None if state.chosen is None else state.candidates[state.chosen]

    @property
    def generation(self) -> int:
        return self._generation

    @property
    def is_active(self) -> bool:
        """True while there is at least one prompt (an object is being segmented)."""
        return not self._state.prompts.is_empty

    @property
    def is_waiting(self) -> bool:
        """True when the shown candidates do not answer the current prompts yet."""
        return self.is_active and not self._state.answered

    @property
    def has_choice(self) -> bool:
        """True when candidates are shown and one is chosen (keys 1-4/Tab apply)."""
        return self._state.chosen is not None

    @property
    def can_accept(self) -> bool:
        """True when the chosen candidate answers the current prompts."""
        return self._state.answered and self._state.chosen is not None

    # -- prompt edits --------------------------------------------------------------------
    def add_point(self, x: float, y: float, positive: bool) -> DecodeRequest:
        return self._edit(self._state.prompts.with_point(x, y, 1 if positive else 0))

    def set_box(self, box: tuple[float, float, float, float]) -> DecodeRequest:
        return self._edit(self._state.prompts.with_box(box))

    def undo(self) -> DecodeRequest | None:
        """Remove the last prompt, restoring that state's candidates.

        Returns a request when the restored state was never answered (the user clicked
        faster than the decoder), else None. Returns None and does nothing when there is
        no prompt to remove (check `is_active` first).
        """
        if not self._history:
            return None
        self._state = self._history.pop()
        self._generation += 1
        if self._state.prompts.is_empty or self._state.answered:
            return None
        return self._request()

    def clear(self) -> None:
        """Forget the object: prompts, candidates, the refinement logits and the
        annotation being refined."""
        self._state = _State(PromptSet(), (), None, True)
        self._history = []
        self._generation += 1
        self.refining = None
        self._base_mask_input = None

    def refine(self, annotation_id: int, mask_input: np.ndarray | None) -> None:
        """Start over on an existing annotation: ``mask_input`` (its mask as the engine's
        ``1xSxS`` mask prompt, or None for an engine without mask prompts) goes with the
        requests; accepting replaces annotation ``annotation_id``."""
        self.clear()
        self.refining = annotation_id
        self._base_mask_input = mask_input

    def request_again(self) -> DecodeRequest | None:
        """A request for the current prompts (e.g. when the embedding became ready)."""
        return self._request() if self.is_active else None

    # -- answers -------------------------------------------------------------------------
    def receive(self, generation: int, candidates: Sequence[Candidate]) -> bool:
        """Show the answer to request `generation`; stale answers are ignored (False)."""
        if generation != self._generation:
            return False
        candidates = tuple(candidates)
        self._state = _State(self._state.prompts, candidates, 0 if candidates else None, True)
        return True

    def choose(self, index: int) -> bool:
        """Choose candidate `index` (0 = best); False if there is no such candidate."""
        if not 0 <= index < len(self._state.candidates):
            return False
        state = self._state
        self._state = _State(state.prompts, state.candidates, index, state.answered)
        return True

    def cycle(self, step: int = 1) -> bool:
        count = len(self._state.candidates)
        if count == 0 or self._state.chosen is None:
            return False
        return self.choose((self._state.chosen + step) % count)

    # -- internals -----------------------------------------------------------------------
    def _edit(self, prompts: PromptSet) -> DecodeRequest:
        self._history.append(self._state)
        # Keep showing the previous answer until the new one arrives (no flicker).
        self._state = _State(prompts, self._state.candidates, self._state.chosen, False)
        self._generation += 1
        return self._request()

    def _request(self) -> DecodeRequest:
        prompts = self._state.prompts
        chosen = self.chosen
        mask_input = self._base_mask_input
        if self.use_previous_mask and chosen is not None and chosen.low_res_logits is not None:
            mask_input = chosen.low_res_logits[None]
        single_click = len(prompts.points) == 1 and prompts.box is None
        return DecodeRequest(
            generation=self._generation,
            prompts=prompts.with_mask_input(mask_input),
            with_single=not single_click,
        )
