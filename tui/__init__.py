"""The terminal console (Textual): the fleet at a glance, one key per action, every engine call in a worker."""
