"""The paper's products: figures, tables, provenance and the HTML report check."""
