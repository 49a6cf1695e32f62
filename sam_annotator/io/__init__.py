"""Reading and writing user data: images, COCO files, project autosave. No Qt here."""
