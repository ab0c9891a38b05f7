"""Public JSON shapes, one module per resource. Routes return these, never ORM rows."""
