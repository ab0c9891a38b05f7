"""Reading source files into text and passages: decoding, HTML and PDF text, chunking."""
