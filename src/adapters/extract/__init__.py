"""Text extraction from uploaded files (PDF, DOCX, CSV, JSON, TXT, MD).

``FileTextExtractor`` serves the ``TextExtractor`` port; the parsers of complex
binary formats (PDF, DOCX, JSON) run in child processes with a time and memory limit
(``isolation``), the streaming ones (TXT, MD, CSV) in a thread of the worker.
"""
