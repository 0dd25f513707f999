"""HTML parsing with selectolax (lexbor): page text and links."""
