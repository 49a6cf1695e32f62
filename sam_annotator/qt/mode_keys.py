"""What the mode keys mean now: Enter, Esc, Tab / Shift+Tab, X, Ctrl+Z and the tool keys
are shared by the prompt session, the polygon tool, the brush, the review of proposals,
the review pass and propagation, and mean one thing in each; this is the one place that
decides which, from the state of each controller (the innermost activity wins: drawing,
then painting, then prompting, then the reviews)."""

from __future__ import annotations

from collections.abc import Callable

from sam_annotator.qt.labeling import LabelingController
from sam_annotator.qt.paint_tool import PaintTool
from sam_annotator.qt.polygon_tool import PolygonTool
from sam_annotator.qt.proposals import ProposalsController
from sam_annotator.qt.review import ReviewPass
from sam_annotator.qt.tracking import TrackingController


class ModeKeys:
    def __init__(
        self,
        labeling: LabelingController,
        polygon_tool: PolygonTool,
        paint_tool: PaintTool,
        proposals: ProposalsController,
        review: ReviewPass,
        tracking: TrackingController,
        show_message: Callable[[str], None],
    ) -> None:
        self.labeling = labeling
        self.polygon_tool = polygon_tool
        self.paint_tool = paint_tool
        self.proposals = proposals
        self.review = review
        self.tracking = tracking
        self.show_message = show_message

    def _reviewing(self) -> bool:
        """Proposals are under review and no object is being prompted."""
        return self.proposals.review is not None and not self.labeling.session.is_active

    def _reviewing_annotations(self) -> bool:
        """A review pass runs and no object is being prompted or painted."""
        return (
            self.review.active
            and not self.labeling.session.is_active
            and not self.paint_tool.active
        )

    def undo(self) -> None:
        """Ctrl+Z: the last polygon vertex or brush stroke while drawing or painting, else
        the labeling undo."""
        if self.polygon_tool.active:
            self.polygon_tool.remove_last()
        elif self.paint_tool.active:
            self.paint_tool.undo_stroke()
        else:
            self.labeling.undo()

    def toggle_polygon_tool(self) -> None:
        if not self.polygon_tool.active:
            self.paint_tool.finish()
            self.labeling.clear_prompts()  # one object at a time
        self.polygon_tool.toggle()

    def use_paint_tool(self, erase: bool) -> None:
        self.polygon_tool.cancel()  # one tool at a time
        self.paint_tool.use(erase)

    def accept(self) -> None:
        if self.polygon_tool.active:
            self.polygon_tool.finish()
        elif self.paint_tool.active:
            self.paint_tool.finish()
        elif self._reviewing():
            self._with_category(self.proposals.accept)
        elif self._reviewing_annotations():
            self.review.accept()
        else:
            self.labeling.accept()

    def reject(self) -> None:
        if self.proposals.active:
            self.proposals.reject()
        elif self._reviewing_annotations():
            self.review.reject()

    def next_candidate(self, step: int) -> None:
        if self._reviewing():
            self.proposals.step(step)
        elif self._reviewing_annotations():
            self.review.skip(step)
        else:
            self.labeling.cycle(step)

    def escape(self) -> None:
        if self.polygon_tool.active:
            self.polygon_tool.cancel()
        elif self.paint_tool.active:
            self.paint_tool.cancel()
        elif self.labeling.session.is_active:
            self.labeling.clear_prompts()
        elif self.tracking.running:
            self.tracking.cancel()
        elif self.proposals.active:
            self.proposals.cancel()
            self.proposals.end_review()
        elif self.review.active:
            self.review.stop()
        else:
            self.labeling.clear_prompts()

    def accept_all_proposals(self) -> None:
        self._with_category(self.proposals.accept_all)

    def _with_category(self, action) -> None:
        try:
            category_id = self.labeling.current_category()
        except ValueError as error:
            self.show_message(str(error))
            return
        action(category_id)
