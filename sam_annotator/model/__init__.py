"""Pure-Python annotation model: document, undo, prompts, geometry. No Qt here."""
